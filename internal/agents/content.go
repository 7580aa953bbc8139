package agents

import (
	"bytes"
	"encoding/json"
	"strings"
)

// Message kinds after normalising the runtime's several spellings
// ("ai", "AIMessageChunk", role "assistant", LangChain constructor form, ...).
const (
	kindAI     = "ai"
	kindHuman  = "human"
	kindTool   = "tool"
	kindSystem = "system"
)

// ContentText returns the user-visible text of a message's content: the
// string itself, or the text blocks of a block list joined without a
// separator (streamed blocks are fragments of one text). Thinking,
// reasoning, tool_use, image and unknown blocks are skipped because they
// are not meant for the reader.
func ContentText(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return ""
	}
	switch raw[0] {
	case '"':
		return decodeJSONString(raw)
	case '{':
		return textOfBlock(raw)
	case '[':
		var blocks []json.RawMessage
		if json.Unmarshal(raw, &blocks) != nil {
			return ""
		}
		var b strings.Builder
		for _, block := range blocks {
			block = bytes.TrimSpace(block)
			if len(block) > 0 && block[0] == '"' {
				// LangChain allows bare strings inside a content list.
				b.WriteString(decodeJSONString(block))
				continue
			}
			b.WriteString(textOfBlock(block))
		}
		return b.String()
	}
	return ""
}

// textOfBlock returns the text of one content block if it is a text block.
func textOfBlock(raw json.RawMessage) string {
	fields := decodeObjectFields(raw)
	switch firstStringField(fields, "type") {
	case "text", "output_text":
		return firstStringField(fields, "text")
	}
	return ""
}

// FinalText returns the answer of the latest turn in a state snapshot: the
// text of the last AI message that comes after the last human message of
// values.messages. values may be the state object or a bare message list.
//
// Unlike "the last AI message anywhere", this never returns the previous
// turn's answer from a thread whose new run failed before replying (the
// thread then ends with the new human message), which would repost a stale
// answer. It returns "" when the turn has no AI message or when that
// message carries only tool calls.
func FinalText(values json.RawMessage) string {
	msg, ok := lastTurnAI(messagesOfState(values))
	if !ok {
		return ""
	}
	return ContentText(msg.Content)
}

// runtimeMessage is a message normalised from any of the runtime's shapes.
type runtimeMessage struct {
	Kind       string // kindAI, kindHuman, kindTool, kindSystem or "" when unknown
	Chunk      bool   // a streamed fragment to append, not a whole message
	ID         string
	Name       string
	ToolCallID string
	Content    json.RawMessage
	ToolCalls  []runtimeToolCall
}

// runtimeToolCall is one tool call of an AI message.
type runtimeToolCall struct {
	ID   string
	Name string
	Args map[string]any
}

// messagesOfState returns the messages of a state object ({"messages":[...]})
// or of a bare message list.
func messagesOfState(raw json.RawMessage) []runtimeMessage {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '{' {
		raw = decodeObjectFields(raw)["messages"]
	}
	return decodeMessageList(raw)
}

// decodeMessageList decodes a list of messages, skipping entries that are
// not messages. A single message object is accepted as a list of one.
func decodeMessageList(raw json.RawMessage) []runtimeMessage {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '{' {
		if m, ok := decodeMessage(raw); ok {
			return []runtimeMessage{m}
		}
		return nil
	}
	var items []json.RawMessage
	if json.Unmarshal(raw, &items) != nil {
		return nil
	}
	msgs := make([]runtimeMessage, 0, len(items))
	for _, item := range items {
		if m, ok := decodeMessage(item); ok {
			msgs = append(msgs, m)
		}
	}
	return msgs
}

// decodeMessage normalises one message: the Agent Server's dict form
// ({"type":"ai",...}), chat form ({"role":"assistant",...}) or LangChain's
// serialized constructor form ({"lc":1,"type":"constructor","id":[...,
// "AIMessage"],"kwargs":{...}}).
func decodeMessage(raw json.RawMessage) (runtimeMessage, bool) {
	fields := decodeObjectFields(raw)
	if fields == nil {
		return runtimeMessage{}, false
	}
	typ := firstStringField(fields, "type")
	if typ == "constructor" {
		var path []string
		_ = json.Unmarshal(fields["id"], &path)
		if len(path) > 0 {
			typ = path[len(path)-1]
		}
		if kwargs := decodeObjectFields(fields["kwargs"]); kwargs != nil {
			fields = kwargs
		}
	}
	var m runtimeMessage
	m.Kind, m.Chunk = messageKind(typ, firstStringField(fields, "role"))
	m.ID = firstStringField(fields, "id")
	m.Name = firstStringField(fields, "name")
	m.ToolCallID = firstStringField(fields, "tool_call_id", "toolCallId")
	m.Content = fields["content"]
	m.ToolCalls = decodeToolCalls(firstPresentField(fields, "tool_calls", "toolCalls"))
	if len(m.ToolCalls) == 0 {
		// OpenAI-format calls that only survived in additional_kwargs.
		extra := decodeObjectFields(firstPresentField(fields, "additional_kwargs", "additionalKwargs"))
		m.ToolCalls = decodeToolCalls(firstPresentField(extra, "tool_calls", "toolCalls"))
	}
	return m, true
}

// messageKind maps a message type or role to a kind, and reports whether
// the type names a streamed chunk.
func messageKind(typ, role string) (kind string, chunk bool) {
	chunk = strings.HasSuffix(typ, "Chunk")
	switch strings.TrimSuffix(typ, "Chunk") {
	case "ai", "AIMessage", "AI":
		return kindAI, chunk
	case "human", "HumanMessage", "user":
		return kindHuman, chunk
	case "tool", "ToolMessage":
		return kindTool, chunk
	case "system", "SystemMessage":
		return kindSystem, chunk
	}
	switch role {
	case RoleAssistant, "ai":
		return kindAI, chunk
	case RoleUser, "human":
		return kindHuman, chunk
	case RoleTool:
		return kindTool, chunk
	case RoleSystem:
		return kindSystem, chunk
	}
	return "", chunk
}

// decodeToolCalls decodes LangChain tool calls ({"name","args","id"}) and
// OpenAI-format ones ({"id","function":{"name","arguments":"<json>"}}).
func decodeToolCalls(raw json.RawMessage) []runtimeToolCall {
	var items []json.RawMessage
	if len(raw) == 0 || json.Unmarshal(raw, &items) != nil {
		return nil
	}
	var calls []runtimeToolCall
	for _, item := range items {
		fields := decodeObjectFields(item)
		if fields == nil {
			continue
		}
		call := runtimeToolCall{
			ID:   firstStringField(fields, "id"),
			Name: firstStringField(fields, "name"),
			Args: decodeArgs(firstPresentField(fields, "args", "arguments")),
		}
		if fn := decodeObjectFields(fields["function"]); fn != nil {
			if call.Name == "" {
				call.Name = firstStringField(fn, "name")
			}
			if call.Args == nil {
				call.Args = decodeArgs(fn["arguments"])
			}
		}
		if call.Name != "" || call.ID != "" {
			calls = append(calls, call)
		}
	}
	return calls
}

// decodeArgs decodes tool arguments given as an object or as a JSON string
// holding an object. Numbers stay json.Number so that arguments sent back in
// an edit decision keep their exact value.
func decodeArgs(raw json.RawMessage) map[string]any {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		raw = json.RawMessage(decodeJSONString(raw))
	}
	if len(raw) == 0 || raw[0] != '{' {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var args map[string]any
	if dec.Decode(&args) != nil {
		return nil
	}
	return args
}

// lastTurnAI returns the last AI message after the last human message.
func lastTurnAI(msgs []runtimeMessage) (runtimeMessage, bool) {
	for i := len(msgs) - 1; i >= 0; i-- {
		switch msgs[i].Kind {
		case kindAI:
			return msgs[i], true
		case kindHuman:
			return runtimeMessage{}, false
		}
	}
	return runtimeMessage{}, false
}

// decodeObjectFields returns the fields of a JSON object, or nil when raw is
// not an object. Fields keep their raw form so that one field of an
// unexpected type does not spoil the others.
func decodeObjectFields(raw json.RawMessage) map[string]json.RawMessage {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return nil
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(raw, &fields) != nil {
		return nil
	}
	return fields
}

// decodeJSONString returns the value of a JSON string, or "" when raw is
// not a string.
func decodeJSONString(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

// firstStringField returns the first of keys whose value is a non-empty
// string.
func firstStringField(fields map[string]json.RawMessage, keys ...string) string {
	for _, k := range keys {
		if s := decodeJSONString(fields[k]); s != "" {
			return s
		}
	}
	return ""
}

// firstPresentField returns the first of keys that is present and not null.
func firstPresentField(fields map[string]json.RawMessage, keys ...string) json.RawMessage {
	for _, k := range keys {
		v := bytes.TrimSpace(fields[k])
		if len(v) > 0 && !bytes.Equal(v, []byte("null")) {
			return v
		}
	}
	return nil
}
