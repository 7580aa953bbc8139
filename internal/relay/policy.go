package relay

import "github.com/deepagents-slack/slackbot"

// Policy is the per-channel configuration: which agent answers where, which
// channels run headless or as test runs, and who may do what.
type Policy struct {
	DefaultAgent     string
	ChannelAgents    map[string]string // channel id -> agent id
	HeadlessChannels map[string]bool
	TestRunChannels  map[string]bool
	OpsUsers         map[string]bool
	ApproverUsers    map[string]bool
	AllowedChannels  map[string]bool // empty: every channel
}

// AgentFor returns the agent that new conversations in channel are bound to.
func (p Policy) AgentFor(channel string) string {
	if id, ok := p.ChannelAgents[channel]; ok {
		return id
	}
	return p.DefaultAgent
}

// Allows reports whether the bot may work in channel.
func (p Policy) Allows(channel string) bool {
	return len(p.AllowedChannels) == 0 || p.AllowedChannels[channel]
}

// OptionsFor returns the thread options of a new conversation in channel;
// testRun forces test_run (ops' /agent test).
func (p Policy) OptionsFor(channel string, testRun bool) slackbot.Options {
	return slackbot.Options{
		TestRun:                   testRun || p.TestRunChannels[channel],
		SkipMemoryWriteProtection: p.HeadlessChannels[channel],
	}
}

// IsOps reports whether user may post test runs.
func (p Policy) IsOps(user string) bool { return p.OpsUsers[user] }

// MayDecide reports whether user may decide an approval card of a run that
// startedBy started: that person, ops, and the configured approvers.
func (p Policy) MayDecide(user, startedBy string) bool {
	return user == startedBy || p.OpsUsers[user] || p.ApproverUsers[user]
}
