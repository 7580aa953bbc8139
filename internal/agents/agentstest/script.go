package agentstest

import (
	"strings"
	"time"

	"github.com/deepagents-slack/slackbot/internal/agents"
)

// Script decides what a fake agent does on one turn of a thread. It is called
// once per run, including resume runs (then Turn.Resume is set), outside any
// lock of the server, so it may block or keep its own state.
type Script func(Turn) []Step

// Turn is what a script sees of the run it is asked to play.
type Turn struct {
	AgentID  string
	ThreadID string
	RunID    string
	// Input holds the run's input messages (for resume runs, whatever input
	// the request carried; the runtime does not add it to the state).
	Input []agents.Message
	// Resume is the resume value of a resume run, nil otherwise.
	Resume *agents.Resume
	// Actions are the action requests Resume answers, in order.
	Actions []Action
	// Remaining are the steps of the previous turn that did not run because
	// that turn was interrupted; Scripted continues with them after approval.
	Remaining []Step
	Options   agents.ThreadOptions
	// Index is the turn number on this thread, starting at 0.
	Index int
	// History is the thread's conversation before this run.
	History []agents.Message
}

// Text returns the text of the last input message, or "".
func (t Turn) Text() string {
	if len(t.Input) == 0 {
		return ""
	}
	return t.Input[len(t.Input)-1].Content
}

// Rejected reports whether any decision of a resume turn is a rejection.
func (t Turn) Rejected() bool {
	if t.Resume == nil {
		return false
	}
	for _, d := range t.Resume.Decisions {
		if d.Type == agents.DecisionReject {
			return true
		}
	}
	return false
}

// Action is one tool call that waited for a human decision.
type Action struct {
	Name string
	Args map[string]any
}

// Todo is one item of the agent's plan (write_todos).
type Todo struct {
	Content string `json:"content"`
	Status  string `json:"status"`
}

// Todo statuses used by deep agents.
const (
	TodoPending    = "pending"
	TodoInProgress = "in_progress"
	TodoCompleted  = "completed"
)

// Step is one thing a scripted agent does. Exactly one field is set; build
// steps with the constructors (Text, Todos, Tool, ...).
type Step struct {
	Text        *TextStep
	Todos       *TodosStep
	Tool        *ToolStep
	Subagent    *SubagentStep
	MemoryWrite *MemoryWriteStep
	Approval    *ApprovalStep
	Approvals   *ApprovalsStep
	Fail        *FailStep
	Pause       *PauseStep
}

// TextStep streams an AI message token by token.
type TextStep struct {
	Chunks []string
	// Blocks makes the message content a list of content blocks (a thinking
	// block then a text block), as Anthropic models produce.
	Blocks   bool
	Thinking string
	// Pace is the pause before each chunk after the first (a slow model).
	Pace time.Duration
}

// TodosStep is a write_todos tool call and its result.
type TodosStep struct{ Todos []Todo }

// ToolStep is a tool call and its (successful) result.
type ToolStep struct {
	Name   string
	Args   map[string]any
	Result string
}

// SubagentStep is a `task` tool call whose inner steps run in a subgraph.
type SubagentStep struct {
	Name        string
	Description string
	Steps       []Step
}

// MemoryWriteStep is a write_file call on the agent's memory directory.
type MemoryWriteStep struct {
	Path    string
	Content string
}

// ApprovalStep is a tool call that always waits for a human decision.
type ApprovalStep struct {
	Name    string
	Args    map[string]any
	Allowed []string
}

// ApprovalsStep is one model turn calling several tools at once, each
// waiting for its own decision (see Approvals).
type ApprovalsStep struct {
	Calls []Step // MemoryWrite and Approval steps, in call order
}

// FailStep makes the run end in error.
type FailStep struct{ Message string }

// PauseStep sleeps (cut short when the run is cancelled).
type PauseStep struct{ Duration time.Duration }

// Text streams chunks as one AI message.
func Text(chunks ...string) Step { return Step{Text: &TextStep{Chunks: chunks}} }

// Blocks turns a Text step's final content into content blocks, led by a
// thinking block (thinking defaults to a fixed sentence). Other steps are
// returned unchanged.
func (s Step) Blocks(thinking ...string) Step {
	if s.Text == nil {
		return s
	}
	t := *s.Text
	t.Blocks = true
	t.Thinking = "Let me think about how to answer this."
	if len(thinking) > 0 {
		t.Thinking = strings.Join(thinking, "")
	}
	return Step{Text: &t}
}

// Paced streams a Text step's chunks d apart, like a slow model.
func (s Step) Paced(d time.Duration) Step {
	if s.Text != nil {
		t := *s.Text
		t.Pace = d
		s.Text = &t
	}
	return s
}

// Returns sets the result of a Tool step. Other steps are returned unchanged.
func (s Step) Returns(result string) Step {
	if s.Tool == nil {
		return s
	}
	t := *s.Tool
	t.Result = result
	return Step{Tool: &t}
}

// Todos is a write_todos call that replaces the agent's plan.
func Todos(todos ...Todo) Step { return Step{Todos: &TodosStep{Todos: todos}} }

// Tool is a call of tool name with args, followed by its result.
func Tool(name string, args map[string]any) Step {
	return Step{Tool: &ToolStep{Name: name, Args: args, Result: name + " completed"}}
}

// Subagent delegates to subagent name through the `task` tool; its steps
// stream in the namespace tools:<uuid>.
func Subagent(name, description string, steps ...Step) Step {
	return Step{Subagent: &SubagentStep{Name: name, Description: description, Steps: steps}}
}

// MemoryWrite writes content to path (under /memories/). Unless the thread
// skips memory-write protection, this raises a HITL interrupt that allows
// approve and reject, and the run ends interrupted.
func MemoryWrite(path, content string) Step {
	return Step{MemoryWrite: &MemoryWriteStep{Path: path, Content: content}}
}

// Approval is a call of tool name that always waits for a decision; allowed
// defaults to approve and reject.
func Approval(name string, args map[string]any, allowed ...string) Step {
	if len(allowed) == 0 {
		allowed = []string{agents.DecisionApprove, agents.DecisionReject}
	}
	return Step{Approval: &ApprovalStep{Name: name, Args: args, Allowed: allowed}}
}

// Approvals is one model turn calling several tools at once: each call is a
// MemoryWrite or an Approval step and keeps its own allowed decisions. The
// calls are raised as ONE interrupt with one action request and one review
// config per call, in order, and a resume must carry exactly one allowed
// decision per request in that order. On a thread that skips memory-write
// protection the memory writes go through at once and only the other calls
// are raised (no interrupt when none is left). It panics on other steps.
func Approvals(calls ...Step) Step {
	for _, c := range calls {
		reviewedCall(c) // fail at construction, not mid-run
	}
	return Step{Approvals: &ApprovalsStep{Calls: append([]Step(nil), calls...)}}
}

// Fail ends the run with an error event carrying message.
func Fail(message string) Step { return Step{Fail: &FailStep{Message: message}} }

// Pause sleeps for d.
func Pause(d time.Duration) Step { return Step{Pause: &PauseStep{Duration: d}} }

// Echo answers every message with "You said: <text>" and acknowledges
// resume decisions.
func Echo() Script {
	return func(t Turn) []Step {
		if t.Resume != nil {
			return []Step{resumeAnswer(t)}
		}
		return []Step{Text(tokens("You said: " + t.Text())...)}
	}
}

// Scripted plays the same steps on every new-input turn. After an interrupt
// it continues with the steps that had not run when every decision approved
// (or edited/responded), and says it will not proceed when one rejected.
func Scripted(steps ...Step) Script {
	return func(t Turn) []Step {
		if t.Resume != nil {
			if t.Rejected() || len(t.Remaining) == 0 {
				return []Step{resumeAnswer(t)}
			}
			return t.Remaining
		}
		return steps
	}
}

func resumeAnswer(t Turn) Step {
	if t.Rejected() {
		return Text(tokens("Understood, I did not do that.")...)
	}
	return Text(tokens("Done.")...)
}

// tokens splits s into word-sized chunks, keeping the spaces, so streams
// carry several tokens.
func tokens(s string) []string {
	var out []string
	start := 0
	for i := 1; i < len(s); i++ {
		if s[i] == ' ' {
			out = append(out, s[start:i])
			start = i
		}
	}
	return append(out, s[start:])
}
