package main

import (
	"strings"
	"testing"

	"github.com/deepagents-slack/slackbot/internal/agents/agentstest"
	"github.com/deepagents-slack/slackbot/internal/bottest"
)

// TestNoOneCanMakeTheBotPing: a user asks the agent to repeat broadcast
// mentions, through the slash command and a mention. The agent gets the
// text readable and unescaped once; the root message keeps the user
// mention; nothing the bot posts (notification text included) pings the
// channel, yet "@here" stays visible.
func TestNoOneCanMakeTheBotPing(t *testing.T) {
	e := newTestEnv(t, agentstest.Echo(), nil, nil)
	root := e.ask(userAnna, chGeneral, "<!channel> please repeat exactly: <!here> &amp; <@"+userBen+">")
	e.waitReplies(chGeneral, root, 1)
	ev := bottest.AsMention(e.Mention(userAnna, chGeneral, "please repeat exactly: <!subteam^S0123|@devs> @everyone", ""))
	e.deliver("Ev-ping", ev, 0)
	e.waitReplies(chGeneral, ev["ts"].(string), 1)

	if got := prompts(e.runBodies()); len(got) != 2 ||
		got[0] != "@channel please repeat exactly: @here & @"+userBen ||
		got[1] != "please repeat exactly: @devs @everyone" {
		t.Errorf("prompts = %q", got)
	}
	if b := e.Slack.Broadcasts(); len(b) > 0 {
		t.Errorf("the bot pinged: %v", b)
	}
	rootMsg, _ := e.Slack.Message(chGeneral, root)
	if !strings.Contains(rootMsg.Rendered, "<@"+userBen+">") || !strings.Contains(rootMsg.Rendered, "@\u2060here &amp; ") {
		t.Errorf("root message = %q, want the user mention kept and @here inert", rootMsg.Rendered)
	}
	if got := bottest.AnswerText(e.Slack, chGeneral, root); !strings.Contains(got, "exactly: @\u2060here") {
		t.Errorf("answer = %q, want @here visible and inert", got)
	}
}
