package agentstest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/deepagents-slack/slackbot/internal/agents"
)

func TestMemoryWriteInterrupt(t *testing.T) {
	tests := []struct {
		name                         string
		opts                         []AgentOption
		requests, configs, args      string
		actionName, allowedDecisions string
	}{
		{"python snake_case", nil, "action_requests", "review_configs", "args", "action_name", "allowed_decisions"},
		{"typescript camelCase", []AgentOption{CamelCaseInterrupts()}, "actionRequests", "reviewConfigs", "args", "actionName", "allowedDecisions"},
		{"legacy arguments", []AgentOption{LegacyArguments()}, "action_requests", "review_configs", "arguments", "action_name", "allowed_decisions"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := NewServer()
			defer s.Close()
			s.AddAgent("a1", Scripted(MemoryWrite("/memories/prefs.md", "likes tea"), Text("Saved.")), tc.opts...)
			run, ws := fullStream(t, s, runBody("a1", threadA, "remember I like tea"))

			var items []struct {
				Value map[string][]map[string]any
				ID    string
			}
			for _, e := range eventsNamed(ws, "updates") {
				var upd map[string]json.RawMessage
				e.decode(t, &upd)
				if raw, ok := upd["__interrupt__"]; ok {
					if err := json.Unmarshal(raw, &items); err != nil {
						t.Fatal(err)
					}
					break
				}
			}
			if len(items) != 1 {
				t.Fatal("no __interrupt__ update")
			}
			item := items[0]
			req := item.Value[tc.requests]
			cfg := item.Value[tc.configs]
			if item.ID == "" || len(req) != 1 || len(cfg) != 1 {
				t.Fatalf("interrupt %+v", item)
			}
			args, _ := req[0][tc.args].(map[string]any)
			if req[0]["name"] != "write_file" || args["file_path"] != "/memories/prefs.md" || args["content"] != "likes tea" {
				t.Fatalf("action request %v", req[0])
			}
			if cfg[0][tc.actionName] != "write_file" || string(mustJSON(t, cfg[0][tc.allowedDecisions])) != `["approve","reject"]` {
				t.Fatalf("review config %v", cfg[0])
			}

			values := eventsNamed(ws, "values")
			var last map[string]json.RawMessage
			values[len(values)-1].decode(t, &last)
			if _, ok := last["__interrupt__"]; !ok {
				t.Fatalf("final values lack __interrupt__: %s", values[len(values)-1].Data)
			}
			if ws.Events[len(ws.Events)-1].Name != "end" {
				t.Fatal("interrupted stream does not end")
			}
			th, _ := s.Thread(threadA)
			if th.Status != agents.ThreadInterrupted || len(th.Interrupted) != 1 || len(th.Memories) != 0 {
				t.Fatalf("thread %+v", th)
			}
			if s.Runs()[0].Status != agents.RunInterrupted {
				t.Fatalf("run %+v", s.Runs()[0])
			}
			state := do(t, http.MethodGet, s.URL+"/threads/"+threadA+"/state", "test-key", nil).json(t)
			if len(state["interrupts"].([]any)) != 1 {
				t.Fatalf("state %v", state)
			}
			if th := do(t, http.MethodGet, s.URL+"/threads/"+threadA, "test-key", nil).json(t); th["status"] != "interrupted" {
				t.Fatalf("thread %v", th)
			}
			_ = run
		})
	}
}

func TestHeadlessMemoryWrite(t *testing.T) {
	s := NewServer()
	defer s.Close()
	s.AddAgent("a1", Scripted(MemoryWrite("/memories/x.md", "x"), Text("Saved.")))
	body := runBody("a1", threadA, "hi")
	body["thread"] = map[string]any{"thread_id": threadA, "options": map[string]any{"skip_memory_write_protection": true}}
	_, ws := fullStream(t, s, body)
	for _, e := range eventsNamed(ws, "updates") {
		var u map[string]any
		e.decode(t, &u)
		if _, ok := u["__interrupt__"]; ok {
			t.Fatal("headless thread interrupted")
		}
	}
	th, _ := s.Thread(threadA)
	if th.Status != agents.ThreadIdle || th.Memories["/memories/x.md"] != "x" {
		t.Fatalf("thread %+v", th)
	}
}

func TestResume(t *testing.T) {
	approve := map[string]any{"type": "approve"}
	reject := map[string]any{"type": "reject", "message": "not now"}
	tests := []struct {
		name      string
		decisions []map[string]any
		status    int
		code      string
		memory    bool   // the write happened
		answer    string // last AI text
	}{
		{"approve continues the script", []map[string]any{approve}, 200, "", true, "Saved."},
		{"reject is seen by the script", []map[string]any{reject}, 200, "", false, "Understood, I did not do that."},
		{"no decisions", []map[string]any{}, 422, CodeInvalidResume, false, ""},
		{"two decisions for one request", []map[string]any{approve, approve}, 422, CodeInvalidResume, false, ""},
		{"decision not allowed", []map[string]any{{"type": "edit", "edited_action": map[string]any{"name": "write_file", "args": map[string]any{}}}}, 422, CodeInvalidResume, false, ""},
		{"unknown decision", []map[string]any{{"type": "maybe"}}, 422, CodeInvalidResume, false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := NewServer()
			defer s.Close()
			s.AddAgent("a1", Scripted(MemoryWrite("/memories/p.md", "tea"), Text("Saved.")))
			// Resuming a thread that is not interrupted conflicts.
			if r := do(t, http.MethodPost, s.URL+"/threads/runs", "test-key", resumeBody("a1", threadA, approve)); r.Status != 409 ||
				r.json(t)["code"] != CodeThreadNotInterrupted {
				t.Fatalf("resume before interrupt: %d %s", r.Status, r.Body)
			}
			startRun(t, s, runBody("a1", threadA, "remember tea"))
			waitIdle(t, s)

			resp := do(t, http.MethodPost, s.URL+"/threads/runs", "test-key", resumeBody("a1", threadA, tc.decisions...))
			if resp.Status != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.Status, tc.status, resp.Body)
			}
			waitIdle(t, s)
			th, _ := s.Thread(threadA)
			if tc.status != 200 {
				if resp.json(t)["code"] != tc.code || th.Status != agents.ThreadInterrupted {
					t.Fatalf("body %s, thread %q", resp.Body, th.Status)
				}
				return
			}
			if th.Status != agents.ThreadIdle || (th.Memories["/memories/p.md"] == "tea") != tc.memory {
				t.Fatalf("thread %+v", th)
			}
			if got := th.Messages[len(th.Messages)-1]; got.Role != agents.RoleAssistant || got.Content != tc.answer {
				t.Fatalf("last message %+v", got)
			}
			// A second decision on the same interrupt (double click) conflicts.
			if r := do(t, http.MethodPost, s.URL+"/threads/runs", "test-key", resumeBody("a1", threadA, approve)); r.Status != 409 {
				t.Fatalf("second resume: %d", r.Status)
			}
		})
	}
}

func TestResumeTurnSeesDecision(t *testing.T) {
	s := NewServer()
	defer s.Close()
	var mu sync.Mutex
	var got Turn
	s.AddAgent("a1", func(t Turn) []Step {
		if t.Resume == nil {
			return []Step{Approval("send_email", map[string]any{"to": "x"}, "approve", "reject", "respond")}
		}
		mu.Lock()
		got = t
		mu.Unlock()
		return []Step{Text("ok")}
	}, CamelCaseInterrupts())
	startRun(t, s, runBody("a1", threadA, "mail x"))
	waitIdle(t, s)
	startRun(t, s, resumeBody("a1", threadA, map[string]any{"type": "respond", "message": "sent it myself"}))
	waitIdle(t, s)
	mu.Lock()
	defer mu.Unlock()
	if got.Index != 1 || got.Resume == nil || got.Resume.Decisions[0].Type != "respond" ||
		len(got.Actions) != 1 || got.Actions[0].Name != "send_email" {
		t.Fatalf("turn %+v", got)
	}
}

func TestNewInputCancelsInterrupt(t *testing.T) {
	s := NewServer()
	defer s.Close()
	s.AddAgent("a1", Scripted(MemoryWrite("/memories/p.md", "tea")))
	startRun(t, s, runBody("a1", threadA, "remember"))
	waitIdle(t, s)
	s.AddAgent("a1", Echo())
	startRun(t, s, runBody("a1", threadA, "never mind"))
	waitIdle(t, s)
	th, _ := s.Thread(threadA)
	if th.Status != agents.ThreadIdle || th.Interrupted != nil || th.Messages[len(th.Messages)-1].Content != "You said: never mind" {
		t.Fatalf("thread %+v", th)
	}
}

func TestWebhook(t *testing.T) {
	var mu sync.Mutex
	var bodies []map[string]any
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]any
		_ = json.NewDecoder(r.Body).Decode(&m)
		mu.Lock()
		bodies = append(bodies, m)
		mu.Unlock()
	}))
	defer hook.Close()

	for _, on := range []bool{true, false} {
		s := NewServer(WithWebhooks(on))
		s.AddAgent("ok", Echo())
		s.AddAgent("hitl", Scripted(MemoryWrite("/memories/a", "b")))
		s.AddAgent("bad", Scripted(Fail("nope")))
		for _, agent := range []string{"ok", "hitl", "bad"} {
			b := runBody(agent, "", "hi")
			b["webhook"] = hook.URL + "/agents/webhook/tok"
			startRun(t, s, b)
		}
		waitIdle(t, s)
		s.Close()
	}
	mu.Lock()
	defer mu.Unlock()
	if len(bodies) != 3 {
		t.Fatalf("%d webhooks, want 3 (none when disabled)", len(bodies))
	}
	statuses := map[string]bool{}
	for _, b := range bodies {
		statuses[b["status"].(string)] = true
		values, _ := b["values"].(map[string]any)
		if b["run_id"] == "" || b["thread_id"] == "" || values["messages"] == nil {
			t.Fatalf("webhook body %v", b)
		}
	}
	for _, st := range []string{agents.RunSuccess, agents.RunInterrupted, agents.RunError} {
		if !statuses[st] {
			t.Fatalf("no webhook with status %s: %v", st, statuses)
		}
	}
}

func TestCloseLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	s := NewServer()
	s.AddAgent("a1", Scripted(Text("a"), Pause(1<<40)))
	run := startRun(t, s, runBody("a1", "", "hi"))
	url := s.URL + "/threads/" + run["thread_id"].(string) + "/runs/" + run["run_id"].(string) + "/stream"
	go func() {
		// A stream still open when the server closes must end.
		_ = rawStream(url, "")
	}()
	s.Close()
	http.DefaultClient.CloseIdleConnections()
	// Goroutines of closed connections exit asynchronously; poll briefly.
	for i := 0; i < 200 && runtime.NumGoroutine() > before; i++ {
		time.Sleep(10 * time.Millisecond)
		http.DefaultClient.CloseIdleConnections()
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<16)
		t.Fatalf("%d goroutines after Close, %d before\n%s", n, before, buf[:runtime.Stack(buf, true)])
	}
}
