package agents

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

// Interrupt values as the runtimes send them.
const (
	hitlSnake = `{"action_requests":[{"name":"write_file","args":{"file_path":"/memories/prefs.md","content":"likes tea"},"description":"Tool execution requires approval\n\nTool: write_file"}],"review_configs":[{"action_name":"write_file","allowed_decisions":["approve","reject"],"args_schema":{}}]}`
	hitlCamel = `{"actionRequests":[{"name":"write_file","args":{"file_path":"/memories/prefs.md","content":"likes tea"},"description":"Tool execution requires approval\n\nTool: write_file"}],"reviewConfigs":[{"actionName":"write_file","allowedDecisions":["approve","reject"]}]}`
)

var memoryWrite = Interrupt{
	ID: "int-1",
	ActionRequests: []ActionRequest{{
		Name:        "write_file",
		Args:        map[string]any{"file_path": "/memories/prefs.md", "content": "likes tea"},
		Description: "Tool execution requires approval\n\nTool: write_file",
	}},
	ReviewConfigs: []ReviewConfig{{ActionName: "write_file", AllowedDecisions: []string{"approve", "reject"}}},
}

func TestParseInterrupts(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want []Interrupt
	}{
		{name: "values-mode list", raw: `[{"value":` + hitlSnake + `,"id":"int-1"}]`, want: []Interrupt{memoryWrite}},
		{name: "updates-mode object", raw: `{"__interrupt__":[{"value":` + hitlSnake + `,"id":"int-1"}]}`, want: []Interrupt{memoryWrite}},
		{name: "camelCase value", raw: `[{"value":` + hitlCamel + `,"id":"int-1"}]`, want: []Interrupt{memoryWrite}},
		{
			name: "whole state object",
			raw:  `{"messages":[{"type":"human","content":"q"}],"todos":[],"__interrupt__":[{"value":` + hitlSnake + `,"id":"int-1"}]}`,
			want: []Interrupt{memoryWrite},
		},
		{name: "thread interrupts map", raw: `{"task-9":[{"value":` + hitlSnake + `,"id":"int-1"}]}`, want: []Interrupt{memoryWrite}},
		{
			name: "thread object",
			raw:  `{"thread_id":"t","status":"interrupted","values":{"messages":[]},"interrupts":{"task-9":[{"value":` + hitlCamel + `,"id":"int-1"}]}}`,
			want: []Interrupt{memoryWrite},
		},
		{
			name: "thread object with interrupts only in values",
			raw:  `{"thread_id":"t","interrupts":{},"values":{"__interrupt__":[{"value":` + hitlSnake + `,"id":"int-1"}]}}`,
			want: []Interrupt{memoryWrite},
		},
		{name: "bare HITL request", raw: hitlSnake, want: []Interrupt{withID(memoryWrite, "")}},
		{
			name: "older item with resumable/ns/when and legacy arguments",
			raw:  `[{"value":{"action_requests":[{"name":"write_file","arguments":{"file_path":"/memories/prefs.md","content":"likes tea"}}],"review_configs":[{"action_name":"write_file","allowed_decisions":["approve","reject"],"description":"Tool execution requires approval\n\nTool: write_file","arguments_schema":{}}]},"resumable":true,"ns":["model:1f0"],"when":"during"}]`,
			want: []Interrupt{withID(memoryWrite, "")},
		},
		{
			name: "legacy review configs keyed by tool name",
			raw:  `[{"value":{"action_requests":[{"name":"write_file","arguments":{"file_path":"/memories/prefs.md","content":"likes tea"},"description":"Tool execution requires approval\n\nTool: write_file"}],"review_configs":{"write_file":{"allowed_responses":["approve","reject"]}}},"id":"int-1"}]`,
			want: []Interrupt{memoryWrite},
		},
		{
			name: "same interrupt twice in a thread map is reported once",
			raw:  `{"a":[{"value":` + hitlSnake + `,"id":"int-1"}],"b":[{"value":` + hitlSnake + `,"id":"int-1"}]}`,
			want: []Interrupt{memoryWrite},
		},
		{
			name: "non-HITL interrupt keeps its raw value",
			raw:  `[{"value":"Which region?","id":"q1"}]`,
			want: []Interrupt{{ID: "q1", Value: json.RawMessage(`"Which region?"`)}},
		},
		{
			name: "args given as a JSON string, camelCase decisions upper-cased",
			raw:  `[{"value":{"actionRequests":[{"name":"send_email","args":"{\"to\":\"a@b.c\"}"}],"reviewConfigs":[{"actionName":"send_email","allowedDecisions":["APPROVE","edit","edit"]}]},"id":"e"}]`,
			want: []Interrupt{{
				ID:             "e",
				ActionRequests: []ActionRequest{{Name: "send_email", Args: map[string]any{"to": "a@b.c"}}},
				ReviewConfigs:  []ReviewConfig{{ActionName: "send_email", AllowedDecisions: []string{"approve", "edit"}}},
			}},
		},
		{name: "null", raw: `null`},
		{name: "empty", raw: ``},
		{name: "empty list", raw: `[]`},
		{name: "state without interrupts", raw: `{"messages":[{"type":"ai","content":"x"}],"todos":[{"content":"a","status":"pending"}]}`},
		{name: "list of junk", raw: `[1,"x",null,[],{}]`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseInterrupts(json.RawMessage(tc.raw))
			if err != nil {
				t.Fatalf("ParseInterrupts: %v", err)
			}
			for i := range got {
				if tc.want != nil && i < len(tc.want) && tc.want[i].Value == nil {
					got[i].Value = nil // compared separately below
				}
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParseInterrupts =\n %#v\nwant\n %#v", got, tc.want)
			}
		})
	}
}

func withID(in Interrupt, id string) Interrupt {
	in.ID = id
	return in
}

func TestParseInterruptsKeepsValue(t *testing.T) {
	got, err := ParseInterrupts(json.RawMessage(`[{"value":` + hitlSnake + `,"id":"int-1"}]`))
	if err != nil || len(got) != 1 {
		t.Fatalf("ParseInterrupts = %v, %v", got, err)
	}
	if !json.Valid(got[0].Value) || len(got[0].Value) != len(hitlSnake) {
		t.Errorf("Value = %s, want the raw HITL request", got[0].Value)
	}
}

func TestParseInterruptsErrors(t *testing.T) {
	for _, raw := range []string{`{"__interrupt__":[`, `"just a string"`, `42`, `true`, `not json`} {
		if _, err := ParseInterrupts(json.RawMessage(raw)); err == nil {
			t.Errorf("ParseInterrupts(%s): want an error", raw)
		}
	}
}

func TestAllowedFor(t *testing.T) {
	in := Interrupt{
		ActionRequests: []ActionRequest{{Name: "write_file"}, {Name: "web_search"}, {Name: "edit_file"}, {Name: "write_file"}},
		ReviewConfigs: []ReviewConfig{
			{ActionName: "write_file", AllowedDecisions: []string{"approve", "reject"}},
			{ActionName: "web_search", AllowedDecisions: []string{"approve", "edit", "reject", "respond"}},
		},
	}
	tests := []struct {
		idx  int
		want []string
	}{
		{0, []string{"approve", "reject"}},
		{1, []string{"approve", "edit", "reject", "respond"}},
		{2, []string{"approve", "reject"}}, // no config: default
		{3, []string{"approve", "reject"}}, // found by name, not position
		{-1, nil},
		{4, nil},
	}
	for _, tc := range tests {
		if got := in.AllowedFor(tc.idx); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("AllowedFor(%d) = %v, want %v", tc.idx, got, tc.want)
		}
	}
	// Callers may modify the result without touching the interrupt.
	in.AllowedFor(1)[0] = "mutated"
	if in.ReviewConfigs[1].AllowedDecisions[0] != "approve" {
		t.Error("AllowedFor shares its slice with the interrupt")
	}
}

func TestValidate(t *testing.T) {
	two := Interrupt{
		ActionRequests: []ActionRequest{{Name: "write_file"}, {Name: "send_email"}},
		ReviewConfigs: []ReviewConfig{
			{ActionName: "write_file", AllowedDecisions: []string{"approve", "reject"}},
			{ActionName: "send_email", AllowedDecisions: []string{"approve", "edit", "reject", "respond"}},
		},
	}
	approve := Decision{Type: DecisionApprove}
	tests := []struct {
		name      string
		in        Interrupt
		decisions []Decision
		wantErr   bool
	}{
		{"all approved", two, []Decision{approve, approve}, false},
		{"reject with message", two, []Decision{{Type: DecisionReject, Message: "no"}, approve}, false},
		{"edit with action", two, []Decision{approve, {Type: DecisionEdit, EditedAction: &EditedAction{Name: "send_email", Args: map[string]any{}}}}, false},
		{"respond with message", two, []Decision{approve, {Type: DecisionRespond, Message: "sent it myself"}}, false},
		{"too few", two, []Decision{approve}, true},
		{"too many", two, []Decision{approve, approve, approve}, true},
		{"none", two, nil, true},
		{"not allowed", two, []Decision{{Type: DecisionEdit, EditedAction: &EditedAction{Name: "write_file"}}, approve}, true},
		{"unknown type", two, []Decision{{Type: "ignore"}, approve}, true},
		{"edit without action", two, []Decision{approve, {Type: DecisionEdit}}, true},
		{"respond without message", two, []Decision{approve, {Type: DecisionRespond}}, true},
		{"not a HITL interrupt", Interrupt{ID: "q", Value: json.RawMessage(`"?"`)}, nil, true},
		{"default configs allow approve", Interrupt{ActionRequests: []ActionRequest{{Name: "x"}}}, []Decision{approve}, false},
		{"default configs forbid edit", Interrupt{ActionRequests: []ActionRequest{{Name: "x"}}}, []Decision{{Type: DecisionEdit, EditedAction: &EditedAction{Name: "x"}}}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.in.Validate(tc.decisions)
			if (err != nil) != tc.wantErr {
				t.Fatalf("Validate = %v, wantErr %v", err, tc.wantErr)
			}
			if err != nil && !errors.Is(err, ErrInvalidDecisions) {
				t.Errorf("error %v does not wrap ErrInvalidDecisions", err)
			}
		})
	}
}

func TestIsMemoryWrite(t *testing.T) {
	tests := []struct {
		name        string
		a           ActionRequest
		wantPath    string
		wantContent string
		wantOK      bool
	}{
		{"write_file file_path", ActionRequest{Name: "write_file", Args: map[string]any{"file_path": "/memories/prefs.md", "content": "tea"}}, "/memories/prefs.md", "tea", true},
		{"write_file path", ActionRequest{Name: "write_file", Args: map[string]any{"path": "/memories/notes/a.txt", "content": "x"}}, "/memories/notes/a.txt", "x", true},
		{"edit_file new_string", ActionRequest{Name: "edit_file", Args: map[string]any{"file_path": "/memories/prefs.md", "old_string": "tea", "new_string": "coffee"}}, "/memories/prefs.md", "coffee", true},
		{"edit_file camelCase", ActionRequest{Name: "edit_file", Args: map[string]any{"filePath": "/memories/p.md", "newString": "y"}}, "/memories/p.md", "y", true},
		{"empty content still a memory write", ActionRequest{Name: "write_file", Args: map[string]any{"file_path": "/memories/empty.md"}}, "/memories/empty.md", "", true},
		{"outside memories", ActionRequest{Name: "write_file", Args: map[string]any{"file_path": "/workspace/a.md", "content": "x"}}, "", "", false},
		{"prefix trick", ActionRequest{Name: "write_file", Args: map[string]any{"file_path": "/memories-old/a.md"}}, "", "", false},
		{"dot-dot escape", ActionRequest{Name: "write_file", Args: map[string]any{"file_path": "/memories/../etc/passwd"}}, "", "", false},
		{"memories dir itself", ActionRequest{Name: "write_file", Args: map[string]any{"file_path": "/memories"}}, "", "", false},
		{"relative path", ActionRequest{Name: "write_file", Args: map[string]any{"file_path": "memories/a.md"}}, "", "", false},
		{"other tool", ActionRequest{Name: "read_file", Args: map[string]any{"file_path": "/memories/a.md"}}, "", "", false},
		{"non-string path", ActionRequest{Name: "write_file", Args: map[string]any{"file_path": 7}}, "", "", false},
		{"nil args", ActionRequest{Name: "edit_file"}, "", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, c, ok := IsMemoryWrite(tc.a)
			if p != tc.wantPath || c != tc.wantContent || ok != tc.wantOK {
				t.Errorf("IsMemoryWrite = %q, %q, %v; want %q, %q, %v", p, c, ok, tc.wantPath, tc.wantContent, tc.wantOK)
			}
		})
	}
}

func FuzzParseInterrupts(f *testing.F) {
	for _, seed := range []string{
		`[{"value":` + hitlSnake + `,"id":"int-1"}]`,
		`{"__interrupt__":[{"value":` + hitlCamel + `,"id":"i"}]}`,
		`{"task":[{"value":{"action_requests":[{"name":"edit_file","arguments":{"path":"/memories/x","new_string":"y"}}],"review_configs":{"edit_file":{"description":"d"}}},"resumable":true,"ns":["a"],"when":"during"}]}`,
		`{"interrupts":{},"values":{"__interrupt__":[]}}`,
		`[[[[[[[[[[{"value":1}]]]]]]]]]]`,
		`null`, `[]`, `{}`, `"x"`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		got, err := ParseInterrupts(raw)
		if err != nil {
			return
		}
		for _, in := range got {
			decisions := make([]Decision, len(in.ActionRequests))
			for i, a := range in.ActionRequests {
				allowed := in.AllowedFor(i)
				if len(allowed) == 0 {
					t.Fatalf("AllowedFor(%d) is empty for %+v", i, in)
				}
				decisions[i] = Decision{Type: allowed[0], Message: "m", EditedAction: &EditedAction{Name: a.Name + "x"}}
				_, _, _ = IsMemoryWrite(a)
			}
			if len(decisions) > 0 {
				if err := in.Validate(decisions); err != nil {
					t.Fatalf("Validate rejects the first allowed decisions: %v (%+v)", err, in)
				}
			}
		}
	})
}
