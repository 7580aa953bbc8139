package agents_test

import (
	"context"
	"testing"
	"time"

	"github.com/deepagents-slack/slackbot/internal/agents"
	"github.com/deepagents-slack/slackbot/internal/agents/agentstest"
)

// TestCancelRun stops a slow run where the runtime exposes cancel, and
// learns that the documented Managed API does not.
func TestCancelRun(t *testing.T) {
	tests := []struct {
		surface   agentstest.Surface
		canCancel bool
	}{
		{agentstest.ManagedProxy, true},
		{agentstest.ManagedDocumented, false},
	}
	for _, tc := range tests {
		t.Run(tc.surface.String(), func(t *testing.T) {
			s := agentstest.NewServer(agentstest.WithSurface(tc.surface))
			defer s.Close()
			s.AddAgent("slow", func(agentstest.Turn) []agentstest.Step {
				return []agentstest.Step{agentstest.Text("Starting. "), agentstest.Pause(time.Minute), agentstest.Text("never said")}
			})
			c, err := agents.New(s.URL, "test-key")
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			run, err := c.CreateThreadRun(ctx, &agents.CreateRunRequest{
				AgentID: "slow",
				Input:   &agents.Input{Messages: []agents.Message{{Role: "user", Content: "go slowly"}}},
			})
			if err != nil {
				t.Fatal(err)
			}
			if c.Capabilities().CanCancel() {
				t.Fatal("CanCancel before anything was learned about a Managed API; want false")
			}
			probe, _ := agents.New(s.URL, "test-key")
			probe.ProbeCancel(ctx, run.ThreadID)
			if got := probe.Capabilities().CanCancel(); got != tc.canCancel {
				t.Errorf("CanCancel after a probe = %v, want %v", got, tc.canCancel)
			}
			err = c.CancelRun(ctx, run.ThreadID, run.RunID)
			if tc.canCancel != (err == nil) {
				t.Fatalf("CancelRun: %v; want success %v", err, tc.canCancel)
			}
			if got := c.Capabilities().CanCancel(); got != tc.canCancel {
				t.Errorf("CanCancel after a cancel = %v, want %v", got, tc.canCancel)
			}
			if !tc.canCancel {
				if agents.ErrorStatus(err) != 404 {
					t.Errorf("CancelRun on the documented API: %v; want its 404", err)
				}
				return
			}
			for {
				r, err := c.GetRun(ctx, run.ThreadID, run.RunID)
				if err != nil {
					t.Fatal(err)
				}
				if agents.RunFinished(r.Status) {
					if r.Status != agents.RunInterrupted {
						t.Errorf("cancelled run ended %q, want %q", r.Status, agents.RunInterrupted)
					}
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			// A run id the runtime does not know is not a missing route.
			if err := c.CancelRun(ctx, run.ThreadID, "00000000-0000-0000-0000-000000000000"); !agents.IsRunNotFound(err) {
				t.Errorf("CancelRun of an unknown run: %v; want run_not_found", err)
			}
			if !c.Capabilities().CanCancel() {
				t.Error("an unknown run made the client forget cancel works")
			}
		})
	}
}
