package agents

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"reflect"
	"slices"
	"sort"
	"strings"
)

// ErrInvalidDecisions reports resume decisions that the interrupt would
// reject: the runtime raises on a count mismatch or a disallowed type, so
// the bot checks before it resumes.
var ErrInvalidDecisions = errors.New("agents: invalid decisions")

// Interrupt is one pending human-in-the-loop interrupt of a thread.
type Interrupt struct {
	// ID identifies the interrupt; empty on older servers.
	ID string
	// ActionRequests are the tool calls awaiting a decision, in the order
	// the resume decisions must follow.
	ActionRequests []ActionRequest
	// ReviewConfigs say which decisions each action allows.
	ReviewConfigs []ReviewConfig
	// Value is the raw interrupt value. It is the only content of an
	// interrupt that is not a HITL request (e.g. a plain question).
	Value json.RawMessage
}

// ActionRequest is a tool call the agent wants approved.
type ActionRequest struct {
	Name        string
	Args        map[string]any
	Description string
}

// ReviewConfig lists the decisions allowed for actions of one tool.
type ReviewConfig struct {
	ActionName       string
	AllowedDecisions []string
}

// defaultDecisions apply to a request without a review config: the
// deepagents filesystem permissions use exactly these.
var defaultDecisions = [...]string{DecisionApprove, DecisionReject}

// maxInterruptNesting bounds how deep ParseInterrupts looks into nested
// lists and wrappers, so hostile input cannot make it recurse without end.
const maxInterruptNesting = 6

// ParseInterrupts extracts interrupts from any of the shapes the runtime
// uses:
//   - a values-mode list [{"value":{...},"id":"..."}];
//   - an updates-mode object {"__interrupt__":[...]}, or a whole state or
//     values object holding "__interrupt__";
//   - a thread object holding "interrupts", or the thread's interrupts map
//     {"<task id>":[...]};
//   - older items {"value","resumable","ns","when"} without an id;
//   - a bare HITL request {"action_requests":[...],...}.
//
// HITL values may be snake_case (Python runtimes) or camelCase (TypeScript
// runtimes), with "args" or the legacy "arguments", and review configs as a
// list or as the legacy map keyed by tool name. Interrupts with the same id
// are reported once. Shapes it does not recognise yield no interrupts; only
// malformed JSON or a bare scalar is an error.
func ParseInterrupts(raw json.RawMessage) ([]Interrupt, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, nil
	}
	if !json.Valid(raw) {
		return nil, fmt.Errorf("agents: parse interrupts: invalid JSON")
	}
	if raw[0] != '{' && raw[0] != '[' {
		return nil, fmt.Errorf("agents: parse interrupts: want an object or a list, got %.20s", raw)
	}
	var p interruptParser
	p.container(raw, 0)
	return p.found, nil
}

// interruptParser collects interrupts while walking a payload.
type interruptParser struct {
	found []Interrupt
}

func (p *interruptParser) add(in Interrupt) {
	p.found = mergeInterrupts(p.found, []Interrupt{in})
}

// container handles a payload that holds interrupts somewhere inside.
func (p *interruptParser) container(raw json.RawMessage, depth int) {
	if depth > maxInterruptNesting {
		return
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return
	}
	if raw[0] == '[' {
		p.list(raw, depth)
		return
	}
	fields := decodeObjectFields(raw)
	if fields == nil {
		return
	}
	switch {
	case fields["__interrupt__"] != nil:
		p.container(fields["__interrupt__"], depth+1)
	case fields["interrupts"] != nil || fields["values"] != nil:
		// A thread: its interrupts map, else its values' __interrupt__.
		before := len(p.found)
		p.container(fields["interrupts"], depth+1)
		if len(p.found) == before {
			p.container(fields["values"], depth+1)
		}
	case fields["value"] != nil || isHITLRequest(fields):
		p.item(fields)
	default:
		// The thread interrupts map: task id -> list of interrupts.
		keys := make([]string, 0, len(fields))
		for k := range fields {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if v := bytes.TrimSpace(fields[k]); len(v) > 0 && v[0] == '[' {
				p.list(v, depth+1)
			}
		}
	}
}

// list handles a list of interrupt items (possibly nested lists).
func (p *interruptParser) list(raw json.RawMessage, depth int) {
	if depth > maxInterruptNesting {
		return
	}
	var items []json.RawMessage
	if json.Unmarshal(raw, &items) != nil {
		return
	}
	for _, item := range items {
		item = bytes.TrimSpace(item)
		if len(item) == 0 {
			continue
		}
		switch item[0] {
		case '[':
			p.list(item, depth+1)
		case '{':
			if fields := decodeObjectFields(item); fields != nil {
				p.item(fields)
			}
		}
	}
}

// item handles one interrupt: {"value":..,"id":..} or a bare HITL request.
func (p *interruptParser) item(fields map[string]json.RawMessage) {
	id := firstStringField(fields, "id", "interrupt_id", "interruptId")
	if value := fields["value"]; value != nil {
		p.add(interruptFromValue(id, value))
		return
	}
	if isHITLRequest(fields) {
		raw, _ := json.Marshal(fields)
		p.add(interruptFromValue(id, raw))
	}
}

func isHITLRequest(fields map[string]json.RawMessage) bool {
	return fields["action_requests"] != nil || fields["actionRequests"] != nil
}

// interruptFromValue decodes an interrupt value; a value that is not a HITL
// request is kept raw.
func interruptFromValue(id string, value json.RawMessage) Interrupt {
	in := Interrupt{ID: id, Value: bytes.TrimSpace(value)}
	fields := decodeObjectFields(value)
	if fields == nil || !isHITLRequest(fields) {
		return in
	}
	in.ReviewConfigs = decodeReviewConfigs(firstPresentField(fields, "review_configs", "reviewConfigs"))
	var items []json.RawMessage
	_ = json.Unmarshal(firstPresentField(fields, "action_requests", "actionRequests"), &items)
	for _, item := range items {
		f := decodeObjectFields(item)
		if f == nil {
			continue
		}
		in.ActionRequests = append(in.ActionRequests, ActionRequest{
			Name:        firstStringField(f, "name", "action"),
			Args:        decodeArgs(firstPresentField(f, "args", "arguments")),
			Description: firstStringField(f, "description"),
		})
	}
	// Older langchain put the description in the review config instead.
	descriptions := legacyReviewDescriptions(firstPresentField(fields, "review_configs", "reviewConfigs"))
	for i := range in.ActionRequests {
		if in.ActionRequests[i].Description == "" {
			in.ActionRequests[i].Description = descriptions[in.ActionRequests[i].Name]
		}
	}
	return in
}

// decodeReviewConfigs accepts a list of configs or the legacy map keyed by
// tool name (sorted by name, since map order carries no meaning).
func decodeReviewConfigs(raw json.RawMessage) []ReviewConfig {
	var configs []ReviewConfig
	for _, rc := range reviewConfigEntries(raw) {
		name := rc.key
		if name == "" {
			name = firstStringField(rc.fields, "action_name", "actionName", "name")
		}
		configs = append(configs, ReviewConfig{
			ActionName:       name,
			AllowedDecisions: decodeDecisionList(firstPresentField(rc.fields, "allowed_decisions", "allowedDecisions", "allowed_responses", "allowedResponses")),
		})
	}
	return configs
}

// legacyReviewDescriptions maps tool names to descriptions found in review
// configs.
func legacyReviewDescriptions(raw json.RawMessage) map[string]string {
	out := map[string]string{}
	for _, rc := range reviewConfigEntries(raw) {
		name := rc.key
		if name == "" {
			name = firstStringField(rc.fields, "action_name", "actionName", "name")
		}
		if d := firstStringField(rc.fields, "description"); d != "" && out[name] == "" {
			out[name] = d
		}
	}
	return out
}

type reviewConfigEntry struct {
	key    string // the tool name in the legacy map form
	fields map[string]json.RawMessage
}

func reviewConfigEntries(raw json.RawMessage) []reviewConfigEntry {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return nil
	}
	var entries []reviewConfigEntry
	if raw[0] == '{' {
		byName := decodeObjectFields(raw)
		names := make([]string, 0, len(byName))
		for name := range byName {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			if f := decodeObjectFields(byName[name]); f != nil {
				entries = append(entries, reviewConfigEntry{key: name, fields: f})
			}
		}
		return entries
	}
	var items []json.RawMessage
	_ = json.Unmarshal(raw, &items)
	for _, item := range items {
		if f := decodeObjectFields(item); f != nil {
			entries = append(entries, reviewConfigEntry{fields: f})
		}
	}
	return entries
}

// decodeDecisionList decodes allowed decisions, lower-cased and without
// duplicates; non-string entries are dropped.
func decodeDecisionList(raw json.RawMessage) []string {
	var items []json.RawMessage
	if len(raw) == 0 || json.Unmarshal(raw, &items) != nil {
		return nil
	}
	var out []string
	for _, item := range items {
		d := strings.ToLower(strings.TrimSpace(decodeJSONString(item)))
		if d != "" && !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	return out
}

// AllowedFor returns the decisions allowed for action request idx: its
// positional review config when that names the same tool, else the first
// config for the tool, else approve and reject. It returns nil for an index
// out of range.
func (i Interrupt) AllowedFor(idx int) []string {
	if idx < 0 || idx >= len(i.ActionRequests) {
		return nil
	}
	name := i.ActionRequests[idx].Name
	if idx < len(i.ReviewConfigs) {
		rc := i.ReviewConfigs[idx]
		if (rc.ActionName == name || rc.ActionName == "") && len(rc.AllowedDecisions) > 0 {
			return slices.Clone(rc.AllowedDecisions)
		}
	}
	for _, rc := range i.ReviewConfigs {
		if rc.ActionName == name && len(rc.AllowedDecisions) > 0 {
			return slices.Clone(rc.AllowedDecisions)
		}
	}
	return slices.Clone(defaultDecisions[:])
}

// Validate checks decisions the way the runtime will: exactly one per
// action request, in order, each of an allowed type; an edit must carry the
// edited action and a respond its message.
func (i Interrupt) Validate(decisions []Decision) error {
	if len(i.ActionRequests) == 0 {
		return fmt.Errorf("%w: the interrupt has no action requests to decide", ErrInvalidDecisions)
	}
	if len(decisions) != len(i.ActionRequests) {
		return fmt.Errorf("%w: %d decisions for %d action requests", ErrInvalidDecisions, len(decisions), len(i.ActionRequests))
	}
	for idx, d := range decisions {
		allowed := i.AllowedFor(idx)
		if !slices.Contains(allowed, d.Type) {
			return fmt.Errorf("%w: decision %d for %q is %q, allowed: %s",
				ErrInvalidDecisions, idx, i.ActionRequests[idx].Name, d.Type, strings.Join(allowed, ", "))
		}
		switch d.Type {
		case DecisionEdit:
			if d.EditedAction == nil || d.EditedAction.Name == "" {
				return fmt.Errorf("%w: edit decision %d has no edited action", ErrInvalidDecisions, idx)
			}
		case DecisionRespond:
			if d.Message == "" {
				return fmt.Errorf("%w: respond decision %d has no message", ErrInvalidDecisions, idx)
			}
		}
	}
	return nil
}

// memoryDir is where deepagents keeps the agent's long-term memory.
const memoryDir = "/memories"

// IsMemoryWrite reports whether an action request writes the agent's
// memory: write_file or edit_file on a path under /memories/. content is
// the file content for write_file and the replacement text (new_string)
// for edit_file. The path is cleaned first so "/memories/../x" does not
// count.
func IsMemoryWrite(a ActionRequest) (filePath, content string, ok bool) {
	var contentKeys []string
	switch a.Name {
	case "write_file":
		contentKeys = []string{"content"}
	case "edit_file":
		contentKeys = []string{"new_string", "newString"}
	default:
		return "", "", false
	}
	filePath = argString(a.Args, "file_path", "path", "filePath")
	if filePath == "" || !strings.HasPrefix(filePath, "/") {
		return "", "", false
	}
	cleaned := path.Clean(filePath)
	if !strings.HasPrefix(cleaned, memoryDir+"/") {
		return "", "", false
	}
	return filePath, argString(a.Args, contentKeys...), true
}

// argString returns the first of keys holding a string in args.
func argString(args map[string]any, keys ...string) string {
	for _, k := range keys {
		if s, ok := args[k].(string); ok && s != "" {
			return s
		}
	}
	return ""
}

// mergeInterrupts adds interrupts not already known: same non-empty id, or
// identical content when ids are missing. A newer copy replaces an older
// one with the same id.
func mergeInterrupts(known, more []Interrupt) []Interrupt {
	for _, in := range more {
		replaced := false
		for j := range known {
			if (in.ID != "" && known[j].ID == in.ID) || (in.ID == "" && known[j].ID == "" && reflect.DeepEqual(known[j], in)) {
				known[j] = in
				replaced = true
				break
			}
		}
		if !replaced {
			known = append(known, in)
		}
	}
	return known
}
