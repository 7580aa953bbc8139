package agents_test

// Contract test for a LangGraph Agent Server running the scripted deepagents
// agent of testdata/agentserver. It checks, with plain net/http, the wire facts
// the bot depends on; the facts and the exact bodies are in
// /work/notes/agent-server.md (gathered on @langchain/langgraph-api 2.0.0).
//
// Run it against the real server:
//
//	internal/agents/testdata/agentserver/run.sh 2124 &
//	AGENT_SERVER_URL=http://127.0.0.1:2124 go test -race -run TestAgentServerContract ./internal/agents/
//
// checkAgentServerContract takes the base URL so the same checks can be
// pointed at the fake runtime's agent-server surface.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"
)

func TestAgentServerContract(t *testing.T) {
	baseURL := os.Getenv("AGENT_SERVER_URL")
	if baseURL == "" {
		t.Skip("AGENT_SERVER_URL is not set: start internal/agents/testdata/agentserver/run.sh <port> " +
			"and set AGENT_SERVER_URL=http://127.0.0.1:<port> to run the Agent Server contract test")
	}
	assistantID := os.Getenv("AGENT_SERVER_ASSISTANT_ID")
	if assistantID == "" {
		assistantID = "agent"
	}
	checkAgentServerContract(t, strings.TrimRight(baseURL, "/"), assistantID)
}

// checkAgentServerContract runs every check against the server at baseURL,
// whose assistantID graph behaves like testdata/agentserver/src/agent.js.
func checkAgentServerContract(t *testing.T, baseURL, assistantID string) {
	as := &agentServer{base: baseURL, assistant: assistantID, http: &http.Client{Timeout: 90 * time.Second}}
	if res, err := as.http.Get(baseURL + "/ok"); err != nil {
		t.Fatalf("agent server at %s is not reachable: %v", baseURL, err)
	} else {
		res.Body.Close()
	}

	t.Run("threads", as.checkThreads)
	t.Run("routes not on an agent server", as.checkMissingRoutes)
	t.Run("run errors", as.checkRunErrors)
	t.Run("plain answer", as.checkPlainAnswer)
	t.Run("plan", as.checkPlan)
	t.Run("subagent task call", as.checkSubagent)
	t.Run("failing run", as.checkFailingRun)
	t.Run("stream_subgraphs", as.checkStreamSubgraphs)
	t.Run("memory write interrupt and approve", func(t *testing.T) { as.checkInterruptResume(t, "approve") })
	t.Run("memory write interrupt and reject", func(t *testing.T) { as.checkInterruptResume(t, "reject") })
	t.Run("headless graph writes memory without approval", as.checkHeadless)
	t.Run("background run, join, replay and webhook", as.checkBackgroundRun)
	t.Run("busy thread and cancel", as.checkBusyAndCancel)
}

type agentServer struct {
	base      string
	assistant string
	http      *http.Client
}

// response is one HTTP exchange, read to the end.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("body is not the expected JSON (%v): %.300s", err, r.body)
	}
}

func (as *agentServer) do(t *testing.T, method, path string, body any, header map[string]string) response {
	t.Helper()
	var reader io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		reader = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, as.base+path, reader)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := as.http.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return response{status: res.StatusCode, header: res.Header, body: b}
}

func (as *agentServer) newThread(t *testing.T, metadata map[string]any) string {
	t.Helper()
	id := newUUID(t)
	if metadata == nil {
		metadata = map[string]any{} // the JS server refuses "metadata": null with a 400
	}
	res := as.do(t, http.MethodPost, "/threads", map[string]any{"thread_id": id, "if_exists": "do_nothing", "metadata": metadata}, nil)
	if res.status != http.StatusOK {
		t.Fatalf("POST /threads: status %d, body %.300s", res.status, res.body)
	}
	return id
}

// runRequest is the run body the bot sends on the agent-server dialect.
func (as *agentServer) runRequest(prompt string, extra map[string]any) map[string]any {
	req := map[string]any{
		"assistant_id":       as.assistant,
		"stream_mode":        []string{"values", "updates", "messages-tuple"},
		"stream_resumable":   true,
		"on_disconnect":      "continue",
		"multitask_strategy": "enqueue",
	}
	if prompt != "" {
		req["input"] = map[string]any{"messages": []map[string]any{{"role": "user", "content": prompt}}}
	}
	for k, v := range extra {
		req[k] = v
	}
	return req
}

// sseEvent is one server-sent event; data holds the joined data lines.
type sseEvent struct {
	id, name string
	data     json.RawMessage
}

// streamResult is a whole run stream.
type streamResult struct {
	status int
	header http.Header
	body   []byte // set when the response is not an event stream
	events []sseEvent
}

func (as *agentServer) stream(t *testing.T, method, path string, body any, header map[string]string) streamResult {
	t.Helper()
	res := as.do(t, method, path, body, header)
	out := streamResult{status: res.status, header: res.header}
	if !strings.HasPrefix(res.header.Get("Content-Type"), "text/event-stream") {
		out.body = res.body
		return out
	}
	events, err := parseSSE(bytes.NewReader(res.body))
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	out.events = events
	return out
}

// parseSSE reads an event stream: "event:", "data:" (possibly many lines, the
// JS server pretty-prints JSON over several), "id:" (after the data there),
// ":" comments, blank-line separators, any of \n, \r\n, \r.
func parseSSE(r io.Reader) ([]sseEvent, error) {
	raw, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	text := strings.ReplaceAll(strings.ReplaceAll(string(raw), "\r\n", "\n"), "\r", "\n")
	var events []sseEvent
	var cur sseEvent
	var data []string
	flush := func() {
		if cur.name != "" || len(data) > 0 {
			cur.data = json.RawMessage(strings.Join(data, "\n"))
			events = append(events, cur)
		}
		cur, data = sseEvent{}, nil
	}
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			flush()
			continue
		}
		if strings.HasPrefix(line, ":") {
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "event":
			cur.name = value
		case "data":
			data = append(data, value)
		case "id":
			cur.id = value
		}
	}
	flush()
	return events, sc.Err()
}

func (s streamResult) named(name string) []sseEvent {
	var out []sseEvent
	for _, e := range s.events {
		if e.name == name {
			out = append(out, e)
		}
	}
	return out
}

func (s streamResult) names() []string {
	out := make([]string, len(s.events))
	for i, e := range s.events {
		out[i] = e.name
	}
	return out
}

// message is a LangChain message as the server serializes it in state.
type message struct {
	ID         string          `json:"id"`
	Type       string          `json:"type"`
	Name       string          `json:"name"`
	Content    json.RawMessage `json:"content"`
	ToolCalls  []toolCall      `json:"tool_calls"`
	ToolCallID string          `json:"tool_call_id"`
	Status     string          `json:"status"`
}

type toolCall struct {
	Name string         `json:"name"`
	Args map[string]any `json:"args"`
	ID   string         `json:"id"`
}

// text is the message content as a string, from a string or text blocks.
func (m message) text() string {
	var s string
	if json.Unmarshal(m.Content, &s) == nil {
		return s
	}
	var blocks []struct{ Type, Text string }
	_ = json.Unmarshal(m.Content, &blocks)
	var b strings.Builder
	for _, bl := range blocks {
		if bl.Type == "text" {
			b.WriteString(bl.Text)
		}
	}
	return b.String()
}

type state struct {
	Messages  []message         `json:"messages"`
	Todos     []json.RawMessage `json:"todos"`
	Interrupt []interruptItem   `json:"__interrupt__"`
}

func lastAI(msgs []message) (message, bool) {
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Type == "ai" {
			return msgs[i], true
		}
	}
	return message{}, false
}

// finalValues is the state of the last root values event.
func finalValues(t *testing.T, s streamResult) state {
	t.Helper()
	vals := s.named("values")
	if len(vals) == 0 {
		t.Fatalf("no values event; events: %v", s.names())
	}
	var st state
	if err := json.Unmarshal(vals[len(vals)-1].data, &st); err != nil {
		t.Fatalf("values data: %v", err)
	}
	return st
}

// streamedAIText joins the root messages-tuple chunks of AI messages by id.
func streamedAIText(t *testing.T, s streamResult) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, e := range s.named("messages") {
		var tuple []json.RawMessage
		if err := json.Unmarshal(e.data, &tuple); err != nil || len(tuple) != 2 {
			t.Fatalf("messages data is not a [chunk, metadata] pair: %.200s", e.data)
		}
		var chunk message
		if err := json.Unmarshal(tuple[0], &chunk); err != nil {
			t.Fatalf("message chunk: %v", err)
		}
		if chunk.Type == "ai" || chunk.Type == "AIMessageChunk" {
			out[chunk.ID] += chunk.text()
		}
	}
	return out
}

// updatesToolCalls lists the tool calls the model node made, from updates events.
func updatesToolCalls(t *testing.T, s streamResult) []toolCall {
	t.Helper()
	var calls []toolCall
	for _, e := range s.named("updates") {
		var nodes map[string]json.RawMessage
		if err := json.Unmarshal(e.data, &nodes); err != nil {
			t.Fatalf("updates data: %v", err)
		}
		for node, raw := range nodes {
			if node == "__interrupt__" {
				continue
			}
			var upd state
			if json.Unmarshal(raw, &upd) != nil {
				continue
			}
			for _, m := range upd.Messages {
				if m.Type == "ai" {
					calls = append(calls, m.ToolCalls...)
				}
			}
		}
	}
	return calls
}

// errorEvent is the data of an SSE error event.
type errorEvent struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}

func requireErrorEvent(t *testing.T, s streamResult) errorEvent {
	t.Helper()
	errs := s.named("error")
	if len(errs) != 1 {
		t.Fatalf("want exactly one error event, events: %v", s.names())
	}
	if last := s.events[len(s.events)-1]; last.name != "error" {
		t.Fatalf("error is not the last event: %v", s.names())
	}
	var ev errorEvent
	if err := json.Unmarshal(errs[0].data, &ev); err != nil {
		t.Fatalf("error data %s: %v", errs[0].data, err)
	}
	if ev.Error == "" || ev.Message == "" {
		t.Fatalf("error data lacks error/message: %s", errs[0].data)
	}
	return ev
}

func requireNoErrorEvent(t *testing.T, s streamResult) {
	t.Helper()
	for _, e := range s.events {
		if e.name == "error" {
			t.Fatalf("unexpected error event: %s", e.data)
		}
	}
}

// requireRunStream checks the start of every run stream: 200, an event
// stream, Content-Location naming the run, and a first metadata event with
// the same run id. It returns the run id.
func requireRunStream(t *testing.T, s streamResult, threadID string) string {
	t.Helper()
	if s.status != http.StatusOK {
		t.Fatalf("status %d, body %.300s", s.status, s.body)
	}
	if s.events == nil {
		t.Fatalf("Content-Type %q is not an event stream", s.header.Get("Content-Type"))
	}
	loc := s.header.Get("Content-Location")
	prefix := "/threads/" + threadID + "/runs/"
	if !strings.HasPrefix(loc, prefix) {
		t.Fatalf("Content-Location %q does not start with %q", loc, prefix)
	}
	runID := strings.TrimPrefix(loc, prefix)
	if len(s.events) == 0 || s.events[0].name != "metadata" {
		t.Fatalf("first event is not metadata: %v", s.names())
	}
	var meta struct {
		RunID string `json:"run_id"`
	}
	if err := json.Unmarshal(s.events[0].data, &meta); err != nil || meta.RunID != runID {
		t.Fatalf("metadata %s does not carry run_id %s (%v)", s.events[0].data, runID, err)
	}
	for _, e := range s.events {
		if e.name == "end" {
			// The JS server closes the stream without an end event; one
			// would be harmless, but note it so the fake stays faithful.
			t.Logf("server sent an end event")
		}
	}
	return runID
}

// errorText reads an Agent Server error body: {"detail": …} (Python server),
// a JSON message/error, or a plain-text body (JS server).
func errorText(body []byte) string {
	var e struct {
		Detail  any `json:"detail"`
		Message any `json:"message"`
	}
	if json.Unmarshal(body, &e) == nil {
		for _, v := range []any{e.Detail, e.Message} {
			if s, ok := v.(string); ok && s != "" {
				return s
			}
		}
		if e.Detail != nil {
			return fmt.Sprint(e.Detail)
		}
	}
	return strings.TrimSpace(string(body))
}

func requireErrorStatus(t *testing.T, res response, want ...int) {
	t.Helper()
	for _, w := range want {
		if res.status == w {
			if errorText(res.body) == "" {
				t.Fatalf("status %d with an empty error body", res.status)
			}
			return
		}
	}
	t.Fatalf("status %d, want one of %v; body %.300s", res.status, want, res.body)
}

func (as *agentServer) checkThreads(t *testing.T) {
	id := newUUID(t)
	create := func(ifExists string, metadata map[string]any) response {
		body := map[string]any{"thread_id": id}
		if metadata != nil {
			body["metadata"] = metadata
		}
		if ifExists != "" {
			body["if_exists"] = ifExists
		}
		return as.do(t, http.MethodPost, "/threads", body, nil)
	}
	var first, second struct {
		ThreadID string         `json:"thread_id"`
		Status   string         `json:"status"`
		Metadata map[string]any `json:"metadata"`
	}
	res := create("do_nothing", map[string]any{"slack_channel": "C1"})
	if res.status != http.StatusOK {
		t.Fatalf("create: status %d, body %.300s", res.status, res.body)
	}
	res.json(t, &first)
	if first.ThreadID != id || first.Status != "idle" || first.Metadata["slack_channel"] != "C1" {
		t.Fatalf("create: got %+v", first)
	}

	// Idempotent: the second create answers with the existing thread and
	// does not replace its metadata.
	res = create("do_nothing", map[string]any{"other": "x"})
	if res.status != http.StatusOK {
		t.Fatalf("second create: status %d, body %.300s", res.status, res.body)
	}
	res.json(t, &second)
	if second.ThreadID != id || second.Metadata["slack_channel"] != "C1" || second.Metadata["other"] != nil {
		t.Fatalf("second create changed the thread: %+v", second)
	}

	requireErrorStatus(t, create("raise", nil), http.StatusConflict)
	requireErrorStatus(t, create("", nil), http.StatusConflict) // raise is the default

	res = as.do(t, http.MethodGet, "/threads/"+id, nil, nil)
	if res.status != http.StatusOK {
		t.Fatalf("GET thread: status %d", res.status)
	}
	requireErrorStatus(t, as.do(t, http.MethodGet, "/threads/"+newUUID(t), nil, nil), http.StatusNotFound)
	requireErrorStatus(t, as.do(t, http.MethodPost, "/threads", map[string]any{"thread_id": "not-a-uuid"}, nil),
		http.StatusBadRequest, http.StatusUnprocessableEntity)
}

func (as *agentServer) checkMissingRoutes(t *testing.T) {
	thread := as.newThread(t, nil)
	for _, tc := range []struct{ method, path string }{
		{http.MethodGet, "/no/such/route"},
		// Managed Deep Agents routes that an Agent Server does not have.
		{http.MethodPost, "/threads/runs"},
		{http.MethodPost, "/threads/" + thread + "/resolve-interrupt"},
	} {
		res := as.do(t, tc.method, tc.path, map[string]any{}, nil)
		if res.status != http.StatusNotFound {
			t.Errorf("%s %s: status %d, want 404; body %.200s", tc.method, tc.path, res.status, res.body)
		}
	}
}

func (as *agentServer) checkRunErrors(t *testing.T) {
	thread := as.newThread(t, nil)
	input := map[string]any{"messages": []map[string]any{{"role": "user", "content": "hi"}}}
	for _, tc := range []struct {
		name string
		path string
		body map[string]any
		want []int
	}{
		{"agent_id instead of assistant_id", "/threads/" + thread + "/runs/stream",
			map[string]any{"agent_id": as.assistant, "input": input}, []int{http.StatusBadRequest, http.StatusUnprocessableEntity}},
		{"unknown assistant", "/threads/" + thread + "/runs/stream",
			map[string]any{"assistant_id": "no-such-assistant", "input": input}, []int{http.StatusNotFound}},
		{"bad stream_mode", "/threads/" + thread + "/runs",
			map[string]any{"assistant_id": as.assistant, "input": input, "stream_mode": []string{"bogus"}}, []int{http.StatusBadRequest, http.StatusUnprocessableEntity}},
		// The JS server answers 422 "Thread is already running a task…" here.
		{"thread does not exist", "/threads/" + newUUID(t) + "/runs",
			map[string]any{"assistant_id": as.assistant, "input": input}, []int{http.StatusNotFound, http.StatusUnprocessableEntity}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			requireErrorStatus(t, as.do(t, http.MethodPost, tc.path, tc.body, nil), tc.want...)
		})
	}
}

func (as *agentServer) checkPlainAnswer(t *testing.T) {
	for _, tc := range []struct{ name, prompt, wantPrefix string }{
		{"short", "hello there", "**Short answer.**"},
		{"long", "a long answer please", "# A long answer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			thread := as.newThread(t, map[string]any{"slack_channel": "C1"})
			ts := fmt.Sprintf("1700000000.%06d", time.Now().UnixNano()%1000000)
			s := as.stream(t, http.MethodPost, "/threads/"+thread+"/runs/stream", as.runRequest(tc.prompt, map[string]any{
				"metadata": map[string]any{"slack_message_ts": ts},
				"context":  map[string]any{"skip_memory_write_protection": false},
				"config":   map[string]any{"configurable": map[string]any{"skip_memory_write_protection": false}},
			}), nil)
			runID := requireRunStream(t, s, thread)
			requireNoErrorEvent(t, s)
			if last := s.events[len(s.events)-1]; last.name != "values" {
				t.Fatalf("last event is %q, want values: %v", last.name, s.names())
			}
			ai, ok := lastAI(finalValues(t, s).Messages)
			if !ok || !strings.HasPrefix(ai.text(), tc.wantPrefix) {
				t.Fatalf("final AI message %q does not start with %q", ai.text(), tc.wantPrefix)
			}
			streamed := streamedAIText(t, s)
			if got := streamed[ai.ID]; got != ai.text() {
				t.Fatalf("streamed chunks of %s join to %q, want %q", ai.ID, got, ai.text())
			}
			if tc.name == "long" && len(s.named("messages")) < 10 {
				t.Fatalf("a long answer should stream in many chunks, got %d", len(s.named("messages")))
			}

			// The run is found again by the bot's metadata.
			res := as.do(t, http.MethodGet, "/threads/"+thread+"/runs", nil, nil)
			var runs []struct {
				RunID    string         `json:"run_id"`
				Status   string         `json:"status"`
				Metadata map[string]any `json:"metadata"`
			}
			res.json(t, &runs)
			found := false
			for _, r := range runs {
				if r.RunID == runID {
					found = true
					if r.Metadata["slack_message_ts"] != ts || r.Status != "success" {
						t.Fatalf("listed run: %+v", r)
					}
				}
			}
			if !found {
				t.Fatalf("run %s not in GET /threads/%s/runs", runID, thread)
			}
		})
	}
}

func (as *agentServer) checkPlan(t *testing.T) {
	thread := as.newThread(t, nil)
	s := as.stream(t, http.MethodPost, "/threads/"+thread+"/runs/stream", as.runRequest("make a plan", nil), nil)
	requireRunStream(t, s, thread)
	requireNoErrorEvent(t, s)
	calls := updatesToolCalls(t, s)
	if len(calls) == 0 || calls[0].Name != "write_todos" {
		t.Fatalf("first tool call %+v, want write_todos", calls)
	}
	if todos, ok := calls[0].Args["todos"].([]any); !ok || len(todos) == 0 {
		t.Fatalf("write_todos args %v lack todos", calls[0].Args)
	}
	st := finalValues(t, s)
	if len(st.Todos) == 0 {
		t.Fatal("final values have no todos")
	}
	if ai, _ := lastAI(st.Messages); !strings.Contains(ai.text(), "plan") {
		t.Fatalf("final answer %q", ai.text())
	}
}

func (as *agentServer) checkSubagent(t *testing.T) {
	thread := as.newThread(t, nil)
	s := as.stream(t, http.MethodPost, "/threads/"+thread+"/runs/stream", as.runRequest("use a subagent", nil), nil)
	requireRunStream(t, s, thread)
	requireNoErrorEvent(t, s)
	calls := updatesToolCalls(t, s)
	if len(calls) == 0 || calls[0].Name != "task" {
		t.Fatalf("tool calls %+v, want a task call", calls)
	}
	if calls[0].Args["subagent_type"] != "general-purpose" || calls[0].Args["description"] == "" {
		t.Fatalf("task args %v lack subagent_type/description", calls[0].Args)
	}
	// Without stream_subgraphs only root events arrive: no "mode|namespace".
	for _, e := range s.events {
		if strings.Contains(e.name, "|") {
			t.Fatalf("subgraph event %q without stream_subgraphs", e.name)
		}
	}
	// The subagent's answer comes back as the task tool's result.
	var toolResult string
	for _, m := range finalValues(t, s).Messages {
		if m.Type == "tool" && m.Name == "task" {
			toolResult = m.text()
		}
	}
	if !strings.Contains(toolResult, "Paris") {
		t.Fatalf("task tool result %q", toolResult)
	}
}

func (as *agentServer) checkFailingRun(t *testing.T) {
	thread := as.newThread(t, nil)
	s := as.stream(t, http.MethodPost, "/threads/"+thread+"/runs/stream", as.runRequest("please fail", nil), nil)
	requireRunStream(t, s, thread)
	ev := requireErrorEvent(t, s)
	if !strings.Contains(ev.Message, "scripted model failure") {
		t.Fatalf("error event %+v", ev)
	}
	as.requireThreadStatus(t, thread, "error")
}

// checkStreamSubgraphs pins the failure users met: @langchain/langgraph-api
// 2.0.0 fails every run asking for stream_subgraphs with "values" in
// stream_mode, after a 200 and the metadata event. Other versions (1.5.1 was
// checked) stream subgraph events as "mode|namespace" and add "checkpoints"
// events nobody asked for. The server's version comes from GET /info.
func (as *agentServer) checkStreamSubgraphs(t *testing.T) {
	var info struct {
		Version string `json:"version"`
	}
	res := as.do(t, http.MethodGet, "/info", nil, nil)
	if res.status != http.StatusOK {
		t.Fatalf("GET /info: status %d, body %.200s", res.status, res.body)
	}
	res.json(t, &info)

	thread := as.newThread(t, nil)
	s := as.stream(t, http.MethodPost, "/threads/"+thread+"/runs/stream",
		as.runRequest("use a subagent", map[string]any{"stream_subgraphs": true}), nil)
	requireRunStream(t, s, thread)
	if strings.HasPrefix(info.Version, "2.") {
		ev := requireErrorEvent(t, s)
		if ev.Error != "TypeError" || !strings.Contains(ev.Message, "reading 'map'") {
			t.Fatalf("version %s: error event %+v, want the TypeError reading 'map'", info.Version, ev)
		}
		as.requireThreadStatus(t, thread, "error")
	} else {
		requireNoErrorEvent(t, s)
		namespaced := 0
		for _, e := range s.events {
			if mode, ns, ok := strings.Cut(e.name, "|"); ok {
				namespaced++
				if mode == "" || !strings.HasPrefix(ns, "tools:") {
					t.Fatalf("subgraph event name %q", e.name)
				}
			}
		}
		if namespaced == 0 {
			t.Fatalf("version %s: no subgraph events with stream_subgraphs: %v", info.Version, s.names())
		}
	}

	// Without stream_subgraphs the same request works on every version.
	thread = as.newThread(t, nil)
	s = as.stream(t, http.MethodPost, "/threads/"+thread+"/runs/stream", as.runRequest("use a subagent", nil), nil)
	requireRunStream(t, s, thread)
	requireNoErrorEvent(t, s)
}

// interruptItem is one element of __interrupt__.
type interruptItem struct {
	ID    string         `json:"id"`
	Value hitlRequestAny `json:"value"`
}

// hitlRequestAny accepts the JS (camelCase) and Python (snake_case) shapes of
// HumanInTheLoopMiddleware's request.
type hitlRequestAny struct {
	ActionRequestsCamel []actionRequest `json:"actionRequests"`
	ActionRequestsSnake []actionRequest `json:"action_requests"`
	ReviewConfigsCamel  []reviewConfig  `json:"reviewConfigs"`
	ReviewConfigsSnake  []reviewConfig  `json:"review_configs"`
}

type actionRequest struct {
	Name        string         `json:"name"`
	Args        map[string]any `json:"args"`
	Description string         `json:"description"`
}

type reviewConfig struct {
	ActionNameCamel       string   `json:"actionName"`
	ActionNameSnake       string   `json:"action_name"`
	AllowedDecisionsCamel []string `json:"allowedDecisions"`
	AllowedDecisionsSnake []string `json:"allowed_decisions"`
}

func (h hitlRequestAny) actions() []actionRequest {
	return append(h.ActionRequestsCamel, h.ActionRequestsSnake...)
}

func (h hitlRequestAny) reviews() []reviewConfig {
	return append(h.ReviewConfigsCamel, h.ReviewConfigsSnake...)
}

func (as *agentServer) checkInterruptResume(t *testing.T, decision string) {
	thread := as.newThread(t, nil)
	s := as.stream(t, http.MethodPost, "/threads/"+thread+"/runs/stream", as.runRequest("remember that I like short answers", nil), nil)
	requireRunStream(t, s, thread)
	requireNoErrorEvent(t, s)

	// updates carry {"__interrupt__":[…]}; the last values event carries the
	// same list under __interrupt__, and the stream then closes.
	var fromUpdates []interruptItem
	for _, e := range s.named("updates") {
		var upd struct {
			Interrupt []interruptItem `json:"__interrupt__"`
		}
		if json.Unmarshal(e.data, &upd) == nil && len(upd.Interrupt) > 0 {
			fromUpdates = upd.Interrupt
		}
	}
	fromValues := finalValues(t, s).Interrupt
	if len(fromUpdates) != 1 || len(fromValues) != 1 || fromUpdates[0].ID != fromValues[0].ID || fromValues[0].ID == "" {
		t.Fatalf("interrupt in updates %+v and values %+v", fromUpdates, fromValues)
	}
	req := fromValues[0].Value
	actions, reviews := req.actions(), req.reviews()
	if len(actions) != 1 || len(reviews) != 1 {
		t.Fatalf("want one action request and one review config: %+v", req)
	}
	if actions[0].Name != "write_file" || !strings.HasPrefix(fmt.Sprint(actions[0].Args["file_path"]), "/memories/") || actions[0].Description == "" {
		t.Fatalf("action request %+v", actions[0])
	}
	review := reviews[0]
	allowed := append(review.AllowedDecisionsCamel, review.AllowedDecisionsSnake...)
	if review.ActionNameCamel+review.ActionNameSnake != "write_file" || strings.Join(allowed, ",") != "approve,reject" {
		t.Fatalf("review config %+v", review)
	}

	// The thread, not the run, tells that the run paused.
	thread1 := as.settledThread(t, thread)
	pending := 0
	for _, items := range thread1.Interrupts {
		pending += len(items)
	}
	if thread1.Status != "interrupted" || pending != 1 {
		t.Fatalf("thread after interrupt: %+v", thread1)
	}

	decisionBody := map[string]any{"type": decision}
	if decision == "reject" {
		decisionBody["message"] = "No, do not save that."
	}
	resume := as.runRequest("", map[string]any{"command": map[string]any{"resume": map[string]any{"decisions": []any{decisionBody}}}})
	s = as.stream(t, http.MethodPost, "/threads/"+thread+"/runs/stream", resume, nil)
	requireRunStream(t, s, thread)
	requireNoErrorEvent(t, s)
	st := finalValues(t, s)
	if len(st.Interrupt) != 0 {
		t.Fatalf("resumed run interrupted again: %+v", st.Interrupt)
	}
	var tool message
	for _, m := range st.Messages {
		if m.Type == "tool" && m.Name == "write_file" {
			tool = m
		}
	}
	switch decision {
	case "approve":
		if !strings.Contains(tool.text(), "Successfully wrote") || tool.Status == "error" {
			t.Fatalf("approved write: tool message %+v", tool)
		}
	case "reject":
		if tool.text() != "No, do not save that." || tool.Status != "error" {
			t.Fatalf("rejected write: tool message %+v (%q)", tool, tool.text())
		}
	}
	as.requireThreadStatus(t, thread, "idle")
}

// checkHeadless runs the bot's headless request on the "headless" graph of
// testdata/agentserver (no approval middleware): the memory write happens
// without an interrupt. Servers without that graph skip it.
func (as *agentServer) checkHeadless(t *testing.T) {
	var found []struct {
		GraphID string `json:"graph_id"`
	}
	as.do(t, http.MethodPost, "/assistants/search", map[string]any{"graph_id": "headless", "limit": 1}, nil).json(t, &found)
	if len(found) == 0 {
		t.Skip("the server has no headless graph")
	}
	thread := as.newThread(t, map[string]any{"test_run": true})
	req := as.runRequest("remember this", map[string]any{
		"assistant_id": "headless",
		"context":      map[string]any{"skip_memory_write_protection": true},
		"config":       map[string]any{"configurable": map[string]any{"skip_memory_write_protection": true}},
	})
	s := as.stream(t, http.MethodPost, "/threads/"+thread+"/runs/stream", req, nil)
	requireRunStream(t, s, thread)
	requireNoErrorEvent(t, s)
	st := finalValues(t, s)
	if len(st.Interrupt) != 0 {
		t.Fatalf("headless run interrupted: %+v", st.Interrupt)
	}
	if ai, _ := lastAI(st.Messages); !strings.Contains(ai.text(), "Successfully wrote") {
		t.Fatalf("headless answer %q", ai.text())
	}
	as.requireThreadStatus(t, thread, "idle")
}

func (as *agentServer) requireThreadStatus(t *testing.T, thread, want string) {
	t.Helper()
	if got := as.settledThread(t, thread).Status; got != want {
		t.Fatalf("thread status %q, want %q", got, want)
	}
}

// settledThread is the thread once its last run has been accounted for. The
// JS server marks the run done and then, in a separate step, the thread, and
// a run stream closes on the run's status, so a GET right after the stream
// can, rarely, still see the thread "busy".
func (as *agentServer) settledThread(t *testing.T, thread string) threadView {
	t.Helper()
	var th threadView
	for deadline := time.Now().Add(pollDeadline); ; time.Sleep(50 * time.Millisecond) {
		th = threadView{}
		as.do(t, http.MethodGet, "/threads/"+thread, nil, nil).json(t, &th)
		if th.Status != "busy" {
			return th
		}
		if time.Now().After(deadline) {
			t.Fatalf("thread %s still busy after %v", thread, pollDeadline)
		}
	}
}

// threadView is the part of GET /threads/{id} the checks read.
type threadView struct {
	Status     string                     `json:"status"`
	Interrupts map[string][]interruptItem `json:"interrupts"`
}

// webhookBody is what the server POSTs to a run's webhook.
type webhookBody struct {
	RunID    string         `json:"run_id"`
	ThreadID string         `json:"thread_id"`
	Status   string         `json:"status"`
	Metadata map[string]any `json:"metadata"`
	Values   struct {
		Messages []json.RawMessage `json:"messages"`
	} `json:"values"`
	Error string `json:"error"`
}

// webhookMessage reads a state message in either the plain shape
// ({"type":"ai","content":…}) or the LangChain-serialized one the JS server
// puts in webhooks ({"lc":1,"type":"constructor","id":[…,"AIMessage"],"kwargs":{…}}).
func webhookMessage(t *testing.T, raw json.RawMessage) message {
	t.Helper()
	var ser struct {
		LC     int             `json:"lc"`
		Type   string          `json:"type"`
		ID     []string        `json:"id"`
		Kwargs json.RawMessage `json:"kwargs"`
	}
	if err := json.Unmarshal(raw, &ser); err != nil {
		t.Fatalf("webhook message: %v", err)
	}
	if ser.LC == 0 || ser.Type != "constructor" {
		var m message
		_ = json.Unmarshal(raw, &m)
		return m
	}
	var m message
	if err := json.Unmarshal(ser.Kwargs, &m); err != nil {
		t.Fatalf("webhook message kwargs: %v", err)
	}
	if len(ser.ID) > 0 {
		switch ser.ID[len(ser.ID)-1] {
		case "AIMessage", "AIMessageChunk":
			m.Type = "ai"
		case "HumanMessage":
			m.Type = "human"
		case "ToolMessage":
			m.Type = "tool"
		}
	}
	return m
}

func (as *agentServer) checkBackgroundRun(t *testing.T) {
	hooks := make(chan webhookBody, 4)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body webhookBody
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &body); err != nil {
			t.Errorf("webhook body is not JSON: %v: %.200s", err, b)
		}
		if r.URL.Query().Get("k") != "v" {
			t.Errorf("webhook lost its query: %s", r.URL)
		}
		hooks <- body
	}))
	defer hook.Close()

	// "slow" makes the run last long enough (~0.5 s) to attach to it live.
	thread := as.newThread(t, map[string]any{"slack_channel": "C7"})
	runID := as.startRun(t, thread, "slow hello from the background", map[string]any{
		"metadata": map[string]any{"slack_message_ts": "1700000000.000700"},
		"webhook":  hook.URL + "/hook?k=v",
	})

	// Following the run's stream with Last-Event-ID -1 gives all its events,
	// from metadata to the end, whether the run is still pending, running or
	// already done by the time the request arrives (on a loaded machine it
	// can be any). Without the header a run that is done gives an empty
	// stream, and one still pending loses its replay log.
	s := as.stream(t, http.MethodGet, "/threads/"+thread+"/runs/"+runID+"/stream", nil, map[string]string{"Last-Event-ID": "-1"})
	if s.status != http.StatusOK || len(s.events) == 0 {
		t.Fatalf("run stream: status %d, events %v, body %.200s", s.status, s.names(), s.body)
	}
	if first := s.events[0]; first.id != "0" || first.name != "metadata" {
		t.Fatalf("run stream starts with id %q event %q, want 0 metadata", first.id, first.name)
	}
	requireNoErrorEvent(t, s)
	streamedAnswer, _ := lastAI(finalValues(t, s).Messages)

	// join answers with the thread's final values.
	res := as.do(t, http.MethodGet, "/threads/"+thread+"/runs/"+runID+"/join", nil, nil)
	if res.status != http.StatusOK {
		t.Fatalf("join: status %d, body %.300s", res.status, res.body)
	}
	var joined state
	res.json(t, &joined)
	answer, ok := lastAI(joined.Messages)
	if !ok || !strings.Contains(answer.text(), "hello from the background") || answer.text() != streamedAnswer.text() {
		t.Fatalf("joined answer %q, streamed answer %q", answer.text(), streamedAnswer.text())
	}

	select {
	case body := <-hooks:
		if body.RunID != runID || body.ThreadID != thread || body.Status != "success" || body.Metadata["slack_message_ts"] != "1700000000.000700" {
			t.Fatalf("webhook body: %+v", body)
		}
		if len(body.Values.Messages) == 0 {
			t.Fatal("webhook carries no values.messages")
		}
		last := webhookMessage(t, body.Values.Messages[len(body.Values.Messages)-1])
		if last.Type != "ai" || last.text() != answer.text() {
			t.Fatalf("webhook final message %+v, want the answer %q", last, answer.text())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no webhook call within 30s of the run's end")
	}

	// A finished resumable run's events are replayed after Last-Event-ID,
	// here for a run nobody followed.
	runID = as.startRun(t, thread, "hello again", nil)
	as.waitRunStatus(t, thread, runID, "success")
	for _, tc := range []struct{ lastEventID, firstID, firstEvent string }{
		{"-1", "0", "metadata"},
		{"0", "1", "values"},
	} {
		s = as.stream(t, http.MethodGet, "/threads/"+thread+"/runs/"+runID+"/stream", nil, map[string]string{"Last-Event-ID": tc.lastEventID})
		if s.status != http.StatusOK || len(s.events) == 0 {
			t.Fatalf("replay after %s: status %d, events %v, body %.200s", tc.lastEventID, s.status, s.names(), s.body)
		}
		if first := s.events[0]; first.id != tc.firstID || first.name != tc.firstEvent {
			t.Fatalf("replay after %s starts with id %q event %q", tc.lastEventID, first.id, first.name)
		}
		if ai, _ := lastAI(finalValues(t, s).Messages); !strings.Contains(ai.text(), "hello again") {
			t.Fatalf("replayed final answer %q", ai.text())
		}
	}
}

// startRun starts a background run and checks the Run it gets back.
func (as *agentServer) startRun(t *testing.T, thread, prompt string, extra map[string]any) string {
	t.Helper()
	res := as.do(t, http.MethodPost, "/threads/"+thread+"/runs", as.runRequest(prompt, extra), nil)
	if res.status != http.StatusOK && res.status != http.StatusCreated {
		t.Fatalf("POST runs: status %d, body %.300s", res.status, res.body)
	}
	var run struct {
		RunID    string         `json:"run_id"`
		ThreadID string         `json:"thread_id"`
		Status   string         `json:"status"`
		Metadata map[string]any `json:"metadata"`
	}
	res.json(t, &run)
	if loc := res.header.Get("Content-Location"); loc != "/threads/"+thread+"/runs/"+run.RunID {
		t.Fatalf("Content-Location %q for run %s", loc, run.RunID)
	}
	if run.ThreadID != thread || (run.Status != "pending" && run.Status != "running") {
		t.Fatalf("run %+v", run)
	}
	if md, ok := extra["metadata"].(map[string]any); ok {
		for k, v := range md {
			if run.Metadata[k] != v {
				t.Fatalf("run metadata %v lacks %s=%v", run.Metadata, k, v)
			}
		}
	}
	return run.RunID
}

func (as *agentServer) checkBusyAndCancel(t *testing.T) {
	thread := as.newThread(t, nil)
	runID := as.startRun(t, thread, "a slow long answer", nil)
	as.waitRunStatus(t, thread, runID, "running")

	// A second run with multitask_strategy reject is refused while busy.
	busy := as.do(t, http.MethodPost, "/threads/"+thread+"/runs", as.runRequest("hi", map[string]any{"multitask_strategy": "reject"}), nil)
	requireErrorStatus(t, busy, http.StatusConflict, http.StatusUnprocessableEntity)

	res := as.do(t, http.MethodPost, "/threads/"+thread+"/runs/"+runID+"/cancel?wait=true", nil, nil)
	if res.status != http.StatusNoContent && res.status != http.StatusAccepted && res.status != http.StatusOK {
		t.Fatalf("cancel: status %d, body %.200s", res.status, res.body)
	}
	var got struct {
		Status string `json:"status"`
	}
	as.do(t, http.MethodGet, "/threads/"+thread+"/runs/"+runID, nil, nil).json(t, &got)
	// JS marks a cancelled run "error"; the Python server says "interrupted".
	if got.Status != "error" && got.Status != "interrupted" {
		t.Fatalf("cancelled run status %q", got.Status)
	}
	requireErrorStatus(t, as.do(t, http.MethodPost, "/threads/"+thread+"/runs/"+newUUID(t)+"/cancel", nil, nil), http.StatusNotFound)
}

// pollDeadline bounds every wait for the server to reach a state. It is
// generous: a loaded machine only makes a test wait longer, never fail, and
// a server that never gets there still fails the test.
const pollDeadline = 60 * time.Second

// waitRunStatus polls the run until it has the wanted status; a run that
// ends in another status fails at once.
func (as *agentServer) waitRunStatus(t *testing.T, thread, runID, want string) {
	t.Helper()
	var got struct {
		Status string `json:"status"`
	}
	for deadline := time.Now().Add(pollDeadline); ; time.Sleep(50 * time.Millisecond) {
		as.do(t, http.MethodGet, "/threads/"+thread+"/runs/"+runID, nil, nil).json(t, &got)
		switch {
		case got.Status == want:
			return
		case got.Status != "pending" && got.Status != "running":
			t.Fatalf("run %s ended %q, want %q", runID, got.Status, want)
		case time.Now().After(deadline):
			t.Fatalf("run %s still %q after %v, want %q", runID, got.Status, pollDeadline, want)
		}
	}
}

func newUUID(t *testing.T) string {
	t.Helper()
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// TestContractParseSSE covers the contract test's own SSE reader on the
// shapes the JS server sends, so it is checked even when no server runs.
func TestContractParseSSE(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []sseEvent
	}{
		{
			name: "pretty-printed data over many lines, id after data",
			in:   "event: metadata\ndata: {\ndata:   \"run_id\": \"r1\"\ndata: }\nid: 0\n\n",
			want: []sseEvent{{id: "0", name: "metadata", data: json.RawMessage("{\n  \"run_id\": \"r1\"\n}")}},
		},
		{
			name: "CRLF, comments and a namespaced event",
			in:   ": heartbeat\r\nevent: updates|tools:abc\r\ndata: {}\r\n\r\nevent: error\r\ndata: {\"error\":\"Error\",\"message\":\"m\"}\r\n\r\n",
			want: []sseEvent{
				{name: "updates|tools:abc", data: json.RawMessage("{}")},
				{name: "error", data: json.RawMessage(`{"error":"Error","message":"m"}`)},
			},
		},
		{
			name: "last event without a trailing blank line",
			in:   "event: values\ndata: {\"messages\":[]}",
			want: []sseEvent{{name: "values", data: json.RawMessage(`{"messages":[]}`)}},
		},
		{name: "empty stream", in: "", want: nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseSSE(strings.NewReader(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d events %+v, want %d", len(got), got, len(tc.want))
			}
			for i := range got {
				if got[i].id != tc.want[i].id || got[i].name != tc.want[i].name || string(got[i].data) != string(tc.want[i].data) {
					t.Errorf("event %d: got %+v, want %+v", i, got[i], tc.want[i])
				}
			}
		})
	}
}
