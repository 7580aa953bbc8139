package slackbot

import (
	"crypto/sha1"
	"encoding/hex"
	"time"
)

// Key identifies a Slack conversation: a thread in a channel of a workspace.
// RootTS is the thread_ts of the thread, or the ts of the message that starts it.
type Key struct {
	TeamID    string
	ChannelID string
	RootTS    string
}

// String is the conversation's URL-like name that its thread id is derived from.
func (k Key) String() string {
	return "slack://" + k.TeamID + "/" + k.ChannelID + "/" + k.RootTS
}

// nameSpaceURL is RFC 9562's URL namespace, 6ba7b811-9dad-11d1-80b4-00c04fd430c8.
var nameSpaceURL = [16]byte{0x6b, 0xa7, 0xb8, 0x11, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8}

// ThreadID is the agent thread id of a conversation: a UUIDv5 in the URL
// namespace over "slack://<team>/<channel>/<root_ts>", so every replica and
// every restart derives the same id without asking anyone. It is computed
// here with the standard library (RFC 9562 §5.5) so the domain needs no
// outside module; the store tests check it against github.com/google/uuid.
func ThreadID(k Key) string {
	h := sha1.New()
	h.Write(nameSpaceURL[:])
	h.Write([]byte(k.String()))
	var u [16]byte
	copy(u[:], h.Sum(nil))
	u[6] = u[6]&0x0f | 0x50 // version 5
	u[8] = u[8]&0x3f | 0x80 // RFC 9562 variant
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:], u[10:])
	return string(b[:])
}

// Options are the thread options a conversation was created with.
type Options struct {
	TestRun                   bool
	SkipMemoryWriteProtection bool
}

// Conversation is a Slack thread bound to an agent thread. It keeps the agent
// and options it was created with even if the channel's policy changes later.
type Conversation struct {
	Key       Key
	ThreadID  string
	AgentID   string
	Options   Options
	StartedBy string // Slack user id
	CreatedAt time.Time
	// MentionsOnly marks a conversation the bot joined in someone else's
	// thread: only messages that mention the bot continue it.
	MentionsOnly bool
}

// AssistantContext is the channel a user has in view beside a Slack AI app
// thread, as Slack last told it.
type AssistantContext struct {
	Key       Key       // the AI app thread: its DM channel and thread_ts
	ChannelID string    // the channel in view
	EventAt   time.Time // the event's event_ts: the newest event wins
}
