package agents

import (
	"encoding/json"
	"reflect"
	"strings"
	"sync"
	"testing"
)

// ev builds an event the way the SSE reader does: Mode and Namespace split
// from the raw name.
func ev(name, data string) Event {
	mode, rest, _ := strings.Cut(name, "|")
	var ns []string
	if rest != "" {
		ns = strings.Split(rest, "|")
	}
	return Event{Name: name, Mode: mode, Namespace: ns, Data: json.RawMessage(data)}
}

// Realistic event payloads of a deep agent run.
const (
	metadataEv   = `{"run_id":"run-1","attempt":1}`
	inputValues  = `{"messages":[{"type":"human","id":"h1","content":"What does Acme charge?"}]}`
	chunkMeta    = `{"langgraph_node":"model","langgraph_checkpoint_ns":"model:1f0"}`
	writeTodosAI = `{"model":{"messages":[{"type":"ai","id":"ai-1","content":"","tool_calls":[{"name":"write_todos","args":{"todos":[{"content":"Search pricing","status":"in_progress"},{"content":"Summarise","status":"pending"}]},"id":"call_t1","type":"tool_call"}]}]}}`
	writeTodosOK = `{"tools":{"messages":[{"type":"tool","name":"write_todos","tool_call_id":"call_t1","content":"Updated todo list"}],"todos":[{"content":"Search pricing","status":"in_progress"},{"content":"Summarise","status":"pending"}]}}`
	searchCall   = `{"model":{"messages":[{"type":"ai","id":"ai-2","content":"Let me search.","tool_calls":[{"name":"web_search","args":{"query":"acme pricing"},"id":"call_s1"}]}]}}`
	searchResult = `{"tools":{"messages":[{"type":"tool","name":"web_search","tool_call_id":"call_s1","content":"$10/month"}]}}`
	finalValues  = `{"messages":[{"type":"human","id":"h1","content":"What does Acme charge?"},{"type":"ai","id":"ai-2","content":"Let me search.","tool_calls":[{"name":"web_search","args":{},"id":"call_s1"}]},{"type":"tool","tool_call_id":"call_s1","content":"$10/month"},{"type":"ai","id":"ai-3","content":[{"type":"text","text":"Acme charges $10/month."}]}],"todos":[{"content":"Search pricing","status":"completed"},{"content":"Summarise","status":"completed"}]}`
)

func chunk(id, content string) string {
	return `[{"type":"AIMessageChunk","id":"` + id + `","content":` + content + `},` + chunkMeta + `]`
}

func TestTracker(t *testing.T) {
	tests := []struct {
		name   string
		events []Event
		want   RunView
		// wantInterrupts lists the ids of expected interrupts; Interrupts
		// are compared by id only (ParseInterrupts has its own tests).
		wantInterrupts []string
	}{
		{
			name: "token streaming then final values",
			events: []Event{
				ev("metadata", metadataEv),
				ev("values", inputValues),
				ev("messages", chunk("ai-3", `"Acme "`)),
				ev("messages", chunk("ai-3", `"charges "`)),
				ev("messages", chunk("ai-3", `"$10/month."`)),
			},
			want: RunView{RunID: "run-1", Text: "Acme charges $10/month.", Final: "Acme charges $10/month."},
		},
		{
			name: "final values win over streamed text and end is recorded",
			events: []Event{
				ev("metadata", metadataEv),
				ev("messages", chunk("ai-3", `"Acme charges"`)),
				ev("values", finalValues),
				ev("end", `null`),
			},
			want: RunView{
				RunID: "run-1", Text: "Acme charges", Final: "Acme charges $10/month.", Ended: true,
				Todos: []Todo{{"Search pricing", TodoCompleted}, {"Summarise", TodoCompleted}},
			},
		},
		{
			name: "todos pending to in_progress to completed",
			events: []Event{
				ev("metadata", metadataEv),
				ev("values", inputValues),
				ev("updates", `{"model":{"messages":[{"type":"ai","id":"ai-1","content":"","tool_calls":[{"name":"write_todos","args":{"todos":[{"content":"Search pricing","status":"pending"},{"content":"Summarise","status":"pending"}]},"id":"c1"}]}]}}`),
				ev("updates", `{"tools":{"messages":[{"type":"tool","tool_call_id":"c1","content":"ok"}],"todos":[{"content":"Search pricing","status":"in_progress"},{"content":"Summarise","status":"pending"}]}}`),
				ev("values", `{"messages":[],"todos":[{"content":"Search pricing","status":"completed"},{"content":"Summarise","status":"in-progress"}]}`),
			},
			want: RunView{RunID: "run-1", Todos: []Todo{{"Search pricing", TodoCompleted}, {"Summarise", TodoInProgress}}},
		},
		{
			name: "write_todos call updates the plan before its result and is not shown as activity",
			events: []Event{
				ev("updates", writeTodosAI),
			},
			want: RunView{Todos: []Todo{{"Search pricing", TodoInProgress}, {"Summarise", TodoPending}}},
		},
		{
			name: "tool activity set by the call and cleared by the result; preamble replaced by the answer",
			events: []Event{
				ev("metadata", metadataEv),
				ev("values", inputValues),
				ev("updates", writeTodosAI),
				ev("updates", writeTodosOK),
				ev("messages", chunk("ai-2", `"Let me search."`)),
				ev("updates", searchCall),
				ev("updates", searchResult),
				ev("messages", chunk("ai-3", `""`)),
				ev("messages", chunk("ai-3", `"Acme charges $10."`)),
			},
			want: RunView{
				RunID: "run-1", Text: "Acme charges $10.", Final: "Acme charges $10.",
				Todos: []Todo{{"Search pricing", TodoInProgress}, {"Summarise", TodoPending}},
			},
		},
		{
			name: "running tool is reported and the preamble stays until new text arrives",
			events: []Event{
				ev("messages", chunk("ai-2", `"Let me search."`)),
				ev("updates", searchCall),
				ev("messages", chunk("ai-3", `""`)),
			},
			want: RunView{Text: "Let me search.", Final: "Let me search.", Activity: "Running tool `web_search`"},
		},
		{
			name: "parallel tools and subagents",
			events: []Event{
				ev("updates", `{"model":{"messages":[{"type":"ai","id":"a","content":"","tool_calls":[
					{"name":"task","args":{"subagent_type":"researcher","description":"Find   Acme's\npricing page"},"id":"t1"},
					{"name":"web_search","args":{},"id":"s1"},
					{"name":"web_search","args":{},"id":"s2"},
					{"name":"read_file","args":{},"id":"r1"},
					{"name":"task","args":{"description":"Check competitors"},"id":"t2"}]}]}}`),
				ev("updates", `{"tools":{"messages":[{"type":"tool","tool_call_id":"r1","content":"..."}]}}`),
			},
			want: RunView{Activity: "Subagent `researcher`: Find Acme's pricing page\nRunning tool `web_search`\nSubagent: Check competitors"},
		},
		{
			name: "subagent chunks, values and todos stay out of the root view",
			events: []Event{
				ev("metadata", metadataEv),
				ev("updates", `{"model":{"messages":[{"type":"ai","id":"a1","content":"","tool_calls":[{"name":"task","args":{"subagent_type":"researcher","description":"Find pricing"},"id":"t1"}]}]}}`),
				ev("messages|tools:9c1f", `[{"type":"AIMessageChunk","id":"sub-1","content":"subagent notes"},{"langgraph_node":"model"}]`),
				ev("updates|tools:9c1f", `{"model":{"messages":[{"type":"ai","id":"sub-1","content":"subagent notes","tool_calls":[{"name":"web_search","args":{},"id":"x"}]}]}}`),
				ev("updates|tools:9c1f", `{"tools":{"todos":[{"content":"sub plan","status":"pending"}]}}`),
				ev("values|tools:9c1f", `{"messages":[{"type":"human","content":"Find pricing"},{"type":"ai","content":"subagent answer"}],"todos":[{"content":"sub plan","status":"pending"}]}`),
			},
			want: RunView{RunID: "run-1", Activity: "Subagent `researcher`: Find pricing"},
		},
		{
			name: "subagent result clears its activity",
			events: []Event{
				ev("updates", `{"model":{"messages":[{"type":"ai","id":"a1","content":"","tool_calls":[{"name":"task","args":{"subagent_type":"researcher","description":"Find pricing"},"id":"t1"}]}]}}`),
				ev("messages", `[{"type":"tool","id":"tm1","tool_call_id":"t1","content":"found it"},{"langgraph_node":"tools"}]`),
			},
			want: RunView{},
		},
		{
			name: "root-namespace tokens of subgraphs and middleware hooks are excluded",
			events: []Event{
				ev("messages", `[{"type":"AIMessageChunk","id":"s","content":"summary of history"},{"langgraph_node":"SummarizationMiddleware.before_model"}]`),
				ev("messages", `[{"type":"AIMessageChunk","id":"x","content":"nested"},{"langgraph_node":"model","langgraph_checkpoint_ns":"tools:1|model:2"}]`),
				ev("messages", chunk("ai-1", `"Hello"`)),
			},
			want: RunView{Text: "Hello", Final: "Hello"},
		},
		{
			name: "thinking, reasoning and tool_use blocks are excluded",
			events: []Event{
				ev("messages", chunk("ai-1", `[{"type":"thinking","thinking":"hmm","index":0}]`)),
				ev("messages", chunk("ai-1", `[{"type":"reasoning","reasoning":"because"},{"type":"text","text":"Hi","index":1}]`)),
				ev("messages", chunk("ai-1", `[{"type":"tool_use","id":"tu","name":"x","input":{}},{"type":"text","text":" there","index":1}]`)),
			},
			want: RunView{Text: "Hi there", Final: "Hi there"},
		},
		{
			name: "whole message repeats streamed text and replaces it",
			events: []Event{
				ev("messages", chunk("ai-1", `"Hel"`)),
				ev("messages", chunk("ai-1", `"lo"`)),
				ev("messages", `[{"type":"ai","id":"ai-1","content":"Hello"},{"langgraph_node":"model"}]`),
			},
			want: RunView{Text: "Hello", Final: "Hello"},
		},
		{
			name: "chunks mislabelled ai still accumulate; chunks without id continue the last message",
			events: []Event{
				ev("messages", `[{"type":"ai","id":"ai-1","content":"Hel"},{}]`),
				ev("messages", `[{"type":"ai","id":"ai-1","content":"lo"},{}]`),
				ev("messages", `[{"type":"AIMessageChunk","content":"!"},{}]`),
			},
			want: RunView{Text: "Hello!", Final: "Hello!"},
		},
		{
			name: "text from updates when the messages stream is absent",
			events: []Event{
				ev("updates", searchCall),
				ev("updates", searchResult),
				ev("updates", `{"model":{"messages":[{"type":"ai","id":"ai-3","content":"Acme charges $10/month."}]}}`),
				ev("updates", `{"SummarizationMiddleware.before_model":{"messages":[{"type":"ai","id":"old","content":"an old answer","tool_calls":[{"name":"web_search","args":{},"id":"old-call"}]}]}}`),
			},
			want: RunView{Text: "Acme charges $10/month.", Final: "Acme charges $10/month."},
		},
		{
			name: "error event message",
			events: []Event{
				ev("metadata", metadataEv),
				ev("messages", chunk("ai-1", `"partial"`)),
				ev("updates", searchCall),
				ev("error", `{"error":"GraphRecursionError","message":"Recursion limit of 25 reached"}`),
			},
			want: RunView{RunID: "run-1", Text: "Let me search.", Final: "Let me search.", Failure: "Recursion limit of 25 reached"},
		},
		{
			name:   "error event without message falls back to error",
			events: []Event{ev("error", `{"error":"InternalServerError"}`)},
			want:   RunView{Failure: "InternalServerError"},
		},
		{
			name:   "error event with nested error object",
			events: []Event{ev("error", `{"error":{"message":"boom"}}`)},
			want:   RunView{Failure: "boom"},
		},
		{
			name:   "error event with raw text",
			events: []Event{ev("error", `upstream exploded`)},
			want:   RunView{Failure: "upstream exploded"},
		},
		{
			name:   "error event with a JSON string and the first error is kept",
			events: []Event{ev("error", `"timeout"`), ev("error", `{"message":"second"}`)},
			want:   RunView{Failure: "timeout"},
		},
		{
			name:   "empty error event still fails",
			events: []Event{ev("error", ``)},
			want:   RunView{Failure: "the run failed without an error message"},
		},
		{
			name: "updates-mode interrupt stops activity",
			events: []Event{
				ev("metadata", metadataEv),
				ev("updates", `{"model":{"messages":[{"type":"ai","id":"a1","content":"Saving that.","tool_calls":[{"name":"write_file","args":{"file_path":"/memories/prefs.md","content":"tea"},"id":"w1"}]}]}}`),
				ev("updates", `{"__interrupt__":[{"value":{"action_requests":[{"name":"write_file","args":{"file_path":"/memories/prefs.md","content":"tea"},"description":"Write memory"}],"review_configs":[{"action_name":"write_file","allowed_decisions":["approve","reject"]}]},"id":"int-1"}]}`),
				ev("values", `{"messages":[{"type":"human","content":"remember I like tea"},{"type":"ai","id":"a1","content":"Saving that.","tool_calls":[{"name":"write_file","args":{},"id":"w1"}]}],"__interrupt__":[{"value":{"action_requests":[{"name":"write_file","args":{}}]},"id":"int-1"}]}`),
				ev("end", ``),
			},
			want:           RunView{RunID: "run-1", Text: "Saving that.", Final: "Saving that.", Ended: true},
			wantInterrupts: []string{"int-1"},
		},
		{
			name: "camelCase interrupt from a subgraph",
			events: []Event{
				ev("updates|tools:abc", `{"__interrupt__":[{"value":{"actionRequests":[{"name":"edit_file","args":{"path":"/memories/a.md","new_string":"x"}}],"reviewConfigs":[{"actionName":"edit_file","allowedDecisions":["approve","reject"]}]},"id":"int-ts"}]}`),
			},
			want:           RunView{},
			wantInterrupts: []string{"int-ts"},
		},
		{
			name: "previous turn's finished plan and answer are not shown",
			events: []Event{
				ev("metadata", metadataEv),
				ev("values", `{"messages":[{"type":"human","content":"old q"},{"type":"ai","id":"old","content":"old answer"},{"type":"human","content":"new q"}],"todos":[{"content":"old step","status":"completed"}]}`),
				ev("values", `{"messages":[{"type":"human","content":"old q"},{"type":"ai","id":"old","content":"old answer"},{"type":"human","content":"new q"}],"todos":[{"content":"old step","status":"completed"}]}`),
			},
			want: RunView{RunID: "run-1"},
		},
		{
			name: "an unfinished plan carried into a resumed run is shown",
			events: []Event{
				ev("metadata", metadataEv),
				ev("values", `{"messages":[],"todos":[{"content":"Save preference","status":"in_progress"}]}`),
			},
			want: RunView{RunID: "run-1", Todos: []Todo{{"Save preference", TodoInProgress}}},
		},
		{
			name: "a finished plan in a later values event is this run's",
			events: []Event{
				ev("metadata", metadataEv),
				ev("values", `{"messages":[],"todos":[{"content":"old","status":"completed"}]}`),
				ev("updates", writeTodosAI),
				ev("values", `{"todos":[{"content":"Search pricing","status":"completed"}]}`),
			},
			want: RunView{RunID: "run-1", Todos: []Todo{{"Search pricing", TodoCompleted}}},
		},
		{
			name: "values alone drive activity: unanswered calls run, answered ones do not",
			events: []Event{
				ev("values", `{"messages":[{"type":"human","content":"q"},{"type":"ai","content":"","tool_calls":[{"name":"web_search","args":{},"id":"s1"},{"name":"fetch_url","args":{},"id":"f1"}]},{"type":"tool","tool_call_id":"s1","content":"r"}]}`),
			},
			want: RunView{Activity: "Running tool `fetch_url`"},
		},
		{
			name: "mode derived from the raw name when the reader left it empty",
			events: []Event{
				{Name: "messages|tools:1", Data: json.RawMessage(chunk("sub", `"sub text"`))},
				{Name: "messages", Data: json.RawMessage(chunk("root", `"root text"`))},
				{Name: "metadata", Data: json.RawMessage(metadataEv)},
			},
			want: RunView{RunID: "run-1", Text: "root text", Final: "root text"},
		},
		{
			name: "unknown events, null node values and odd shapes are ignored",
			events: []Event{
				ev("custom", `{"progress":50}`),
				ev("debug", `not json`),
				ev("updates", `{"model":null,"tools":[1,2],"TodoListMiddleware.after_model":null}`),
				ev("updates", `[1,2,3]`),
				ev("values", `"a string"`),
				ev("values", `{"messages":{"not":"a list"},"todos":"nope"}`),
				ev("messages", `{"type":"AIMessageChunk","id":"bare","content":"bare chunk"}`),
				ev("messages", `[42, {}]`),
				ev("metadata", `[]`),
				ev("", ``),
			},
			want: RunView{Text: "bare chunk", Final: "bare chunk"},
		},
		{
			name: "LangChain constructor-form messages in values",
			events: []Event{
				ev("values", `{"messages":[{"lc":1,"type":"constructor","id":["langchain_core","messages","HumanMessage"],"kwargs":{"content":"q"}},{"lc":1,"type":"constructor","id":["langchain_core","messages","AIMessage"],"kwargs":{"id":"x","content":"constructed answer","tool_calls":[]}}]}`),
			},
			want: RunView{Final: "constructed answer"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := NewTracker()
			for _, e := range tc.events {
				tr.Apply(e)
			}
			got := tr.View()
			var ids []string
			for _, in := range got.Interrupts {
				ids = append(ids, in.ID)
			}
			if !reflect.DeepEqual(ids, tc.wantInterrupts) {
				t.Errorf("interrupt ids = %q, want %q", ids, tc.wantInterrupts)
			}
			got.Interrupts = nil
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("View() =\n %#v\nwant\n %#v", got, tc.want)
			}
		})
	}
}

func TestTrackerInterruptDetails(t *testing.T) {
	tr := NewTracker()
	tr.Apply(ev("updates", `{"__interrupt__":[{"value":{"action_requests":[{"name":"write_file","args":{"file_path":"/memories/prefs.md","content":"tea"}}],"review_configs":[{"action_name":"write_file","allowed_decisions":["approve","reject"]}]},"id":"int-1"}]}`))
	// The same interrupt again in values mode is not reported twice.
	tr.Apply(ev("values", `{"__interrupt__":[{"value":{"action_requests":[{"name":"write_file","args":{"file_path":"/memories/prefs.md","content":"tea"}}]},"id":"int-1"}]}`))
	v := tr.View()
	if len(v.Interrupts) != 1 {
		t.Fatalf("got %d interrupts, want 1", len(v.Interrupts))
	}
	path, content, ok := IsMemoryWrite(v.Interrupts[0].ActionRequests[0])
	if !ok || path != "/memories/prefs.md" || content != "tea" {
		t.Errorf("IsMemoryWrite = %q, %q, %v", path, content, ok)
	}
}

func TestTrackerViewIsASnapshot(t *testing.T) {
	tr := NewTracker()
	tr.Apply(ev("updates", writeTodosOK))
	v := tr.View()
	v.Todos[0].Status = "mutated"
	if got := tr.View().Todos[0].Status; got != TodoInProgress {
		t.Errorf("View shares its todos with the tracker: status %q", got)
	}
}

// TestTrackerConcurrentUse runs Apply and View on different goroutines, as
// the relay does (stream reader vs. Slack update loop); -race checks it.
func TestTrackerConcurrentUse(t *testing.T) {
	tr := NewTracker()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 200; i++ {
			tr.Apply(ev("messages", chunk("ai-1", `"x"`)))
			tr.Apply(ev("updates", writeTodosOK))
		}
	}()
	for i := 0; i < 200; i++ {
		_ = tr.View()
	}
	wg.Wait()
	if got := len(tr.View().Text); got != 200 {
		t.Errorf("text length = %d, want 200", got)
	}
}

func TestNormalizeTodoStatus(t *testing.T) {
	for in, want := range map[string]string{
		"pending": TodoPending, "": TodoPending, "weird": TodoPending,
		"in_progress": TodoInProgress, "In Progress": TodoInProgress, "in-progress": TodoInProgress, "inProgress": TodoInProgress,
		"completed": TodoCompleted, "DONE": TodoCompleted, "complete": TodoCompleted,
	} {
		if got := normalizeTodoStatus(in); got != want {
			t.Errorf("normalizeTodoStatus(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzTracker(f *testing.F) {
	seeds := [][2]string{
		{"metadata", metadataEv},
		{"values", inputValues},
		{"values", finalValues},
		{"messages", chunk("ai-1", `"tok"`)},
		{"messages", chunk("ai-1", `[{"type":"thinking","thinking":"x"},{"type":"text","text":"y"}]`)},
		{"messages|tools:1", chunk("s", `"sub"`)},
		{"updates", writeTodosAI},
		{"updates", writeTodosOK},
		{"updates", searchCall},
		{"updates", `{"model":null}`},
		{"updates", `{"__interrupt__":[{"value":{"actionRequests":[{"name":"x","arguments":{}}]},"id":"i"}]}`},
		{"error", `{"error":"E","message":"m"}`},
		{"end", ``},
		{"messages/partial", `[{"type":"ai","id":"p","content":"partial"}]`},
	}
	for i, s := range seeds {
		next := seeds[(i+1)%len(seeds)]
		f.Add(s[0], []byte(s[1]), next[0], []byte(next[1]))
	}
	f.Fuzz(func(t *testing.T, name1 string, data1 []byte, name2 string, data2 []byte) {
		tr := NewTracker()
		tr.Apply(ev("metadata", metadataEv))
		tr.Apply(ev(name1, string(data1)))
		tr.Apply(Event{Name: name2, Data: data2}) // Mode left for the tracker to derive
		tr.Apply(ev(name2, string(data1)))
		tr.Apply(ev(name1, string(data2)))
		v := tr.View()
		for _, in := range v.Interrupts {
			for i := range in.ActionRequests {
				_ = in.AllowedFor(i)
				_, _, _ = IsMemoryWrite(in.ActionRequests[i])
			}
		}
		_ = activityText(tr.pending)
	})
}
