package relay

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/deepagents-slack/slackbot/internal/agents"
	"github.com/deepagents-slack/slackbot/internal/slacktext"
)

// rootPrompt is who asked and their prompt, for the channel message a
// slash command's conversation hangs off (slackpost.Poster.PostPrompt). The
// prompt is echoed as Slack sent it, mentions and channel links kept.
func rootPrompt(p payload) (who, echo string) {
	who = "<@" + p.UserID + "> asked:"
	if p.TestRun {
		who = ":test_tube: <@" + p.UserID + "> started a test run:"
	}
	echo = p.Echo
	if echo == "" {
		echo = slacktext.Escape(p.Text) // jobs recorded before Echo existed
	}
	return who, echo
}

// helpText is the ephemeral answer to "/agent help" and an empty "/agent".
func helpText(command string, p Policy, channel string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "*How to use %s*\n", command)
	fmt.Fprintf(&b, "• `%s <prompt>` — start a conversation with the agent; the answer arrives in a thread\n", command)
	fmt.Fprintf(&b, "• `@mention` me in a channel or send me a DM to do the same; reply in the thread to follow up\n")
	fmt.Fprintf(&b, "• `%s status` — this channel's agent and settings\n", command)
	fmt.Fprintf(&b, "• `%s test <prompt>` — a test run, left out of usage and analytics (ops only)\n", command)
	b.WriteString("\n")
	b.WriteString(statusText(p, channel))
	return b.String()
}

// statusText describes the channel's policy.
func statusText(p Policy, channel string) string {
	if !p.Allows(channel) {
		return "I am not enabled in this channel. Ask an admin to add it to `ALLOWED_CHANNELS`."
	}
	var b strings.Builder
	fmt.Fprintf(&b, "*Agent in this channel:* `%s`\n", p.AgentFor(channel))
	fmt.Fprintf(&b, "*Headless* (memory writes need no approval): %s\n", yesNo(p.HeadlessChannels[channel]))
	fmt.Fprintf(&b, "*Test runs* (left out of usage and analytics): %s", yesNo(p.TestRunChannels[channel]))
	return b.String()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

const (
	notAllowedText = "Sorry, I am not enabled in this channel. Ask an admin to add it to `ALLOWED_CHANNELS`, or DM me."
	opsOnlyText    = "Only ops users can post test runs. Ask an admin to add you to `OPS_USERS`, or run the prompt without `test`."
	emptyTestText  = "Usage: `%s test <prompt>`"
)

// cannotPostText tells a user why the bot could not post in a channel.
func cannotPostText(code string) string {
	switch code {
	case "is_archived":
		return "I can't post in this channel because it is archived."
	case "restricted_action", "restricted_action_read_only_channel", "restricted_action_thread_only_channel", "restricted_action_non_threadable_channel":
		return "I don't have permission to post in this channel. Ask a workspace admin to allow it."
	default:
		return "I can't post in this channel yet. Invite me with `/invite` and my name, then try again."
	}
}

// failureText turns an error from the agent runtime into a message a Slack
// user can act on. It never includes secrets or the runtime's address (a
// transport error names its URL; the log has it); the runtime's detail is
// kept because it says what was wrong with the request.
func failureText(err error) string {
	var apiErr *agents.Error
	if !errors.As(err, &apiErr) {
		return "I couldn't reach the agent runtime. Please try again in a few minutes."
	}
	detail := apiErr.Detail
	if detail == "" {
		detail = apiErr.Message
	}
	switch apiErr.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden:
		return "The agent runtime rejected this bot's API key (" + http.StatusText(apiErr.StatusCode) + "). An admin needs to check `LANGSMITH_API_KEY` and its workspace access."
	case http.StatusNotFound:
		return "The agent configured for this channel was not found. An admin needs to check `AGENT_ID` / `CHANNEL_AGENTS`." + suffix(detail)
	case http.StatusConflict:
		return "This conversation is busy with another run. Wait for it to finish and try again." + suffix(detail)
	case http.StatusBadRequest, http.StatusUnprocessableEntity:
		return "The agent runtime rejected the request." + suffix(detail)
	case http.StatusTooManyRequests:
		return "The agent runtime is rate limiting us and retries did not help. Please try again in a few minutes."
	case http.StatusBadGateway:
		return "The agent runtime failed upstream." + suffix(detail) + " Please try again; if it keeps failing, the agent may have been deleted."
	case http.StatusServiceUnavailable:
		return "The agent runtime is unavailable right now. Please try again in a few minutes."
	}
	return fmt.Sprintf("The agent runtime answered with an error (%d).", apiErr.StatusCode) + suffix(detail)
}

func suffix(detail string) string {
	detail = strings.TrimSpace(detail)
	if detail == "" {
		return ""
	}
	return " Details: " + truncate(detail, 500)
}

func shortErr(err error) string {
	return truncate(err.Error(), 200)
}

// truncate cuts s to at most n runes, marking the cut.
func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
