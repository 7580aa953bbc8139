package agentstest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/deepagents-slack/slackbot/internal/agents"
	"github.com/google/uuid"
)

var (
	validRoles      = []string{agents.RoleUser, agents.RoleAssistant, agents.RoleSystem, agents.RoleTool}
	validIfExists   = []string{agents.IfExistsDoNothing, agents.IfExistsRaise}
	validMultitask  = []string{"reject", "rollback", "interrupt", "enqueue"}
	validStreamMode = []string{"values", "messages", "messages-tuple", "updates", "events", "tasks", "checkpoints", "debug", "custom"}
	validDecisions  = []string{agents.DecisionApprove, agents.DecisionEdit, agents.DecisionReject, agents.DecisionRespond}
)

// runRoute is which route a run start came in on.
type runRoute int

const (
	routeSeed   runRoute = iota // POST /threads/runs
	routeThread                 // POST /threads/{tid}/runs
	routeStream                 // POST /threads/{tid}/runs/stream
)

// runRequest is a validated run-start body.
type runRequest struct {
	route        runRoute
	agentID      string // agent_id (Managed) or assistant_id (Agent Server)
	threadID     string // "" when the caller let the server pick
	createThread bool   // if_not_exists "create" (Agent Server)
	ifExists     string
	threadMeta   map[string]any
	options      agents.ThreadOptions
	input        []agents.Message
	resume       *agents.Resume
	metadata     map[string]any
	context      map[string]any
	config       map[string]any
	multitask    string
	streamMode   []string
	subgraphs    bool
	onDisconnect string
	webhook      string
	kwargs       map[string]json.RawMessage // run kwargs as sent, for the run record
}

// parseRunRequest validates body like the surface does: the Managed Deep
// Agents envelope (400 ErrorResponse) and the runtime's run kwargs (422);
// on an Agent Server, its RunCreateStateful schema (400 Zod issues).
func (s *Server) parseRunRequest(body []byte, route runRoute) (*runRequest, *apiError) {
	var fields map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&fields); err != nil || fields == nil || dec.More() {
		return nil, errorf(http.StatusBadRequest, CodeInvalidRequestBody,
			"Provide a valid JSON request body matching the documented schema: body is not a JSON object")
	}
	req := &runRequest{route: route, kwargs: map[string]json.RawMessage{}}
	idField := "agent_id"
	if s.surface == AgentServer {
		// Agent Server: "Only assistant_id is required" (RunCreateStateful,
		// ../reference/agent-runtime-api.md §2); agent_id is not a field there.
		idField = "assistant_id"
		if _, ok := fields["agent_id"]; ok {
			return nil, invalidField("agent_id", "is not a field of an Agent Server run; name the assistant with assistant_id")
		}
	} else if _, ok := fields["assistant_id"]; ok {
		// Managed: "The request must use agent_id; assistant_id is reserved
		// for server-side forwarding and is rejected" (StreamRunRequest).
		return nil, errorf(http.StatusBadRequest, CodeInvalidField,
			"Use 'agent_id' to name the agent: 'assistant_id' is not accepted")
	}
	raw, ok := fields[idField]
	if !ok || isNull(raw) {
		return nil, missing(idField)
	}
	if err := json.Unmarshal(raw, &req.agentID); err != nil {
		return nil, invalidField(idField, "must be a string")
	}
	if req.agentID == "" {
		return nil, missing(idField)
	}
	if raw, ok := fields["thread"]; ok && !isNull(raw) {
		if route != routeSeed {
			// Only POST /threads/runs has the thread envelope
			// (create-thread-and-run.yaml, CreateThreadAndRunRequest).
			return nil, invalidField("thread", "is only accepted by POST /threads/runs")
		}
		if err := req.parseThread(raw); err != nil {
			return nil, err
		}
	}
	for k, v := range fields {
		if k != idField && k != "thread" {
			req.kwargs[k] = v
		}
	}
	if err := req.parseKwargs(fields); err != nil {
		return nil, err
	}
	if s.surface.managed() {
		for i, m := range req.input {
			if len(m.Blocks) > 0 {
				// The Managed Deep Agents API's Message is {role, content:
				// string} (../reference/openapi/managed-deep-agents-openapi.json,
				// components.schemas.Message); content blocks are an Agent
				// Server (LangGraph) input.
				return nil, errorf(http.StatusBadRequest, CodeInvalidField,
					"Send 'input.messages[%d].content' as a string: 'content' must be a string", i)
			}
		}
	}
	if route == routeStream && s.surface.managed() && len(req.input) == 0 {
		// StreamRunRequest requires messages, minItems 1 (the newer spec
		// input.messages); resumes too ("resume runs still need a non-empty
		// message list", ../reference/agent-runtime-api.md §4).
		return nil, errorf(http.StatusBadRequest, CodeMissingRequiredField,
			"Send at least one message in 'input.messages': 'input.messages' is required")
	}
	if s.surface == AgentServer {
		if v, ok := fields["if_not_exists"]; ok && !isNull(v) {
			var mode string
			if err := json.Unmarshal(v, &mode); err != nil || (mode != "create" && mode != "reject") {
				return nil, invalidKwarg("if_not_exists", "must be create or reject")
			}
			req.createThread = mode == "create"
		}
	}
	return req, nil
}

func (req *runRequest) parseThread(raw json.RawMessage) *apiError {
	var t map[string]json.RawMessage
	if err := json.Unmarshal(raw, &t); err != nil || t == nil {
		return invalidField("thread", "must be an object")
	}
	if v, ok := t["thread_id"]; ok && !isNull(v) {
		var id string
		if err := json.Unmarshal(v, &id); err != nil {
			return invalidField("thread.thread_id", "must be a string")
		}
		u, err := uuid.Parse(id)
		if err != nil || len(id) != 36 {
			return invalidField("thread.thread_id", "must be a UUID")
		}
		req.threadID = u.String()
	}
	req.ifExists = agents.IfExistsRaise
	if v, ok := t["if_exists"]; ok && !isNull(v) {
		if err := json.Unmarshal(v, &req.ifExists); err != nil || !slices.Contains(validIfExists, req.ifExists) {
			return invalidField("thread.if_exists", "must be one of do_nothing, raise")
		}
	}
	if v, ok := t["metadata"]; ok && !isNull(v) {
		if err := json.Unmarshal(v, &req.threadMeta); err != nil || req.threadMeta == nil {
			return invalidField("thread.metadata", "must be an object")
		}
	}
	if v, ok := t["options"]; ok && !isNull(v) {
		var o map[string]json.RawMessage
		if err := json.Unmarshal(v, &o); err != nil || o == nil {
			return invalidField("thread.options", "must be an object")
		}
		for name, dst := range map[string]*bool{
			"test_run":                     &req.options.TestRun,
			"skip_memory_write_protection": &req.options.SkipMemoryWriteProtection,
		} {
			if b, ok := o[name]; ok && !isNull(b) {
				if err := json.Unmarshal(b, dst); err != nil {
					return invalidField("thread.options."+name, "must be a boolean")
				}
			}
		}
	}
	return nil
}

// parseKwargs checks the run kwargs the API passes through to the runtime,
// which rejects bad ones with 422.
func (req *runRequest) parseKwargs(f map[string]json.RawMessage) *apiError {
	if v, ok := f["command"]; ok && !isNull(v) {
		var cmd map[string]json.RawMessage
		if err := json.Unmarshal(v, &cmd); err != nil || cmd == nil {
			return invalidKwarg("command", "must be an object")
		}
		if r, ok := cmd["resume"]; ok && !isNull(r) {
			var res agents.Resume
			var obj map[string]json.RawMessage
			if err := json.Unmarshal(r, &obj); err != nil || obj == nil {
				return invalidKwarg("command.resume", `must be an object {"decisions":[...]}`)
			}
			if err := json.Unmarshal(r, &res); err != nil || res.Decisions == nil {
				return invalidKwarg("command.resume.decisions", "must be a list of decisions")
			}
			req.resume = &res
		}
	}
	if v, ok := f["input"]; ok && !isNull(v) {
		var in map[string]json.RawMessage
		if err := json.Unmarshal(v, &in); err != nil || in == nil {
			return invalidKwarg("input", "must be an object")
		}
		if m, ok := in["messages"]; ok && !isNull(m) {
			var items []map[string]json.RawMessage
			if err := json.Unmarshal(m, &items); err != nil {
				return invalidKwarg("input.messages", "must be a list of messages")
			}
			for i, it := range items {
				msg, err := parseMessage(it)
				if err != "" {
					return invalidKwarg("input.messages["+strconv.Itoa(i)+"]", err)
				}
				req.input = append(req.input, msg)
			}
		}
	}
	if len(req.input) == 0 && req.resume == nil {
		return errorf(http.StatusUnprocessableEntity, CodeValidation,
			"Send at least one message in 'input.messages', or 'command.resume' to resume: run has no input")
	}
	for name, dst := range map[string]*map[string]any{"metadata": &req.metadata, "context": &req.context, "config": &req.config} {
		if v, ok := f[name]; ok && !isNull(v) {
			if err := json.Unmarshal(v, dst); err != nil || *dst == nil {
				return invalidKwarg(name, "must be an object")
			}
		}
	}
	req.onDisconnect = "cancel" // the runtime's default (agent-runtime-api.md §2)
	if v, ok := f["on_disconnect"]; ok && !isNull(v) {
		if err := json.Unmarshal(v, &req.onDisconnect); err != nil || (req.onDisconnect != "cancel" && req.onDisconnect != "continue") {
			return invalidKwarg("on_disconnect", "must be cancel or continue")
		}
	}
	req.multitask = "reject"
	if v, ok := f["multitask_strategy"]; ok && !isNull(v) {
		if err := json.Unmarshal(v, &req.multitask); err != nil || !slices.Contains(validMultitask, req.multitask) {
			return invalidKwarg("multitask_strategy", "must be one of "+strings.Join(validMultitask, ", "))
		}
	}
	req.streamMode = []string{"values"}
	if v, ok := f["stream_mode"]; ok && !isNull(v) {
		var one string
		if json.Unmarshal(v, &one) == nil {
			req.streamMode = []string{one}
		} else if err := json.Unmarshal(v, &req.streamMode); err != nil {
			return invalidKwarg("stream_mode", "must be a string or a list of strings")
		}
		for _, m := range req.streamMode {
			if !slices.Contains(validStreamMode, m) {
				return invalidKwarg("stream_mode", "values must be among "+strings.Join(validStreamMode, ", "))
			}
		}
	}
	for name, dst := range map[string]*bool{"stream_subgraphs": &req.subgraphs, "stream_resumable": new(bool)} {
		if v, ok := f[name]; ok && !isNull(v) {
			if err := json.Unmarshal(v, dst); err != nil {
				return invalidKwarg(name, "must be a boolean")
			}
		}
	}
	if v, ok := f["webhook"]; ok && !isNull(v) {
		if err := json.Unmarshal(v, &req.webhook); err != nil {
			return invalidKwarg("webhook", "must be a string")
		}
		u, err := url.Parse(req.webhook)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return invalidKwarg("webhook", "must be an absolute http(s) URL")
		}
	}
	return nil
}

func parseMessage(it map[string]json.RawMessage) (agents.Message, string) {
	var m agents.Message
	if it == nil {
		return m, "must be an object"
	}
	if err := json.Unmarshal(it["role"], &m.Role); err != nil || !slices.Contains(validRoles, m.Role) {
		return m, "role must be one of " + strings.Join(validRoles, ", ")
	}
	// content is a string or a list of LangChain standard content blocks
	// (text; image with source_type base64, data and an image/* mime_type):
	// what langchain-core turns into any chat model's input.
	body, _ := json.Marshal(map[string]json.RawMessage{"role": it["role"], "content": it["content"]})
	var full agents.Message
	if err := json.Unmarshal(body, &full); err != nil {
		return m, err.Error()
	}
	m.Content, m.Blocks = full.Content, full.Blocks
	return m, ""
}

// checkDecisions validates a resume value against the pending interrupt:
// exactly one decision per action request, each of an allowed type.
func checkDecisions(res *agents.Resume, pending []pendingAction) *apiError {
	if len(res.Decisions) != len(pending) {
		return errorf(http.StatusUnprocessableEntity, CodeInvalidResume,
			"Send exactly one decision per action request: got %d decisions for %d action requests",
			len(res.Decisions), len(pending))
	}
	for i, d := range res.Decisions {
		if !slices.Contains(validDecisions, d.Type) {
			return errorf(http.StatusUnprocessableEntity, CodeInvalidResume,
				"Use one of %s: decision %d has unknown type %q", strings.Join(validDecisions, ", "), i, d.Type)
		}
		if !slices.Contains(pending[i].allowed, d.Type) {
			return errorf(http.StatusUnprocessableEntity, CodeInvalidResume,
				"Use one of the allowed decisions %s: decision %d type %q is not allowed for %s",
				strings.Join(pending[i].allowed, ", "), i, d.Type, pending[i].name)
		}
		if d.Type == agents.DecisionEdit && (d.EditedAction == nil || d.EditedAction.Name == "") {
			return errorf(http.StatusUnprocessableEntity, CodeInvalidResume,
				"Set 'edited_action' with a tool name: decision %d is an edit without one", i)
		}
	}
	return nil
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

func missing(field string) *apiError {
	return errorf(http.StatusBadRequest, CodeMissingRequiredField,
		"Set '%s' to a non-empty string: '%s' is required", field, field)
}

func invalidField(field, why string) *apiError {
	return errorf(http.StatusBadRequest, CodeInvalidField, "Fix '%s': '%s' %s", field, field, why)
}

func invalidKwarg(field, why string) *apiError {
	return errorf(http.StatusUnprocessableEntity, CodeValidation, "Fix '%s': '%s' %s", field, field, why)
}
