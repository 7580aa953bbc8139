package slackfake

import (
	"encoding/json"
	"maps"
	"slices"
	"time"
)

// Call is one recorded request.
type Call struct {
	Method string
	// Params are the form fields, or a JSON body's top-level fields as strings (nested
	// values as raw JSON). The token is never recorded.
	Params map[string]string
	At     time.Time
	OK     bool
	Error  string // Slack error code ("ratelimited" for a 429)
}

// Message is the current state of a channel message, as users would see it.
type Message struct {
	Channel  string
	TS       string
	ThreadTS string // empty for top-level messages
	User     string // poster's user id (the bot's user id for bot posts)
	BotID    string // set for bot posts
	Text     string // text field; for streams, the concatenated streamed markdown
	Blocks   json.RawMessage
	// Rendered is the readable text: the text of markdown/section/context/header (and
	// rich_text) blocks, else Text. For streams: the streamed text, then stop blocks.
	Rendered  string
	Updates   int  // successful chat.update calls
	Streamed  bool // created by chat.startStream
	Streaming bool // stream still open (not stopped or expired)
	Reactions []string
	Buttons   []string // labels of buttons in actions blocks
	// Plan and Tasks are what task_update and plan_update stream chunks
	// showed (tasks by id, latest state, in the order first seen).
	Plan  string
	Tasks []Task
	Files []string // names of the files shared with it
}

// View is a modal the bot opened with views.open.
type View struct {
	ID, TriggerID               string
	Title, Submit, Close        string
	CallbackID, PrivateMetadata string
	Rendered                    string // readable text of its blocks
}

// Views returns the modals opened, in order.
func (s *Server) Views() []View {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.opened)
}

// Task is a task card of a streamed message.
type Task struct {
	ID, Title, Status, Details, Output string
}

// IsBot reports whether the bot posted the message.
func (m Message) IsBot() bool { return m.BotID != "" }

// Ephemeral is a message only one user sees: from chat.postEphemeral, or a post to a
// response_url (Channel and User are empty unless the URL came from ResponseURLFor).
type Ephemeral struct {
	Channel         string
	User            string
	ResponseID      string // response_url id; empty for chat.postEphemeral
	Text            string
	Blocks          json.RawMessage
	ThreadTS        string
	ResponseType    string // response_url "response_type" (e.g. "in_channel")
	ReplaceOriginal bool
	DeleteOriginal  bool
}

type channelState struct {
	msgs []*message // in ts order (ts values only grow)
}

func (c *channelState) find(ts string) *message {
	for _, m := range c.msgs {
		if m.ts == ts {
			return m
		}
	}
	return nil
}

func (c *channelState) remove(ts string) {
	c.msgs = slices.DeleteFunc(c.msgs, func(m *message) bool { return m.ts == ts })
}

type message struct {
	channel   string
	ts        string
	threadTS  string
	user      string
	botID     string
	text      string
	blocks    checkedBlocks
	updates   int
	streamed  bool
	streaming bool
	appends   int
	reactions []string
	plan      string
	tasks     []Task
	files     []string // ids of shared files (file_share)
	fileNames []string
}

func (m *message) snapshot() Message {
	rendered := m.blocks.rendered
	switch {
	case m.streamed && rendered != "" && m.text != "":
		rendered = m.text + "\n" + rendered
	case rendered == "":
		rendered = m.text
	}
	return Message{
		Channel:   m.channel,
		TS:        m.ts,
		ThreadTS:  m.threadTS,
		User:      m.user,
		BotID:     m.botID,
		Text:      m.text,
		Blocks:    slices.Clone(m.blocks.raw),
		Rendered:  rendered,
		Updates:   m.updates,
		Streamed:  m.streamed,
		Streaming: m.streaming,
		Reactions: slices.Clone(m.reactions),
		Buttons:   slices.Clone(m.blocks.buttons),
		Files:     slices.Clone(m.fileNames),
		Plan:      m.plan,
		Tasks:     slices.Clone(m.tasks),
	}
}

// apiJSON is the message object Slack returns in chat.postMessage/update answers.
func (m *message) apiJSON() map[string]any {
	out := map[string]any{"type": "message", "ts": m.ts, "text": m.text}
	if m.user != "" {
		out["user"] = m.user
	}
	if m.botID != "" {
		out["bot_id"] = m.botID
	}
	if m.threadTS != "" {
		out["thread_ts"] = m.threadTS
	}
	if len(m.blocks.raw) > 0 {
		out["blocks"] = m.blocks.raw
	}
	return out
}

// channel returns the state of a channel, creating it. Callers hold s.mu.
func (s *Server) channel(id string) *channelState {
	c := s.channels[id]
	if c == nil {
		c = &channelState{}
		s.channels[id] = c
	}
	return c
}

// UserMessage adds a message as if user posted it (threadTS empty for top level) and
// returns its ts, so tests have a realistic history for thread_ts to reference.
func (s *Server) UserMessage(channel, user, text, threadTS string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := &message{channel: channel, ts: s.newTS(), threadTS: threadTS, user: user, text: text}
	s.channel(channel).msgs = append(s.channel(channel).msgs, m)
	s.notify()
	return m.ts
}

// Calls returns every recorded call, in order.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

// CallsTo returns the recorded calls of one method, in order.
func (s *Server) CallsTo(method string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.calls {
		if c.Method == method {
			out = append(out, c)
		}
	}
	return out
}

// Messages returns the current state of every message in channel (top level and
// replies), in ts order.
func (s *Server) Messages(channel string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.channels[channel]
	if c == nil {
		return nil
	}
	out := make([]Message, 0, len(c.msgs))
	for _, m := range c.msgs {
		out = append(out, m.snapshot())
	}
	return out
}

// Message returns one message by ts.
func (s *Server) Message(channel, ts string) (Message, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.channels[channel]
	if c == nil {
		return Message{}, false
	}
	m := c.find(ts)
	if m == nil {
		return Message{}, false
	}
	return m.snapshot(), true
}

// Thread returns the root message (if it exists) followed by its replies, in ts order.
func (s *Server) Thread(channel, rootTS string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.channels[channel]
	if c == nil {
		return nil
	}
	var out []Message
	for _, m := range c.msgs {
		if m.ts == rootTS || m.threadTS == rootTS {
			out = append(out, m.snapshot())
		}
	}
	return out
}

// Ephemerals returns every ephemeral message and response_url post, in order.
func (s *Server) Ephemerals() []Ephemeral {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.ephemerals)
}

// Reactions returns the bot's reactions on a message, in the order added.
func (s *Server) Reactions(channel, ts string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.channels[channel]; c != nil {
		if m := c.find(ts); m != nil {
			return slices.Clone(m.reactions)
		}
	}
	return nil
}

// AssistantStatus returns the thread's assistant status ("" when none or cleared;
// Slack clears it when the bot replies in the thread).
func (s *Server) AssistantStatus(channel, threadTS string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.statuses[threadKey{channel, threadTS}]
	if !ok || time.Since(st.at) > s.cfg.statusTTL {
		return "" // Slack drops a status after its timeout
	}
	return st.status
}

// AssistantLoadingMessages returns the loading messages of the thread's
// current status.
func (s *Server) AssistantLoadingMessages(channel, threadTS string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.statuses[threadKey{channel, threadTS}]
	if !ok || time.Since(st.at) > s.cfg.statusTTL {
		return nil
	}
	return slices.Clone(st.loading)
}

// AssistantTitle returns the title set by assistant.threads.setTitle.
func (s *Server) AssistantTitle(channel, threadTS string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.titles[threadKey{channel, threadTS}]
}

// Channels returns the ids of channels that have messages, sorted.
func (s *Server) Channels() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Sorted(maps.Keys(s.channels))
}
