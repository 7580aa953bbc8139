package slackbot

// Command is a verified slash command invocation.
type Command struct {
	TeamID       string
	EnterpriseID string
	ChannelID    string
	ChannelName  string
	UserID       string
	UserName     string
	Command      string // e.g. "/agent"
	Text         string // everything after the command, trimmed
	ResponseURL  string
	TriggerID    string
}

// Reply is the body of a slash command's ack. Empty Text acks with an empty
// 200; otherwise the text is shown ephemerally, or to the channel if InChannel.
type Reply struct {
	Text      string
	InChannel bool
}

// Message is a user's message that may start or continue a conversation:
// an app_mention, a DM, or a plain message in a channel. The edge has
// already dropped bot messages, the bot's own messages and subtypes.
type Message struct {
	EventID     string
	TeamID      string
	ChannelID   string
	ChannelType string // "im", "channel", "group", "mpim"
	UserID      string
	UserTeam    string // the user's own workspace (differs from TeamID for Slack Connect users)
	Text        string // as Slack sent it (escaped), the bot's mention stripped, other mentions kept
	TS          string
	ThreadTS    string // empty at top level
	Mention     bool   // the bot was mentioned (app_mention, or its <@id> in the text)
	RetryNum    int    // X-Slack-Retry-Num, 0 for a first delivery
	RetryReason string // X-Slack-Retry-Reason
	Files       []File // files shared with the message (subtype file_share, or on a mention)
}

// File is a file shared with a message, as the event describes it.
type File struct {
	ID                 string `json:"id"`
	Name               string `json:"name"`
	Title              string `json:"title"`
	Mimetype           string `json:"mimetype"`
	Filetype           string `json:"filetype"`
	Size               int64  `json:"size"`
	URLPrivate         string `json:"url_private"`
	URLPrivateDownload string `json:"url_private_download"`
}

// AssistantThread is a Slack AI app thread the user just opened, or whose
// context (the channel the user has in view) changed.
type AssistantThread struct {
	EventID          string
	TeamID           string
	ChannelID        string
	ThreadTS         string
	UserID           string
	ContextChannelID string
	EventTS          string // the event's event_ts: orders context changes
}

// SessionStop is a user pressing Slack's own Stop in an AI app thread
// (the agent_session_stopped event).
type SessionStop struct {
	EventID   string
	TeamID    string
	ChannelID string
	ThreadTS  string
	UserID    string
	// StreamingTS are the bot's streamed messages Slack halted.
	StreamingTS []string
	EventTS     string
}

// Action is a click on a Block Kit button of one of the bot's messages.
type Action struct {
	TeamID      string
	UserID      string
	UserName    string
	ChannelID   string
	MessageTS   string
	ThreadTS    string
	ActionID    string
	BlockID     string
	Value       string
	ResponseURL string
	TriggerID   string
}

// ViewSubmission is a submitted modal (e.g. editing a tool call before approving).
type ViewSubmission struct {
	TeamID          string
	UserID          string
	CallbackID      string
	PrivateMetadata string
	// Values maps block_id -> action_id -> submitted value.
	Values map[string]map[string]string
}
