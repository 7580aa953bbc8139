// Package agents is a client for the LangSmith Managed Deep Agents API and
// the Agent Server run API underneath it: starting runs, following their
// event streams, reading threads, and decoding the runtime's errors.
package agents

import (
	"encoding/json"
	"time"
)

// If-exists policies for thread creation.
const (
	IfExistsDoNothing = "do_nothing"
	IfExistsRaise     = "raise"
)

// Message roles.
const (
	RoleUser      = "user"
	RoleAssistant = "assistant"
	RoleSystem    = "system"
	RoleTool      = "tool"
)

// Run statuses reported by the runtime.
const (
	RunPending     = "pending"
	RunRunning     = "running"
	RunSuccess     = "success"
	RunError       = "error"
	RunTimeout     = "timeout"
	RunInterrupted = "interrupted"
)

// Thread statuses.
const (
	ThreadIdle        = "idle"
	ThreadBusy        = "busy"
	ThreadInterrupted = "interrupted"
	ThreadError       = "error"
)

// ThreadOptions are fixed when a thread is created.
type ThreadOptions struct {
	TestRun                   bool `json:"test_run"`
	SkipMemoryWriteProtection bool `json:"skip_memory_write_protection"`
}

// ThreadSpec is the optional thread envelope of CreateRunRequest.
type ThreadSpec struct {
	ThreadID string            `json:"thread_id,omitempty"`
	IfExists string            `json:"if_exists,omitempty"`
	Metadata map[string]string `json:"metadata,omitempty"`
	Options  *ThreadOptions    `json:"options,omitempty"`
}

// Message is one chat message of run input. Its content is Content, a
// string, unless Blocks is set: then it is that list of content blocks
// (text and images), and Content is only the text of its text blocks.
type Message struct {
	Role    string
	Content string
	Blocks  []ContentBlock
}

// Input is the graph input of a deep agent run.
type Input struct {
	Messages []Message `json:"messages"`
}

// Command resumes an interrupted run.
type Command struct {
	Resume *Resume `json:"resume,omitempty"`
}

// Resume is the value a human-in-the-loop interrupt resumes with: exactly one
// decision per action request, in order.
type Resume struct {
	Decisions []Decision `json:"decisions"`
}

// Decision types.
const (
	DecisionApprove = "approve"
	DecisionEdit    = "edit"
	DecisionReject  = "reject"
	DecisionRespond = "respond"
)

// Decision answers one action request.
type Decision struct {
	Type         string        `json:"type"`
	Message      string        `json:"message,omitempty"`
	EditedAction *EditedAction `json:"edited_action,omitempty"`
}

// EditedAction is the replacement tool call of an "edit" decision.
type EditedAction struct {
	Name string         `json:"name"`
	Args map[string]any `json:"args"`
}

// CreateRunRequest is the body of POST /threads/runs: create (or reuse) a
// thread bound to an agent and start a background run on it. Fields after
// Thread are run kwargs the API passes through to the runtime.
type CreateRunRequest struct {
	AgentID           string            `json:"agent_id"`
	Thread            *ThreadSpec       `json:"thread,omitempty"`
	Input             *Input            `json:"input,omitempty"`
	Command           *Command          `json:"command,omitempty"`
	Metadata          map[string]string `json:"metadata,omitempty"`
	MultitaskStrategy string            `json:"multitask_strategy,omitempty"`
	StreamMode        []string          `json:"stream_mode,omitempty"`
	StreamSubgraphs   bool              `json:"stream_subgraphs,omitempty"`
	StreamResumable   bool              `json:"stream_resumable,omitempty"`
	Webhook           string            `json:"webhook,omitempty"`
}

// Run is the runtime's record of a run.
type Run struct {
	RunID     string         `json:"run_id"`
	ThreadID  string         `json:"thread_id"`
	AgentID   string         `json:"assistant_id"`
	Status    string         `json:"status"`
	Metadata  map[string]any `json:"metadata,omitempty"`
	CreatedAt time.Time      `json:"created_at"`
	UpdatedAt time.Time      `json:"updated_at"`
}

// Thread is the runtime's view of a thread. Values holds the thread's latest
// state (messages, todos, __interrupt__) where the runtime includes it.
type Thread struct {
	ThreadID   string          `json:"thread_id"`
	AgentID    string          `json:"agent_id,omitempty"`
	Status     string          `json:"status"`
	Metadata   map[string]any  `json:"metadata,omitempty"`
	Values     json.RawMessage `json:"values,omitempty"`
	Interrupts json.RawMessage `json:"interrupts,omitempty"`
	CreatedAt  time.Time       `json:"created_at"`
	UpdatedAt  time.Time       `json:"updated_at"`
}

// Event is one server-sent event of a run stream. Name is the raw event name;
// Mode is its part before the first "|" and Namespace the subgraph path after
// it (empty for the root graph).
type Event struct {
	ID        string
	Name      string
	Mode      string
	Namespace []string
	Data      json.RawMessage
}

// Root reports whether the event comes from the root graph, not a subgraph.
func (e Event) Root() bool { return len(e.Namespace) == 0 }
