package agentstest

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/deepagents-slack/slackbot/internal/agents"
)

func TestAuth(t *testing.T) {
	s := NewServer(WithAPIKey("secret"))
	defer s.Close()
	s.AddAgent("a1", Echo())
	tests := []struct {
		name, key string
		status    int
		body      string
	}{
		{"missing key", "", http.StatusUnauthorized, "Unauthorized"},
		{"wrong key", "nope", http.StatusForbidden, "Forbidden"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := do(t, http.MethodPost, s.URL+"/threads/runs", tc.key, runBody("a1", "", "hi"))
			if resp.Status != tc.status {
				t.Fatalf("status %d, want %d", resp.Status, tc.status)
			}
			got := resp.json(t)
			if len(got) != 1 || got["error"] != tc.body {
				t.Fatalf("body %s", resp.Body)
			}
		})
	}
	if n := len(s.RunRequests()); n != 2 {
		t.Fatalf("recorded %d requests, want 2", n)
	}
	if s.RunsStarted() != 0 {
		t.Fatal("a rejected request started a run")
	}
	if resp := do(t, http.MethodPost, s.URL+"/threads/runs", "secret", runBody("a1", "", "hi")); resp.Status != http.StatusOK {
		t.Fatalf("right key: %d %s", resp.Status, resp.Body)
	}
}

func TestCreateRunValidation(t *testing.T) {
	s := NewServer()
	defer s.Close()
	s.AddAgent("a1", Echo())
	msgs := map[string]any{"messages": []any{map[string]any{"role": "user", "content": "hi"}}}
	with := func(kv ...any) map[string]any {
		b := map[string]any{"agent_id": "a1", "input": msgs}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(b, kv[i].(string))
				continue
			}
			b[kv[i].(string)] = kv[i+1]
		}
		return b
	}
	tests := []struct {
		name   string
		body   any
		status int
		code   string
	}{
		{"malformed json", `{"agent_id":`, 400, CodeInvalidRequestBody},
		{"not an object", `[1,2]`, 400, CodeInvalidRequestBody},
		{"missing agent_id", with("agent_id", nil), 400, CodeMissingRequiredField},
		{"empty agent_id", with("agent_id", ""), 400, CodeMissingRequiredField},
		{"agent_id not a string", with("agent_id", 7), 400, CodeInvalidField},
		{"assistant_id", with("assistant_id", "a1"), 400, CodeInvalidField},
		{"thread not object", with("thread", "x"), 400, CodeInvalidField},
		{"thread_id not uuid", with("thread", map[string]any{"thread_id": "slack-123"}), 400, CodeInvalidField},
		{"if_exists bad", with("thread", map[string]any{"thread_id": threadA, "if_exists": "update"}), 400, CodeInvalidField},
		{"options not bool", with("thread", map[string]any{"options": map[string]any{"test_run": "yes"}}), 400, CodeInvalidField},
		{"thread metadata not object", with("thread", map[string]any{"metadata": []int{1}}), 400, CodeInvalidField},
		{"unknown agent", with("agent_id", "nobody"), 404, CodeAgentNotFound},
		{"no input", with("input", nil), 422, CodeValidation},
		{"empty messages", with("input", map[string]any{"messages": []any{}}), 422, CodeValidation},
		{"bad role", with("input", map[string]any{"messages": []any{map[string]any{"role": "human", "content": "x"}}}), 422, CodeValidation},
		{"content not string", with("input", map[string]any{"messages": []any{map[string]any{"role": "user", "content": []any{}}}}), 422, CodeValidation},
		{"content openai image_url", with("input", map[string]any{"messages": []any{map[string]any{"role": "user", "content": []any{
			map[string]any{"type": "image_url", "image_url": map[string]any{"url": "data:image/png;base64,AQI="}},
		}}}}), 422, CodeValidation},
		{"content image not base64", with("input", map[string]any{"messages": []any{map[string]any{"role": "user", "content": []any{
			map[string]any{"type": "image", "source_type": "base64", "data": "%%%", "mime_type": "image/png"},
		}}}}), 422, CodeValidation},
		{"metadata not object", with("metadata", "x"), 422, CodeValidation},
		{"multitask bad", with("multitask_strategy", "queue"), 422, CodeValidation},
		{"stream_mode bad", with("stream_mode", []string{"values", "tokens"}), 422, CodeValidation},
		{"stream_subgraphs not bool", with("stream_subgraphs", "yes"), 422, CodeValidation},
		{"webhook relative", with("webhook", "/hook"), 422, CodeValidation},
		{"resume not object", with("input", nil, "command", map[string]any{"resume": []any{}}), 422, CodeValidation},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := do(t, http.MethodPost, s.URL+"/threads/runs", "test-key", tc.body)
			if resp.Status != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.Status, tc.status, resp.Body)
			}
			got := resp.json(t)
			if got["code"] != tc.code || got["type"] != "https://docs.langchain.com/errors/"+tc.code ||
				got["status"] != float64(tc.status) || got["detail"] == "" {
				t.Fatalf("error body %s", resp.Body)
			}
		})
	}
	if got, want := len(s.RunRequests()), len(tests); got != want {
		t.Fatalf("recorded %d requests, want %d", got, want)
	}
	if s.RunsStarted() != 0 || len(s.Runs()) != 0 {
		t.Fatal("a rejected request started a run")
	}
	if _, ok := s.Thread(threadA); ok {
		t.Fatal("a rejected request created a thread")
	}
	// A lone stream_mode string is accepted, as the runtime does.
	if resp := do(t, http.MethodPost, s.URL+"/threads/runs", "test-key", with("stream_mode", "values")); resp.Status != 200 {
		t.Fatalf("stream_mode string: %d %s", resp.Status, resp.Body)
	}
	// Content blocks are not the Managed API's Message (content: string).
	image := with("input", map[string]any{"messages": []any{map[string]any{"role": "user", "content": []any{
		map[string]any{"type": "text", "text": "what is this?"},
		map[string]any{"type": "image", "source_type": "base64", "data": "AQI=", "mime_type": "image/png"},
	}}}})
	if resp := do(t, http.MethodPost, s.URL+"/threads/runs", "test-key", image); resp.Status != 400 || !strings.Contains(string(resp.Body), "must be a string") {
		t.Fatalf("image block on the Managed API: %d %s; want 400", resp.Status, resp.Body)
	}
}

// TestContentBlocksOnAgentServer: an Agent Server takes LangChain standard
// content blocks and the agent's turn sees them.
func TestContentBlocksOnAgentServer(t *testing.T) {
	s := NewServer(WithSurface(AgentServer))
	defer s.Close()
	s.AddAgent("a1", Echo())
	c, err := agents.New(s.URL, "test-key", agents.WithDialect(agents.AgentServer), agents.WithRetry(1, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if _, err := c.CreateThread(ctx, &agents.CreateThreadRequest{AgentID: "a1", ThreadID: threadA, IfExists: agents.IfExistsDoNothing}); err != nil {
		t.Fatalf("CreateThread: %v", err)
	}
	msg := agents.Message{Role: agents.RoleUser, Blocks: []agents.ContentBlock{agents.TextBlock("what is this?"), agents.ImageBlock("image/png", []byte{1, 2})}}
	st, err := c.StreamRun(ctx, threadA, &agents.RunRequest{Agent: "a1", Input: &agents.Input{Messages: []agents.Message{msg}}, StreamMode: []string{"values"}})
	if err != nil {
		t.Fatalf("StreamRun with an image block: %v", err)
	}
	st.Close()
	runs := s.Runs()
	if len(runs) != 1 || len(runs[0].Input) != 1 {
		t.Fatalf("runs = %+v", runs)
	}
	if got := runs[0].Input[0]; got.Content != "what is this?" || len(got.Blocks) != 2 || got.Blocks[1].MimeType != "image/png" || got.Blocks[1].Data != "AQI=" {
		t.Fatalf("run input = %+v", got)
	}
}

func TestCreateRunResponseAndThread(t *testing.T) {
	s := NewServer()
	defer s.Close()
	s.AddAgent("a1", Echo())
	body := runBody("a1", threadA, "hello")
	body["thread"] = map[string]any{
		"thread_id": threadA, "if_exists": "do_nothing",
		"metadata": map[string]any{"slack_channel_id": "C1"},
		"options":  map[string]any{"test_run": true, "skip_memory_write_protection": true},
	}
	body["metadata"] = map[string]any{"slack_user_id": "U1"}
	resp := do(t, http.MethodPost, s.URL+"/threads/runs", "test-key", body)
	if resp.Status != http.StatusOK {
		t.Fatalf("%d %s", resp.Status, resp.Body)
	}
	var run agents.Run
	if err := json.Unmarshal(resp.Body, &run); err != nil {
		t.Fatal(err)
	}
	if run.ThreadID != threadA || run.AgentID != "a1" || run.Status != agents.RunPending || run.RunID == "" ||
		run.Metadata["slack_user_id"] != "U1" || run.CreatedAt.IsZero() {
		t.Fatalf("run %+v", run)
	}
	if got, want := resp.Header.Get("Content-Location"), "/threads/"+threadA+"/runs/"+run.RunID; got != want {
		t.Fatalf("Content-Location %q, want %q", got, want)
	}
	waitIdle(t, s)

	th := do(t, http.MethodGet, s.URL+"/threads/"+threadA, "test-key", nil).json(t)
	// The documented Managed Thread, exactly.
	for _, k := range []string{"id", "agent_id", "status", "metadata", "created_at", "updated_at"} {
		if _, ok := th[k]; !ok {
			t.Errorf("thread lacks %q", k)
		}
	}
	if len(th) != 6 {
		t.Errorf("thread has fields beyond the documented Thread: %v", th)
	}
	var thread agents.Thread
	if err := json.Unmarshal(do(t, http.MethodGet, s.URL+"/threads/"+threadA, "test-key", nil).Body, &thread); err != nil {
		t.Fatal(err)
	}
	if thread.ThreadID != threadA || thread.AgentID != "a1" || thread.Status != agents.ThreadIdle ||
		thread.Metadata["is_test_run"] != true || thread.Metadata["skip_memory_write_protection"] != true ||
		thread.Metadata["slack_channel_id"] != "C1" {
		t.Fatalf("thread %+v", thread)
	}
	state := do(t, http.MethodGet, s.URL+"/threads/"+threadA+"/state", "test-key", nil).json(t)
	if _, ok := state["values"].(map[string]any); !ok || len(state["next"].([]any)) != 0 || len(state["interrupts"].([]any)) != 0 {
		t.Fatalf("state %v", state)
	}
	var values struct {
		Messages []struct{ Type, Content string } `json:"messages"`
	}
	if err := json.Unmarshal(mustJSON(t, state["values"]), &values); err != nil {
		t.Fatal(err)
	}
	if n := len(values.Messages); n != 2 || values.Messages[1].Type != "ai" || values.Messages[1].Content != "You said: hello" {
		t.Fatalf("values %v", state["values"])
	}
	if r := do(t, http.MethodGet, s.URL+"/threads/"+"00000000-0000-0000-0000-000000000000", "test-key", nil); r.Status != 404 ||
		r.json(t)["code"] != CodeThreadNotFound {
		t.Fatalf("unknown thread: %d %s", r.Status, r.Body)
	}
	infos := s.Runs()
	if len(infos) != 1 || infos[0].Status != agents.RunSuccess || !infos[0].Options.TestRun || infos[0].Input[0].Content != "hello" {
		t.Fatalf("runs %+v", infos)
	}
}

func TestThreadReuse(t *testing.T) {
	s := NewServer()
	defer s.Close()
	s.AddAgent("a1", Echo())
	s.AddAgent("a2", Echo())
	first := runBody("a1", threadA, "one")
	first["thread"] = map[string]any{"thread_id": threadA, "if_exists": "do_nothing",
		"options": map[string]any{"skip_memory_write_protection": true}}
	startRun(t, s, first)
	waitIdle(t, s)

	tests := []struct {
		name   string
		body   map[string]any
		status int
		code   string
	}{
		{"do_nothing reuses, keeps options", func() map[string]any {
			b := runBody("a1", threadA, "two")
			b["thread"] = map[string]any{"thread_id": threadA, "if_exists": "do_nothing",
				"options": map[string]any{"skip_memory_write_protection": false, "test_run": true}}
			return b
		}(), 200, ""},
		{"raise conflicts", func() map[string]any {
			b := runBody("a1", threadA, "three")
			b["thread"] = map[string]any{"thread_id": threadA, "if_exists": "raise"}
			return b
		}(), 409, CodeThreadExists},
		{"other agent conflicts", runBody("a2", threadA, "four"), 409, CodeThreadAgentMismatch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := do(t, http.MethodPost, s.URL+"/threads/runs", "test-key", tc.body)
			if resp.Status != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.Status, tc.status, resp.Body)
			}
			if tc.code != "" && resp.json(t)["code"] != tc.code {
				t.Fatalf("body %s", resp.Body)
			}
			waitIdle(t, s)
		})
	}
	th, _ := s.Thread(threadA)
	if th.AgentID != "a1" || !th.Options.SkipMemoryWriteProtection || th.Options.TestRun || th.Runs != 2 {
		t.Fatalf("thread %+v", th)
	}
	if n := len(th.Messages); n != 4 {
		t.Fatalf("%d messages, want 4: %+v", n, th.Messages)
	}
}

func TestMultitask(t *testing.T) {
	s := NewServer()
	defer s.Close()
	release := make(chan struct{})
	var seen []int
	s.AddAgent("slow", func(t Turn) []Step {
		if t.Index == 0 {
			<-release
		}
		seen = append(seen, len(t.History))
		return []Step{Text("ok")}
	})
	body := runBody("slow", threadA, "first")
	startRun(t, s, body)
	// The thread is busy until release: reject refuses, enqueue queues.
	resp := do(t, http.MethodPost, s.URL+"/threads/runs", "test-key", runBody("slow", threadA, "second"))
	if resp.Status != http.StatusConflict || resp.json(t)["code"] != CodeThreadBusy {
		t.Fatalf("reject on busy: %d %s", resp.Status, resp.Body)
	}
	queued := runBody("slow", threadA, "second")
	queued["multitask_strategy"] = "enqueue"
	startRun(t, s, queued)
	if th, _ := s.Thread(threadA); th.Status != agents.ThreadBusy {
		t.Fatalf("status %q, want busy", th.Status)
	}
	close(release)
	waitIdle(t, s)
	// The second run saw the first one's input and answer.
	if len(seen) != 2 || seen[0] != 0 || seen[1] != 2 {
		t.Fatalf("history lengths %v", seen)
	}
	for _, r := range s.Runs() {
		if r.Status != agents.RunSuccess {
			t.Fatalf("run %+v", r)
		}
	}
}

func TestMultitaskInterrupt(t *testing.T) {
	s := NewServer()
	defer s.Close()
	started := make(chan struct{})
	s.AddAgent("a1", func(t Turn) []Step {
		if t.Index == 0 {
			close(started)
			return []Step{Pause(1 << 40), Text("never")}
		}
		return []Step{Text("second")}
	})
	startRun(t, s, runBody("a1", threadA, "first"))
	<-started
	b := runBody("a1", threadA, "again")
	b["multitask_strategy"] = "interrupt"
	startRun(t, s, b)
	waitIdle(t, s)
	runs := s.Runs()
	if runs[0].Status != agents.RunInterrupted || runs[1].Status != agents.RunSuccess {
		t.Fatalf("runs %+v", runs)
	}
}

func TestFaultKnobs(t *testing.T) {
	s := NewServer()
	defer s.Close()
	s.AddAgent("a1", Echo())
	tests := []struct {
		status int
		check  func(map[string]any) bool
	}{
		{401, func(m map[string]any) bool { return m["error"] == "Unauthorized" }},
		{403, func(m map[string]any) bool { return m["error"] == "Forbidden" }},
		{404, func(m map[string]any) bool { return m["code"] == CodeAgentNotFound }},
		{429, func(m map[string]any) bool { return m["code"] == CodeRateLimited }},
		{502, func(m map[string]any) bool { return m["code"] == CodeUpstreamAuthFailed && m["status"] == 502.0 }},
		{503, func(m map[string]any) bool { return m["code"] == CodeUnavailable }},
	}
	for _, tc := range tests {
		s.FailRunStarts(1, tc.status)
		resp := do(t, http.MethodPost, s.URL+"/threads/runs", "test-key", runBody("a1", "", "hi"))
		if resp.Status != tc.status || !tc.check(resp.json(t)) {
			t.Fatalf("fail %d: got %d %s", tc.status, resp.Status, resp.Body)
		}
	}
	if s.RunsStarted() != 0 {
		t.Fatal("failed starts started runs")
	}
	startRun(t, s, runBody("a1", "", "hi"))

	s.SetDown(true)
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, s.URL+"/threads/"+threadA, nil)
	req.Header.Set("X-Api-Key", "test-key")
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("down server answered %d", resp.StatusCode)
	}
	s.SetDown(false)
	s.SetLatency(1)
	startRun(t, s, runBody("a1", "", "hi"))
	waitIdle(t, s)
	if s.RunsStarted() != 2 {
		t.Fatalf("runs started %d", s.RunsStarted())
	}
}

func TestDocumentedSurfaceHasNoJoinAndNoValues(t *testing.T) {
	s := NewServer(WithSurface(ManagedDocumented))
	defer s.Close()
	s.AddAgent("a1", Echo())
	run := startRun(t, s, runBody("a1", "", "hi"))
	waitIdle(t, s)
	resp := do(t, http.MethodGet, s.URL+"/threads/"+run["thread_id"].(string)+"/runs/"+run["run_id"].(string)+"/stream", "test-key", nil)
	if resp.Status != http.StatusNotFound {
		t.Fatalf("stream: %d", resp.Status)
	}
	// The documented Thread has status and metadata, no values.
	th := do(t, http.MethodGet, s.URL+"/threads/"+run["thread_id"].(string), "test-key", nil).json(t)
	if _, ok := th["values"]; th["status"] != agents.ThreadIdle || ok || th["id"] != run["thread_id"] {
		t.Fatalf("thread %v", th)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
