package agents

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"
)

// Todo statuses, as written by the agent's write_todos tool.
const (
	TodoPending    = "pending"
	TodoInProgress = "in_progress"
	TodoCompleted  = "completed"
)

// Todo is one item of the agent's plan.
type Todo struct {
	Content string
	Status  string // TodoPending, TodoInProgress or TodoCompleted
}

// RunView is what a Slack user should see of a run at one moment.
type RunView struct {
	// RunID comes from the stream's metadata event.
	RunID string
	// Text is the answer streamed so far by the root agent: the latest
	// root AI message that has any text. A tool-calling preamble ("Let me
	// look that up") stays visible until the next AI message starts
	// producing text, then that message replaces it; this avoids both a
	// blank message between steps and an answer cluttered with preambles.
	// Subagent messages never appear here.
	Text string
	// Todos is the agent's current plan.
	Todos []Todo
	// Activity says what is working now, one line per running subagent
	// plus one line for running tools, e.g. "Running tool `web_search`" or
	// "Subagent `researcher`: find pricing". Empty once the run has
	// stopped (ended, failed or interrupted).
	Activity string
	// Final is the answer to post: the latest turn's last AI message from
	// the last root values event, or Text when that has none. Meaningful
	// once the run has ended.
	Final string
	// Interrupts are the pending approvals the run stopped on.
	Interrupts []Interrupt
	// Failure is the message of the run's error event.
	Failure string
	// Ended is set once the end event has been seen.
	Ended bool
}

// Tracker folds the events of one run stream into a RunView. Apply and
// View may be called from different goroutines. Events of unknown modes or
// shapes are ignored; Apply never panics.
type Tracker struct {
	mu sync.Mutex

	runID string

	// Root AI message text by message id, ids in first-seen order.
	texts   map[string]string
	textIDs []string
	lastID  string // id of the latest chunk, for chunks without one

	todos      []Todo
	todosKnown bool   // todos has been set for this run
	staleTodos []Todo // a finished plan from the previous turn, hidden

	pending []pendingCall

	interrupts []Interrupt
	final      string
	failure    string
	ended      bool

	// Whether the stream began with metadata and no messages or updates
	// have arrived yet: the values event then is the run's input state.
	sawMetadata bool
	sawProgress bool
	sawValues   bool
}

// pendingCall is a tool call of the root agent awaiting its result.
type pendingCall struct {
	id          string
	tool        string
	subagent    string // subagent type for task calls
	description string
	isTask      bool
}

// Tool names with special meaning in deep agents.
const (
	toolWriteTodos = "write_todos"
	toolTask       = "task"
)

// Event modes handled by Tracker.
const (
	modeMetadata         = "metadata"
	modeMessages         = "messages"
	modeMessagesPartial  = "messages/partial"
	modeMessagesComplete = "messages/complete"
	modeUpdates          = "updates"
	modeValues           = "values"
	modeError            = "error"
	modeEnd              = "end"
)

// NewTracker returns an empty Tracker. The zero Tracker is ready to use
// too.
func NewTracker() *Tracker { return &Tracker{} }

// Apply folds one stream event into the tracker.
func (t *Tracker) Apply(e Event) {
	mode, root := trackerEventMode(e)
	t.mu.Lock()
	defer t.mu.Unlock()
	switch mode {
	case modeMetadata:
		if root && t.runID == "" {
			t.runID = firstStringField(decodeObjectFields(e.Data), "run_id", "runId")
		}
		t.sawMetadata = true
	case modeMessages:
		t.sawProgress = true
		if root {
			t.applyMessageTuple(e.Data)
		}
	case modeMessagesPartial, modeMessagesComplete:
		t.sawProgress = true
		if root {
			for _, m := range decodeMessageList(e.Data) {
				t.applyStreamedMessage(m, false)
			}
		}
	case modeUpdates:
		t.sawProgress = true
		t.applyUpdates(e.Data, root)
	case modeValues:
		t.applyValues(e.Data, root)
	case modeError:
		if t.failure == "" {
			t.failure = errorEventText(e.Data)
		}
	case modeEnd:
		t.ended = true
	}
}

// View returns a snapshot of what the user should see now.
func (t *Tracker) View() RunView {
	t.mu.Lock()
	defer t.mu.Unlock()
	v := RunView{
		RunID:      t.runID,
		Text:       t.latestText(),
		Todos:      slices.Clone(t.todos),
		Interrupts: slices.Clone(t.interrupts),
		Failure:    t.failure,
		Ended:      t.ended,
	}
	if !t.ended && t.failure == "" && len(t.interrupts) == 0 {
		v.Activity = activityText(t.pending)
	}
	v.Final = t.final
	if v.Final == "" {
		v.Final = v.Text
	}
	return v
}

// trackerEventMode returns the event's mode and whether it comes from the
// root graph, deriving both from the raw name when the reader left Mode
// empty.
func trackerEventMode(e Event) (mode string, root bool) {
	if e.Mode != "" {
		return e.Mode, e.Root()
	}
	mode, ns, _ := strings.Cut(e.Name, "|")
	return mode, ns == "" && len(e.Namespace) == 0
}

// applyMessageTuple handles a messages-tuple event: [chunk, metadata].
func (t *Tracker) applyMessageTuple(data json.RawMessage) {
	var tuple []json.RawMessage
	if json.Unmarshal(data, &tuple) != nil || len(tuple) == 0 {
		// Some servers send the bare chunk.
		tuple = []json.RawMessage{data}
	}
	if len(tuple) > 1 && !fromRootAgentModel(tuple[1]) {
		return
	}
	m, ok := decodeMessage(tuple[0])
	if !ok {
		return
	}
	t.applyStreamedMessage(m, true)
}

// fromRootAgentModel inspects messages-tuple metadata for tokens that
// arrive in the root namespace without being the main agent's answer:
// subgraph tokens (the runtime streams them even when subgraph streaming
// is off; their checkpoint namespace has several "|"-separated parts) and
// LLM calls made inside middleware hooks, whose nodes are named
// "<Middleware>.<hook>" (e.g. summarisation).
func fromRootAgentModel(meta json.RawMessage) bool {
	fields := decodeObjectFields(meta)
	if fields == nil {
		return true
	}
	for _, key := range []string{"langgraph_checkpoint_ns", "checkpoint_ns"} {
		if strings.Contains(decodeJSONString(fields[key]), "|") {
			return false
		}
	}
	return !isMiddlewareNode(decodeJSONString(fields["langgraph_node"]))
}

func isMiddlewareNode(node string) bool { return strings.Contains(node, ".") }

// applyStreamedMessage folds a root message from the messages stream: AI
// chunks append to their message's text, whole AI messages replace it, and
// tool messages complete their tool call.
func (t *Tracker) applyStreamedMessage(m runtimeMessage, appendChunks bool) {
	switch m.Kind {
	case kindTool:
		t.resolve(m.ToolCallID)
		return
	case kindAI, "":
		// A chunk without a type is assumed to be the model's output.
	default:
		return
	}
	id := m.ID
	if id == "" {
		id = t.lastID
	}
	text, prev := ContentText(m.Content), t.texts[id]
	// In the messages-tuple stream, chunks append. A whole message repeats
	// the text streamed so far and replaces it; a runtime that labels its
	// chunks "ai" is caught by the text not extending what came before.
	if appendChunks && (m.Chunk || m.Kind == "" || !strings.HasPrefix(text, prev)) {
		t.setText(id, prev+text)
	} else {
		t.setText(id, text)
	}
}

func (t *Tracker) setText(id, text string) {
	if t.texts == nil {
		t.texts = map[string]string{}
	}
	if _, seen := t.texts[id]; !seen {
		t.textIDs = append(t.textIDs, id)
	}
	t.texts[id] = text
	t.lastID = id
}

// latestText returns the text of the latest root AI message that has any.
func (t *Tracker) latestText() string {
	for i := len(t.textIDs) - 1; i >= 0; i-- {
		if text := t.texts[t.textIDs[i]]; strings.TrimSpace(text) != "" {
			return text
		}
	}
	return ""
}

// applyUpdates handles {"<node>": {"messages":[...], "todos":[...]}, ...}
// and {"__interrupt__":[...]}. Subgraph updates only contribute
// interrupts: a subagent's own plan and tool calls are not the run's.
func (t *Tracker) applyUpdates(data json.RawMessage, root bool) {
	nodes := decodeObjectFields(data)
	if nodes == nil {
		return
	}
	if nodes["__interrupt__"] != nil {
		t.addInterrupts(data)
	}
	if !root {
		return
	}
	names := make([]string, 0, len(nodes))
	for name := range nodes {
		names = append(names, name)
	}
	slices.Sort(names) // map order carries no meaning; keep Apply deterministic
	for _, name := range names {
		if name == "__interrupt__" {
			continue
		}
		update := decodeObjectFields(nodes[name])
		if update == nil {
			continue // null or non-object node value
		}
		hook := isMiddlewareNode(name)
		for _, m := range decodeMessageList(update["messages"]) {
			switch m.Kind {
			case kindTool:
				t.resolve(m.ToolCallID)
			case kindAI:
				// Middleware hooks re-emit earlier AI messages; only the
				// model node's messages are new.
				if hook {
					continue
				}
				if text := ContentText(m.Content); text != "" && m.ID != "" {
					t.setText(m.ID, text)
				}
				t.addCalls(m.ToolCalls)
			}
		}
		if todos, ok := decodeTodos(update["todos"]); ok {
			t.setTodos(todos)
		}
	}
}

// applyValues handles a full state snapshot.
func (t *Tracker) applyValues(data json.RawMessage, root bool) {
	fields := decodeObjectFields(data)
	if fields == nil {
		return
	}
	if fields["__interrupt__"] != nil {
		t.addInterrupts(data)
	}
	if !root {
		return
	}
	inputState := t.sawMetadata && !t.sawProgress && !t.sawValues
	t.sawValues = true

	if todos, ok := decodeTodos(fields["todos"]); ok {
		switch {
		case inputState && allCompleted(todos):
			// The previous turn's finished plan: not this run's.
			t.staleTodos = todos
		case !t.todosKnown && t.staleTodos != nil && slices.Equal(todos, t.staleTodos):
		default:
			t.setTodos(todos)
		}
	}
	if fields["messages"] == nil {
		return
	}
	msgs := decodeMessageList(fields["messages"])
	if msg, ok := lastTurnAI(msgs); ok {
		t.final = ContentText(msg.Content)
	} else {
		t.final = ""
	}
	t.pending = t.pending[:0]
	t.addCalls(unansweredCalls(msgs))
}

// unansweredCalls returns the latest turn's tool calls without a result.
func unansweredCalls(msgs []runtimeMessage) []runtimeToolCall {
	start := 0
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Kind == kindHuman {
			start = i + 1
			break
		}
	}
	answered := map[string]bool{}
	for _, m := range msgs[start:] {
		if m.Kind == kindTool && m.ToolCallID != "" {
			answered[m.ToolCallID] = true
		}
	}
	var calls []runtimeToolCall
	for _, m := range msgs[start:] {
		if m.Kind != kindAI {
			continue
		}
		for _, c := range m.ToolCalls {
			if c.ID == "" || !answered[c.ID] {
				calls = append(calls, c)
			}
		}
	}
	return calls
}

// addCalls records root tool calls as running; write_todos calls update
// the plan right away instead, as the checklist is their visible effect.
func (t *Tracker) addCalls(calls []runtimeToolCall) {
	for _, c := range calls {
		if c.Name == toolWriteTodos {
			if todos, ok := todosFromArgs(c.Args); ok {
				t.setTodos(todos)
			}
			continue
		}
		if c.ID != "" && slices.ContainsFunc(t.pending, func(p pendingCall) bool { return p.id == c.ID }) {
			continue
		}
		p := pendingCall{id: c.ID, tool: c.Name}
		if c.Name == toolTask {
			p.isTask = true
			p.subagent = argString(c.Args, "subagent_type", "subagentType")
			p.description = argString(c.Args, "description")
		}
		t.pending = append(t.pending, p)
	}
}

// resolve marks a tool call as finished.
func (t *Tracker) resolve(callID string) {
	if callID == "" {
		return
	}
	t.pending = slices.DeleteFunc(t.pending, func(p pendingCall) bool { return p.id == callID })
}

func (t *Tracker) setTodos(todos []Todo) {
	t.todos = todos
	t.todosKnown = true
}

func (t *Tracker) addInterrupts(data json.RawMessage) {
	found, err := ParseInterrupts(data)
	if err != nil {
		return
	}
	t.interrupts = mergeInterrupts(t.interrupts, found)
}

// maxActivityDescription bounds a subagent's task description in the
// activity line; the full brief can run to paragraphs.
const maxActivityDescription = 150

// activityText renders running calls: a line per subagent and one line
// for plain tools, in the order the calls were made.
func activityText(pending []pendingCall) string {
	var lines, tools []string
	toolLine := -1
	for _, p := range pending {
		if p.isTask {
			line := "Subagent"
			if p.subagent != "" {
				line += " `" + codeSafe(p.subagent) + "`"
			}
			if d := shorten(p.description, maxActivityDescription); d != "" {
				line += ": " + d
			}
			lines = append(lines, line)
			continue
		}
		name := codeSafe(p.tool)
		if name == "" || slices.Contains(tools, name) {
			continue
		}
		if toolLine < 0 {
			toolLine = len(lines)
			lines = append(lines, "")
		}
		tools = append(tools, name)
	}
	if toolLine >= 0 {
		label := "Running tool "
		if len(tools) > 1 {
			label = "Running tools "
		}
		lines[toolLine] = label + "`" + strings.Join(tools, "`, `") + "`"
	}
	return strings.Join(lines, "\n")
}

// codeSafe strips characters that would break a Markdown code span.
func codeSafe(s string) string {
	return strings.TrimSpace(strings.NewReplacer("`", "", "\n", " ", "\r", " ").Replace(s))
}

// shorten collapses whitespace and cuts s to at most limit runes.
func shorten(s string, limit int) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= limit {
		return s
	}
	r := []rune(s)
	return strings.TrimSpace(string(r[:limit-1])) + "…"
}

// decodeTodos decodes a todos list; ok is false when raw is not a list,
// so that a missing or null field leaves the plan alone.
func decodeTodos(raw json.RawMessage) ([]Todo, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '[' {
		return nil, false
	}
	var items []json.RawMessage
	if json.Unmarshal(raw, &items) != nil {
		return nil, false
	}
	todos := make([]Todo, 0, len(items))
	for _, item := range items {
		fields := decodeObjectFields(item)
		content := firstStringField(fields, "content", "text", "title", "task")
		if fields == nil {
			content = decodeJSONString(item) // a bare string item
		}
		if strings.TrimSpace(content) == "" {
			continue
		}
		todos = append(todos, Todo{Content: content, Status: normalizeTodoStatus(firstStringField(fields, "status"))})
	}
	return todos, true
}

// todosFromArgs reads the plan from write_todos arguments.
func todosFromArgs(args map[string]any) ([]Todo, bool) {
	raw, err := json.Marshal(args["todos"])
	if err != nil {
		return nil, false
	}
	return decodeTodos(raw)
}

// normalizeTodoStatus maps status spellings onto the three statuses.
func normalizeTodoStatus(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	s = strings.NewReplacer("-", "_", " ", "_").Replace(s)
	switch s {
	case "in_progress", "inprogress", "active", "doing", "running", "started":
		return TodoInProgress
	case "completed", "complete", "done", "finished":
		return TodoCompleted
	}
	return TodoPending
}

func allCompleted(todos []Todo) bool {
	for _, td := range todos {
		if td.Status != TodoCompleted {
			return false
		}
	}
	return len(todos) > 0
}

// errorEventText returns the user-facing message of an error event:
// message, else detail, else error (a string or {message}), else the raw
// data.
func errorEventText(data json.RawMessage) string {
	data = bytes.TrimSpace(data)
	if fields := decodeObjectFields(data); fields != nil {
		if s := firstStringField(fields, "message", "detail", "error"); s != "" {
			return s
		}
		if s := firstStringField(decodeObjectFields(fields["error"]), "message", "detail"); s != "" {
			return s
		}
	}
	if s := strings.TrimSpace(decodeJSONString(data)); s != "" {
		return s
	}
	if len(data) == 0 || bytes.Equal(data, []byte("null")) || bytes.Equal(data, []byte(`""`)) {
		return "the run failed without an error message"
	}
	return shorten(strings.ToValidUTF8(string(data), "�"), 300)
}
