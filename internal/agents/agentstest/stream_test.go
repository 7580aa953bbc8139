package agentstest

import (
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/deepagents-slack/slackbot/internal/agents"
)

func TestStreamFormat(t *testing.T) {
	s := NewServer()
	defer s.Close()
	s.AddAgent("a1", Scripted(
		Todos(Todo{"Look it up", TodoInProgress}),
		Tool("search", map[string]any{"q": "go"}).Returns("3 results"),
		Text("Hello", " there", "!"),
	))
	_, ws := fullStream(t, s, runBody("a1", "", "hi"))
	if ws.Err != nil {
		t.Fatal(ws.Err)
	}
	if len(ws.Events) < 5 || ws.Events[0].Name != "metadata" || ws.Events[len(ws.Events)-1].Name != "end" {
		t.Fatalf("events %+v", ws.Events)
	}
	var meta struct {
		RunID   string `json:"run_id"`
		Attempt int    `json:"attempt"`
	}
	ws.Events[0].decode(t, &meta)
	if meta.RunID == "" || meta.Attempt != 1 {
		t.Fatalf("metadata %+v", meta)
	}
	multiLine := false
	for i, e := range ws.Events {
		if e.ID != strconv.Itoa(i+1) {
			t.Fatalf("event %d has id %q", i, e.ID)
		}
		multiLine = multiLine || e.DataLines > 1
	}
	if !multiLine || ws.Heartbeats == 0 {
		t.Fatalf("multi-line data %v, heartbeats %d", multiLine, ws.Heartbeats)
	}

	// Tokens of the answer arrive as messages-tuple events of one message id.
	var text strings.Builder
	ids := map[string]bool{}
	for _, e := range eventsNamed(ws, "messages") {
		var tuple []map[string]any
		e.decode(t, &tuple)
		if len(tuple) != 2 || tuple[0]["type"] != "AIMessageChunk" || tuple[1]["langgraph_node"] != "model" {
			t.Fatalf("messages event %s", e.Data)
		}
		if c, _ := tuple[0]["content"].(string); c != "" {
			text.WriteString(c)
			ids[tuple[0]["id"].(string)] = true
		}
	}
	if text.String() != "Hello there!" || len(ids) != 1 {
		t.Fatalf("streamed %q in %d messages", text.String(), len(ids))
	}

	// The plan shows in updates: the model's write_todos call and the
	// tools node's result with todos.
	var sawCall, sawTodos bool
	for _, e := range eventsNamed(ws, "updates") {
		var u map[string]struct {
			Messages []struct {
				Type      string
				ToolCalls []struct {
					Name string
					Args map[string]any
					ID   string
				} `json:"tool_calls"`
				ToolCallID string `json:"tool_call_id"`
			}
			Todos []Todo
		}
		e.decode(t, &u)
		if m, ok := u["model"]; ok && len(m.Messages[0].ToolCalls) == 1 && m.Messages[0].ToolCalls[0].Name == "write_todos" {
			sawCall = m.Messages[0].ToolCalls[0].Args["todos"] != nil
		}
		if tl, ok := u["tools"]; ok && len(tl.Todos) == 1 && tl.Todos[0].Status == TodoInProgress {
			sawTodos = tl.Messages[0].Type == "tool" && tl.Messages[0].ToolCallID != ""
		}
	}
	if !sawCall || !sawTodos {
		t.Fatalf("write_todos call %v, result %v", sawCall, sawTodos)
	}

	values := eventsNamed(ws, "values")
	var last struct {
		Messages []map[string]any
		Todos    []Todo
	}
	values[len(values)-1].decode(t, &last)
	final := last.Messages[len(last.Messages)-1]
	if final["type"] != "ai" || final["content"] != "Hello there!" || len(last.Todos) != 1 {
		t.Fatalf("final values %s", values[len(values)-1].Data)
	}
}

func TestStreamModesFilter(t *testing.T) {
	s := NewServer()
	defer s.Close()
	s.AddAgent("a1", Scripted(Subagent("researcher", "find facts", Text("fact")), Text("done")))
	body := runBody("a1", "", "hi")
	delete(body, "stream_mode")
	delete(body, "stream_subgraphs")
	_, ws := fullStream(t, s, body)
	for _, e := range ws.Events {
		if e.Name != "metadata" && e.Name != "values" && e.Name != "end" {
			t.Fatalf("default stream_mode emitted %q", e.Name)
		}
	}
}

func TestSubagentNamespace(t *testing.T) {
	s := NewServer()
	defer s.Close()
	s.AddAgent("a1", Scripted(Subagent("researcher", "find facts", Text("fact ", "one")), Text("done")))
	_, ws := fullStream(t, s, runBody("a1", "", "hi"))
	var ns string
	for _, e := range ws.Events {
		mode, rest, ok := strings.Cut(e.Name, "|")
		if !ok {
			continue
		}
		if !strings.HasPrefix(rest, "tools:") || (ns != "" && rest != ns) {
			t.Fatalf("event %q", e.Name)
		}
		ns = rest
		_ = mode
	}
	if ns == "" || len(eventsNamed(ws, "messages")) < 3 {
		t.Fatalf("no subagent events in %d events", len(ws.Events))
	}
	// The task tool result carries the subagent's answer.
	if !strings.Contains(eventsNamed(ws, "values")[len(eventsNamed(ws, "values"))-1].Data, `"content": "fact one"`) {
		t.Fatal("task result missing")
	}
}

func TestBlocksContent(t *testing.T) {
	s := NewServer()
	defer s.Close()
	s.AddAgent("a1", Scripted(Text("An", "swer").Blocks("hmm")))
	_, ws := fullStream(t, s, runBody("a1", "", "hi"))
	values := eventsNamed(ws, "values")
	var last struct{ Messages []map[string]any }
	values[len(values)-1].decode(t, &last)
	blocks, ok := last.Messages[len(last.Messages)-1]["content"].([]any)
	if !ok || len(blocks) != 2 {
		t.Fatalf("content %v", last.Messages[len(last.Messages)-1]["content"])
	}
	if b := blocks[0].(map[string]any); b["type"] != "thinking" || b["thinking"] != "hmm" {
		t.Fatalf("block 0 %v", b)
	}
	if b := blocks[1].(map[string]any); b["type"] != "text" || b["text"] != "Answer" {
		t.Fatalf("block 1 %v", b)
	}
}

func TestFailAndNoEnd(t *testing.T) {
	s := NewServer()
	defer s.Close()
	s.AddAgent("boom", Scripted(Text("partial"), Fail("model overloaded")))
	s.AddAgent("quiet", Echo(), NoEndEvent())

	run, ws := fullStream(t, s, runBody("boom", "", "hi"))
	errs := eventsNamed(ws, "error")
	if len(errs) != 1 {
		t.Fatalf("error events %d", len(errs))
	}
	var e struct{ Error, Message string }
	errs[0].decode(t, &e)
	if e.Error != "AgentError" || e.Message != "model overloaded" {
		t.Fatalf("error %+v", e)
	}
	if th, _ := s.Thread(run["thread_id"].(string)); th.Status != agents.ThreadError {
		t.Fatalf("thread status %q", th.Status)
	}
	if s.Runs()[0].Status != agents.RunError {
		t.Fatalf("run %+v", s.Runs()[0])
	}

	_, ws = fullStream(t, s, runBody("quiet", "", "hi"))
	if ws.Err != nil || len(eventsNamed(ws, "end")) != 0 || len(eventsNamed(ws, "values")) == 0 {
		t.Fatalf("no-end stream: err %v, events %+v", ws.Err, ws.Events)
	}
}

func TestLastEventIDReplay(t *testing.T) {
	s := NewServer()
	defer s.Close()
	s.AddAgent("a1", Echo())
	run, full := fullStream(t, s, runBody("a1", "", "replay me"))
	tid, rid := run["thread_id"].(string), run["run_id"].(string)
	for _, after := range []int{1, 4, len(full.Events)} {
		got := stream(t, s, tid, rid, strconv.Itoa(after))
		want := full.Events[after:]
		if len(got.Events) != len(want) {
			t.Fatalf("after %d: %d events, want %d", after, len(got.Events), len(want))
		}
		for i := range want {
			if got.Events[i] != want[i] {
				t.Fatalf("after %d: event %d = %+v, want %+v", after, i, got.Events[i], want[i])
			}
		}
	}
}

func TestLiveFollow(t *testing.T) {
	s := NewServer()
	defer s.Close()
	release := make(chan struct{})
	s.AddAgent("a1", func(t Turn) []Step {
		<-release
		return []Step{Text("late")}
	})
	run := startRun(t, s, runBody("a1", "", "hi"))
	done := make(chan wireStream)
	url := s.URL + "/threads/" + run["thread_id"].(string) + "/runs/" + run["run_id"].(string) + "/stream"
	go func() { done <- rawStream(url, "") }()
	close(release)
	ws := <-done
	if ws.Events[0].Name != "metadata" || ws.Events[len(ws.Events)-1].Name != "end" || len(eventsNamed(ws, "messages")) != 1 {
		t.Fatalf("live stream %+v", ws.Events)
	}
}

func TestCutStreams(t *testing.T) {
	s := NewServer()
	defer s.Close()
	s.AddAgent("a1", Echo())
	run, full := fullStream(t, s, runBody("a1", "", "one two three four"))
	tid, rid := run["thread_id"].(string), run["run_id"].(string)
	s.CutStreamsAfter(3)
	var got []wireEvent
	for range 20 {
		last := ""
		if len(got) > 0 {
			last = got[len(got)-1].ID
		}
		ws := rawStream(s.URL+"/threads/"+tid+"/runs/"+rid+"/stream", last)
		got = append(got, ws.Events...)
		if len(got) == len(full.Events) {
			break
		}
		if len(ws.Events) != 3 || !errors.Is(ws.Err, io.ErrUnexpectedEOF) {
			t.Fatalf("cut connection: %d events, err %v", len(ws.Events), ws.Err)
		}
	}
	if len(got) != len(full.Events) || got[len(got)-1].Name != "end" {
		t.Fatalf("reassembled %d events, want %d", len(got), len(full.Events))
	}
}
