package agentstest

import (
	"encoding/json"
	"net/http"
	"reflect"
	"testing"

	"github.com/deepagents-slack/slackbot/internal/agents"
)

// threeCalls is one model turn with three reviewed calls, each with its own
// allowed decisions, followed by a closing answer.
func threeCalls() Script {
	return Scripted(
		Approvals(
			MemoryWrite("/memories/prefs.md", "likes tea"),
			Approval("send_email", map[string]any{"to": "ops@example.com"}, "approve", "edit", "reject", "respond"),
			Approval("deploy", map[string]any{"env": "prod"}),
		),
		Text("All done."),
	)
}

// TestApprovalsRaiseOneInterrupt: several calls become ONE interrupt with
// one action request and one review config per call, in call order, in
// every casing, and the calls are one AI message.
func TestApprovalsRaiseOneInterrupt(t *testing.T) {
	tests := []struct {
		name                    string
		opts                    []AgentOption
		requests, configs, args string
		actionName, allowed     string
	}{
		{"python snake_case", nil, "action_requests", "review_configs", "args", "action_name", "allowed_decisions"},
		{"typescript camelCase", []AgentOption{CamelCaseInterrupts()}, "actionRequests", "reviewConfigs", "args", "actionName", "allowedDecisions"},
		{"legacy arguments", []AgentOption{LegacyArguments()}, "action_requests", "review_configs", "arguments", "action_name", "allowed_decisions"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := NewServer()
			defer s.Close()
			s.AddAgent("a1", threeCalls(), tc.opts...)
			_, ws := fullStream(t, s, runBody("a1", threadA, "do three things"))

			var interrupts [][]struct {
				Value map[string][]map[string]any
				ID    string
			}
			for _, e := range eventsNamed(ws, "updates") {
				var upd map[string]json.RawMessage
				e.decode(t, &upd)
				if raw, ok := upd["__interrupt__"]; ok {
					var items []struct {
						Value map[string][]map[string]any
						ID    string
					}
					if err := json.Unmarshal(raw, &items); err != nil {
						t.Fatal(err)
					}
					interrupts = append(interrupts, items)
				}
			}
			if len(interrupts) != 1 || len(interrupts[0]) != 1 {
				t.Fatalf("want one __interrupt__ update with one item, got %d updates", len(interrupts))
			}
			item := interrupts[0][0]
			reqs, cfgs := item.Value[tc.requests], item.Value[tc.configs]
			if item.ID == "" || len(reqs) != 3 || len(cfgs) != 3 {
				t.Fatalf("interrupt %+v", item)
			}
			wantNames := []string{"write_file", "send_email", "deploy"}
			wantAllowed := []string{`["approve","reject"]`, `["approve","edit","reject","respond"]`, `["approve","reject"]`}
			for i := range reqs {
				if reqs[i]["name"] != wantNames[i] || reqs[i][tc.args] == nil {
					t.Errorf("request %d = %v", i, reqs[i])
				}
				if cfgs[i][tc.actionName] != wantNames[i] || string(mustJSON(t, cfgs[i][tc.allowed])) != wantAllowed[i] {
					t.Errorf("review config %d = %v", i, cfgs[i])
				}
			}
			if args := reqs[0][tc.args].(map[string]any); args["file_path"] != "/memories/prefs.md" {
				t.Errorf("memory write args %v", args)
			}

			// The three calls are one AI message (parallel tool calls).
			var calls int
			for _, e := range eventsNamed(ws, "updates") {
				var upd struct {
					Model struct {
						Messages []struct {
							ToolCalls []map[string]any `json:"tool_calls"`
						}
					}
				}
				e.decode(t, &upd)
				for _, m := range upd.Model.Messages {
					if len(m.ToolCalls) > 0 {
						calls++
						if len(m.ToolCalls) != 3 {
							t.Errorf("AI message with %d tool calls, want 3", len(m.ToolCalls))
						}
					}
				}
			}
			if calls != 1 {
				t.Errorf("%d AI messages with tool calls, want 1", calls)
			}
			th, _ := s.Thread(threadA)
			if th.Status != agents.ThreadInterrupted || len(th.Interrupted) != 3 || len(th.Memories) != 0 {
				t.Fatalf("thread %+v", th)
			}
			state := do(t, http.MethodGet, s.URL+"/threads/"+threadA+"/state", "test-key", nil).json(t)
			if n := len(state["interrupts"].([]any)); n != 1 {
				t.Fatalf("state holds %d interrupts, want 1", n)
			}
		})
	}
}

// TestApprovalsResume: a resume must decide every request, in order, each
// with a decision its own review config allows; the decisions apply to the
// calls in that order.
func TestApprovalsResume(t *testing.T) {
	approve := map[string]any{"type": "approve"}
	reject := map[string]any{"type": "reject", "message": "not today"}
	edit := map[string]any{"type": "edit", "edited_action": map[string]any{"name": "send_email", "args": map[string]any{"to": "lead@example.com"}}}
	tests := []struct {
		name      string
		decisions []map[string]any
		status    int
		memories  map[string]string
		executed  []Action
		answer    string
	}{
		{"approve all continues the script", []map[string]any{approve, approve, approve}, 200,
			map[string]string{"/memories/prefs.md": "likes tea"},
			[]Action{
				{"write_file", map[string]any{"file_path": "/memories/prefs.md", "content": "likes tea"}},
				{"send_email", map[string]any{"to": "ops@example.com"}},
				{"deploy", map[string]any{"env": "prod"}},
			}, "All done."},
		{"each request its own decision", []map[string]any{approve, edit, reject}, 200,
			map[string]string{"/memories/prefs.md": "likes tea"},
			[]Action{
				{"write_file", map[string]any{"file_path": "/memories/prefs.md", "content": "likes tea"}},
				{"send_email", map[string]any{"to": "lead@example.com"}},
			}, "Understood, I did not do that."},
		{"reject the memory write only", []map[string]any{reject, approve, approve}, 200,
			map[string]string{},
			[]Action{{"send_email", map[string]any{"to": "ops@example.com"}}, {"deploy", map[string]any{"env": "prod"}}},
			"Understood, I did not do that."},
		{"too few decisions", []map[string]any{approve, approve}, 422, nil, nil, ""},
		{"too many decisions", []map[string]any{approve, approve, approve, approve}, 422, nil, nil, ""},
		{"decisions out of order", []map[string]any{approve, reject, edit}, 422, nil, nil, ""},
		{"edit not allowed for the memory write", []map[string]any{
			{"type": "edit", "edited_action": map[string]any{"name": "write_file", "args": map[string]any{}}}, approve, approve}, 422, nil, nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := NewServer()
			defer s.Close()
			s.AddAgent("a1", threeCalls(), CamelCaseInterrupts())
			startRun(t, s, runBody("a1", threadA, "do three things"))
			waitIdle(t, s)

			resp := do(t, http.MethodPost, s.URL+"/threads/runs", "test-key", resumeBody("a1", threadA, tc.decisions...))
			if resp.Status != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.Status, tc.status, resp.Body)
			}
			waitIdle(t, s)
			th, _ := s.Thread(threadA)
			if tc.status != 200 {
				if resp.json(t)["code"] != CodeInvalidResume || th.Status != agents.ThreadInterrupted || len(th.Interrupted) != 3 {
					t.Fatalf("body %s, thread %+v", resp.Body, th)
				}
				return
			}
			if th.Status != agents.ThreadIdle || !reflect.DeepEqual(th.Memories, tc.memories) {
				t.Errorf("thread status %q, memories %v, want %v", th.Status, th.Memories, tc.memories)
			}
			if !reflect.DeepEqual(th.Executed, tc.executed) {
				t.Errorf("executed %+v, want %+v", th.Executed, tc.executed)
			}
			if got := th.Messages[len(th.Messages)-1]; got.Content != tc.answer {
				t.Errorf("last message %+v, want %q", got, tc.answer)
			}
			// Every call got its tool message, in call order.
			var tools []string
			for _, m := range th.Messages {
				if m.Role == agents.RoleTool {
					tools = append(tools, m.Content)
				}
			}
			if len(tools) != 3 {
				t.Errorf("tool messages %q, want 3", tools)
			}
			runs := s.Runs()
			if len(runs) != 2 || runs[1].Resume == nil || len(runs[1].Resume.Decisions) != len(tc.decisions) {
				t.Fatalf("runs %+v", runs)
			}
		})
	}
}

func TestApprovalsOnHeadlessThread(t *testing.T) {
	tests := []struct {
		name        string
		calls       []Step
		interrupted []string // names of the requests raised
		memories    int
	}{
		{"memory writes only: no interrupt", []Step{MemoryWrite("/memories/a.md", "A"), MemoryWrite("/memories/b.md", "B")}, nil, 2},
		{"other tools are still raised", []Step{MemoryWrite("/memories/a.md", "A"), Approval("deploy", nil)}, []string{"deploy"}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := NewServer()
			defer s.Close()
			s.AddAgent("a1", Scripted(Approvals(tc.calls...), Text("Saved.")))
			body := runBody("a1", threadA, "hi")
			body["thread"] = map[string]any{"thread_id": threadA, "options": map[string]any{"skip_memory_write_protection": true}}
			startRun(t, s, body)
			waitIdle(t, s)
			th, _ := s.Thread(threadA)
			var names []string
			for _, a := range th.Interrupted {
				names = append(names, a.Name)
			}
			if !reflect.DeepEqual(names, tc.interrupted) || len(th.Memories) != tc.memories {
				t.Fatalf("interrupted %v, memories %v", names, th.Memories)
			}
			if tc.interrupted == nil && th.Messages[len(th.Messages)-1].Content != "Saved." {
				t.Fatalf("run did not finish: %+v", th.Messages)
			}
		})
	}
}

func TestApprovalsRejectsOtherSteps(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("Approvals accepted a Text step")
		}
	}()
	Approvals(MemoryWrite("/memories/a", "a"), Text("hi"))
}
