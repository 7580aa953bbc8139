package agents_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/deepagents-slack/slackbot/internal/agents"
	"github.com/deepagents-slack/slackbot/internal/agents/agentstest"
)

// TestH2CStreamsShareOneConnection: with WithH2C against a runtime that
// speaks cleartext HTTP/2, many run streams open at once ride on one
// connection; without it each takes a connection of its own.
func TestH2CStreamsShareOneConnection(t *testing.T) {
	const streams = 20
	tests := []struct {
		name      string
		h2c       bool
		wantConns func(int) bool
	}{
		{"h2c", true, func(n int) bool { return n == 1 }},
		// Streams hold their connections; the thread creations may reuse
		// idle ones or dial more.
		{"http1", false, func(n int) bool { return n >= streams }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			release := make(chan struct{})
			srv := agentstest.NewServer(agentstest.WithSurface(agentstest.AgentServer), agentstest.WithAPIKey(""), agentstest.WithH2C())
			defer srv.Close()
			defer close(release) // before Close: runs must end for it to return
			srv.AddAgent("agent", func(agentstest.Turn) []agentstest.Step {
				<-release
				return []agentstest.Step{agentstest.Text("done")}
			})
			opts := []agents.Option{agents.WithDialect(agents.AgentServer)}
			if tc.h2c {
				opts = append(opts, agents.WithH2C())
			}
			c, err := agents.New(srv.URL, "", opts...)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			// One call first: requests made while no connection is up yet
			// each dial one.
			if _, err := c.CreateThread(ctx, &agents.CreateThreadRequest{ThreadID: "00000000-0000-4000-8000-999999999999", IfExists: agents.IfExistsDoNothing}); err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			errs := make(chan error, streams)
			for i := range streams {
				wg.Go(func() {
					id := fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
					if _, err := c.CreateThread(ctx, &agents.CreateThreadRequest{ThreadID: id, IfExists: agents.IfExistsDoNothing}); err != nil {
						errs <- err
						return
					}
					s, err := c.StreamRun(ctx, id, &agents.RunRequest{Agent: "agent",
						Input: &agents.Input{Messages: []agents.Message{{Role: agents.RoleUser, Content: "hi"}}}})
					if err != nil {
						errs <- err
						return
					}
					go func() { <-ctx.Done(); s.Close() }()
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			if n := srv.OpenStreams(); n != streams {
				t.Fatalf("%d streams open; want %d", n, streams)
			}
			if n := srv.Connections(); !tc.wantConns(n) {
				t.Errorf("%d streams used %d connections", streams, n)
			}
		})
	}
}

// TestH2CNeedsHTTP: h2c is cleartext; an https runtime negotiates HTTP/2
// through TLS, so asking for h2c there is a configuration mistake.
func TestH2CNeedsHTTP(t *testing.T) {
	if _, err := agents.New("https://api.example.com/v1/deepagents", "key", agents.WithH2C()); err == nil {
		t.Error("WithH2C accepted an https base URL")
	}
}
