package agents

import (
	"encoding/json"
	"testing"
)

func TestContentText(t *testing.T) {
	tests := []struct {
		name, raw, want string
	}{
		{"string", `"hello"`, "hello"},
		{"empty", ``, ""},
		{"null", `null`, ""},
		{"number", `42`, ""},
		{"text blocks joined", `[{"type":"text","text":"Hello, "},{"type":"text","text":"world"}]`, "Hello, world"},
		{"thinking skipped", `[{"type":"thinking","thinking":"secret","signature":"x"},{"type":"text","text":"shown"}]`, "shown"},
		{"reasoning skipped", `[{"type":"reasoning","reasoning":"why"},{"type":"text","text":"answer"}]`, "answer"},
		{"tool_use skipped", `[{"type":"text","text":"Let me check."},{"type":"tool_use","id":"t","name":"search","input":{"q":"x"}}]`, "Let me check."},
		{"image skipped", `[{"type":"image_url","image_url":{"url":"data:..."}},{"type":"text","text":"a cat"}]`, "a cat"},
		{"bare strings in a list", `["a", {"type":"text","text":"b"}, 3, null]`, "ab"},
		{"responses output_text", `[{"type":"output_text","text":"hi","annotations":[]}]`, "hi"},
		{"single block object", `{"type":"text","text":"solo"}`, "solo"},
		{"text block with non-string text", `[{"type":"text","text":5}]`, ""},
		{"malformed", `[{"type":"text","text":"x"`, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ContentText(json.RawMessage(tc.raw)); got != tc.want {
				t.Errorf("ContentText(%s) = %q, want %q", tc.raw, got, tc.want)
			}
		})
	}
}

func TestFinalText(t *testing.T) {
	tests := []struct {
		name, values, want string
	}{
		{
			name:   "last ai message of the turn",
			values: finalValues,
			want:   "Acme charges $10/month.",
		},
		{
			name:   "role-based messages",
			values: `{"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"first"},{"role":"tool","content":"r"},{"role":"assistant","content":"second"}]}`,
			want:   "second",
		},
		{
			name:   "bare message list",
			values: `[{"type":"human","content":"q"},{"type":"ai","content":"a"}]`,
			want:   "a",
		},
		{
			name:   "a trailing tool message does not hide the answer",
			values: `{"messages":[{"type":"human","content":"q"},{"type":"ai","content":"answer"},{"type":"tool","tool_call_id":"x","content":"late"}]}`,
			want:   "answer",
		},
		{
			name:   "previous turn's answer is not this turn's",
			values: `{"messages":[{"type":"human","content":"q1"},{"type":"ai","content":"old answer"},{"type":"human","content":"q2"}]}`,
			want:   "",
		},
		{
			name:   "tool-call-only last message has no text",
			values: `{"messages":[{"type":"human","content":"q"},{"type":"ai","content":"","tool_calls":[{"name":"x","args":{},"id":"1"}]}]}`,
			want:   "",
		},
		{
			name:   "LangChain constructor form",
			values: `{"messages":[{"lc":1,"type":"constructor","id":["langchain_core","messages","HumanMessage"],"kwargs":{"content":"q"}},{"lc":1,"type":"constructor","id":["langchain_core","messages","AIMessage"],"kwargs":{"content":[{"type":"text","text":"from lc"}]}}]}`,
			want:   "from lc",
		},
		{
			name:   "thinking blocks excluded",
			values: `{"messages":[{"type":"ai","content":[{"type":"thinking","thinking":"x"},{"type":"text","text":"visible"}]}]}`,
			want:   "visible",
		},
		{name: "no messages", values: `{"todos":[]}`, want: ""},
		{name: "messages not a list", values: `{"messages":"oops"}`, want: ""},
		{name: "empty", values: ``, want: ""},
		{name: "garbage", values: `{{{`, want: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := FinalText(json.RawMessage(tc.values)); got != tc.want {
				t.Errorf("FinalText = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestDecodeMessageToolCalls(t *testing.T) {
	raw := `{"type":"ai","content":"","additional_kwargs":{"tool_calls":[{"id":"c1","type":"function","function":{"name":"web_search","arguments":"{\"query\":\"acme\",\"n\":3}"}}]}}`
	m, ok := decodeMessage(json.RawMessage(raw))
	if !ok || len(m.ToolCalls) != 1 {
		t.Fatalf("decodeMessage = %+v, %v", m, ok)
	}
	c := m.ToolCalls[0]
	if c.ID != "c1" || c.Name != "web_search" || c.Args["query"] != "acme" || c.Args["n"] != json.Number("3") {
		t.Errorf("tool call = %+v", c)
	}
}

func TestMessageJSON(t *testing.T) {
	tests := []struct {
		name    string
		msg     Message
		want    string
		wantErr bool
	}{
		{name: "string", msg: Message{Role: RoleUser, Content: "hi"}, want: `{"role":"user","content":"hi"}`},
		{
			name: "blocks",
			msg:  Message{Role: RoleUser, Blocks: []ContentBlock{TextBlock("look"), ImageBlock("image/png", []byte{1, 2})}},
			want: `{"role":"user","content":[{"type":"text","text":"look"},{"type":"image","source_type":"base64","data":"AQI=","mime_type":"image/png"}]}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := json.Marshal(tc.msg)
			if err != nil || string(b) != tc.want {
				t.Fatalf("Marshal = %s, %v; want %s", b, err, tc.want)
			}
			var back Message
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatalf("Unmarshal: %v", err)
			}
			if back.Content != tc.msg.Content && back.Content != blocksText(tc.msg.Blocks) {
				t.Errorf("Content = %q", back.Content)
			}
		})
	}
	for _, bad := range []string{
		`{"role":"user"}`,
		`{"role":"user","content":7}`,
		`{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,AQI="}}]}`,
		`{"role":"user","content":[{"type":"image","source_type":"base64","data":"not base64!","mime_type":"image/png"}]}`,
		`{"role":"user","content":[{"type":"image","source_type":"base64","data":"AQI=","mime_type":"text/plain"}]}`,
		`{"role":"user","content":[{"type":"image","source_type":"url","data":"AQI=","mime_type":"image/png"}]}`,
		`{"role":"user","content":[{"text":"no type"}]}`,
	} {
		var m Message
		if err := json.Unmarshal([]byte(bad), &m); err == nil {
			t.Errorf("Unmarshal(%s) accepted it; want an error", bad)
		}
	}
}

// FuzzMessageJSON: whatever input message decodes passes its checks and
// survives a round trip unchanged.
func FuzzMessageJSON(f *testing.F) {
	f.Add(`{"role":"user","content":"hi"}`)
	f.Add(`{"role":"user","content":[{"type":"text","text":"a"},{"type":"image","source_type":"base64","data":"AQI=","mime_type":"image/png"}]}`)
	f.Add(`{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}`)
	f.Add(`{"role":"user","content":null}`)
	f.Fuzz(func(t *testing.T, in string) {
		var m Message
		if json.Unmarshal([]byte(in), &m) != nil {
			return
		}
		for _, b := range m.Blocks {
			if err := b.Check(); err != nil {
				t.Fatalf("decoded a block that fails Check: %+v: %v", b, err)
			}
		}
		out, err := json.Marshal(m)
		if err != nil {
			t.Fatalf("Marshal(%+v): %v", m, err)
		}
		var back Message
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("re-decoding %s: %v", out, err)
		}
		again, _ := json.Marshal(back)
		if string(again) != string(out) {
			t.Fatalf("round trip changed the message: %s -> %s", out, again)
		}
	})
}
