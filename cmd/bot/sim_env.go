package main

import (
	"sort"
	"strconv"
	"strings"
)

// Environ is the environment that configures a process exactly like the
// sim's service (same fakes, same store), so subcommands such as
// `bot test-run` can run against it as an operator would run them next to
// a deployment. extra adds or overrides settings.
func (s *sim) Environ(extra map[string]string) func(string) string {
	c := s.Config
	env := map[string]string{
		"SLACK_SIGNING_SECRET": c.SigningSecret,
		"SLACK_BOT_TOKEN":      c.BotToken,
		"SLACK_API_URL":        c.SlackAPIURL,
		"LANGSMITH_API_KEY":    c.APIKey,
		"DEEPAGENTS_BASE_URL":  c.BaseURL,
		"AGENT_ID":             c.Policy.DefaultAgent,
		"CHANNEL_AGENTS":       joinPairs(c.Policy.ChannelAgents),
		"HEADLESS_CHANNELS":    joinSet(c.Policy.HeadlessChannels),
		"TEST_RUN_CHANNELS":    joinSet(c.Policy.TestRunChannels),
		"OPS_USERS":            joinSet(c.Policy.OpsUsers),
		"APPROVER_USERS":       joinSet(c.Policy.ApproverUsers),
		"ALLOWED_CHANNELS":     joinSet(c.Policy.AllowedChannels),
		"DATABASE_URL":         c.DatabaseURL,
		"SLASH_COMMAND":        c.SlashCommand,
		"REACTIONS":            strconv.FormatBool(c.Reactions),
		"SLACK_STREAMING":      strconv.FormatBool(c.Streaming),
		"SLACK_TIER_SCALE":     strconv.FormatFloat(c.SlackTierScale, 'g', -1, 64),
		"LOG_LEVEL":            c.LogLevel,
		"LEASE_TTL":            c.LeaseTTL.String(),
	}
	if c.LeaseTTL == 0 {
		delete(env, "LEASE_TTL")
	}
	for k, v := range extra {
		env[k] = v
	}
	return func(k string) string { return env[k] }
}

func joinSet(m map[string]bool) string {
	ids := make([]string, 0, len(m))
	for id, on := range m {
		if on {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return strings.Join(ids, ",")
}

func joinPairs(m map[string]string) string {
	pairs := make([]string, 0, len(m))
	for k, v := range m {
		pairs = append(pairs, k+":"+v)
	}
	sort.Strings(pairs)
	return strings.Join(pairs, ",")
}
