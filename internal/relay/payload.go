package relay

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/deepagents-slack/slackbot/internal/agents"
)

// Job kinds.
const (
	kindCommand = "command" // a slash command: post the root message, then a prompt job
	kindPrompt  = "prompt"  // start a run with the user's text
	kindResume  = "resume"  // resume an interrupted run with decisions
)

// payload is what a job carries from the Slack delivery to the worker.
type payload struct {
	UserID      string `json:"user_id"`
	UserTeam    string `json:"user_team,omitempty"`  // the user's own workspace (Slack Connect)
	Text        string `json:"text,omitempty"`       // for the agent: plain text
	Echo        string `json:"echo,omitempty"`       // a slash command's text as Slack sent it, to quote back
	MessageTS   string `json:"message_ts,omitempty"` // the user's message, for reactions
	ChannelType string `json:"channel_type,omitempty"`
	// ThreadContext: the bot was mentioned in someone else's thread; the
	// run starts with the thread's earlier messages.
	ThreadContext bool           `json:"thread_context,omitempty"`
	Files         []SharedFile   `json:"files,omitempty"`  // shared with the message, downloaded by the worker
	Queued        bool           `json:"queued,omitempty"` // shown as queued (reactQueued) until picked up
	ResponseURL   string         `json:"response_url,omitempty"`
	TestRun       bool           `json:"test_run,omitempty"`
	Resume        *agents.Resume `json:"resume,omitempty"`
	CardID        string         `json:"card_id,omitempty"`
	DecidedBy     string         `json:"decided_by,omitempty"`
	RunBy         string         `json:"run_by,omitempty"` // who started the run a resume continues
	// Report keeps the final answer in the job (Answer) for whoever
	// requested the run outside Slack and waits for it (test runs).
	Report bool   `json:"report,omitempty"`
	Answer string `json:"answer,omitempty"`
	// RunStartedAt is when the run start was first sent; MaxRunAge counts from it.
	RunStartedAt time.Time `json:"run_started_at,omitzero"`

	// contextChannel is the channel the user had in view beside an AI app
	// thread, read from the store when the run starts (the latest one, not
	// the one at acceptance); unexported, so it is never stored.
	contextChannel string
}

// starter is who started the run this job serves.
func (p payload) starter() string {
	if p.RunBy != "" {
		return p.RunBy
	}
	return p.UserID
}

func (p payload) encode() []byte {
	b, err := json.Marshal(p)
	if err != nil {
		// payload holds only strings, bools and decisions: it always encodes.
		panic(fmt.Sprintf("relay: encode payload: %v", err))
	}
	return b
}

func decodePayload(b []byte) (payload, error) {
	var p payload
	if err := json.Unmarshal(b, &p); err != nil {
		return p, fmt.Errorf("decode job payload: %w", err)
	}
	return p, nil
}
