package bottest

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/deepagents-slack/slackbot/internal/agents/agentstest"
	"github.com/deepagents-slack/slackbot/internal/slackpost/slackfake"
)

// recorder is a stand-in bot: it verifies every request with slack-go's
// verifier (what Slack's signature must pass) and records what arrived.
type recorder struct {
	mu       sync.Mutex
	paths    []string
	bodies   []string
	starts   int
	stops    int
	stopWith error
}

func (r *recorder) bot(ctx context.Context, w *World) (string, func() error, error) {
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		v, err := slack.NewSecretsVerifier(req.Header, Secret)
		if err == nil {
			_, _ = v.Write(body)
			err = v.Ensure()
		}
		if err != nil {
			http.Error(rw, err.Error(), http.StatusUnauthorized)
			return
		}
		r.mu.Lock()
		r.paths = append(r.paths, req.URL.Path)
		r.bodies = append(r.bodies, string(body))
		r.mu.Unlock()
	}))
	r.mu.Lock()
	r.starts++
	r.mu.Unlock()
	return srv.URL, func() error {
		srv.Close()
		r.mu.Lock()
		defer r.mu.Unlock()
		r.stops++
		return r.stopWith
	}, nil
}

func TestSlackRequestsAreSignedAndShaped(t *testing.T) {
	r := &recorder{}
	w, err := Start(t.Context(), r.bot)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close() })

	msg := w.Mention("UANNA", "CGENERAL", "hello", "")
	tests := []struct {
		name string
		send func() (int, error)
		path string
		want func(body string) error
	}{
		{"slash", func() (int, error) { c, _, err := w.Slash("UANNA", "CGENERAL", "hi"); return c, err }, "/slack/commands",
			func(body string) error {
				f, err := url.ParseQuery(body)
				if err != nil || f.Get("command") != SlashCommand || f.Get("text") != "hi" || f.Get("team_id") != Team || f.Get("response_url") == "" {
					return errors.New("not a slash command form")
				}
				return nil
			}},
		{"event", func() (int, error) { return w.Event("Ev1", AsMention(msg), 2) }, "/slack/events",
			func(body string) error {
				var env struct {
					EventID string         `json:"event_id"`
					Event   map[string]any `json:"event"`
				}
				if err := json.Unmarshal([]byte(body), &env); err != nil || env.EventID != "Ev1" || env.Event["type"] != "app_mention" || env.Event["ts"] != msg["ts"] {
					return errors.New("not the app_mention envelope")
				}
				return nil
			}},
		{"click", func() (int, error) { return w.Click("UANNA", "CGENERAL", "1.2", "1.1", "run_stop", "job") }, "/slack/interactions",
			func(body string) error {
				f, _ := url.ParseQuery(body)
				var p struct {
					Type    string `json:"type"`
					Actions []struct {
						ActionID string `json:"action_id"`
						Value    string `json:"value"`
					} `json:"actions"`
				}
				if err := json.Unmarshal([]byte(f.Get("payload")), &p); err != nil || p.Type != "block_actions" || len(p.Actions) != 1 || p.Actions[0].ActionID != "run_stop" || p.Actions[0].Value != "job" {
					return errors.New("not the block_actions payload")
				}
				return nil
			}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, err := tc.send()
			if err != nil || code != http.StatusOK {
				t.Fatalf("%d %v: the signature did not verify", code, err)
			}
			r.mu.Lock()
			path, body := r.paths[i], r.bodies[i]
			r.mu.Unlock()
			if path != tc.path {
				t.Errorf("path %s, want %s", path, tc.path)
			}
			if err := tc.want(body); err != nil {
				t.Errorf("%v: %s", err, body)
			}
		})
	}
}

func TestBotRestartsInTheSameWorld(t *testing.T) {
	r := &recorder{stopWith: errors.New("stopped badly")}
	rt := agentstest.NewServer()
	t.Cleanup(rt.Close)
	w, err := Start(t.Context(), r.bot, WithRuntime(rt), WithWebhooks())
	if err != nil {
		t.Fatal(err)
	}
	first := w.URL
	if err := w.StartBot(t.Context(), r.bot); err == nil {
		t.Error("a second bot started while one runs")
	}
	if err := w.StopBot(); err == nil || err.Error() != "stopped badly" {
		t.Errorf("StopBot = %v, want the bot's own error", err)
	}
	r.stopWith = nil
	if err := w.StartBot(t.Context(), r.bot); err != nil {
		t.Fatal(err)
	}
	if w.URL == first || w.URL == "" {
		t.Errorf("URL after the restart %q (was %q)", w.URL, first)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if r.starts != 2 || r.stops != 2 {
		t.Errorf("%d starts, %d stops; want 2 each", r.starts, r.stops)
	}
	// The runtime given with WithRuntime is the caller's: still up.
	if resp, err := http.Get(rt.URL + "/threads/none"); err != nil {
		t.Errorf("the caller's runtime was closed: %v", err)
	} else {
		resp.Body.Close()
	}
}

func TestRuntimeURLGoesThroughTheProxy(t *testing.T) {
	w, err := Start(t.Context(), nil, WithRuntimeProxy(0, nil))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close() })
	if w.RuntimeURL() != w.Proxy.URL()+agentstest.BasePath {
		t.Fatalf("RuntimeURL %s does not go through the proxy %s", w.RuntimeURL(), w.Proxy.URL())
	}
	resp, err := http.Get(w.RuntimeURL() + "/threads/none")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := w.Proxy.Requests(); len(got) != 1 || got[0].Path != agentstest.BasePath+"/threads/none" || got[0].Status != resp.StatusCode {
		t.Errorf("proxy recorded %+v", got)
	}
}

func TestWaitEndsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if err := Wait(ctx, func() bool { return false }); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait = %v, want the deadline", err)
	}
	n := 0
	if err := Wait(context.Background(), func() bool { n++; return n == 3 }); err != nil || n != 3 {
		t.Errorf("Wait = %v after %d checks, want nil after 3", err, n)
	}
}

func TestReadersOfASettledThread(t *testing.T) {
	f := slackfake.New()
	t.Cleanup(f.Close)
	w := &World{Slack: f}
	root := w.UserSays("UANNA", "CGENERAL", "channel", "question", "")["ts"].(string)
	if ThreadSettled(f, "CGENERAL", root) {
		t.Error("a thread without a bot reply is settled")
	}
	if LastRoot(f, "CGENERAL") != root {
		t.Errorf("LastRoot = %s, want %s", LastRoot(f, "CGENERAL"), root)
	}
}
