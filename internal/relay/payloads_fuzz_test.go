package relay

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/deepagents-slack/slackbot"
	"github.com/deepagents-slack/slackbot/internal/agents"
	"github.com/deepagents-slack/slackbot/internal/slackpost"
	"github.com/deepagents-slack/slackbot/internal/slackpost/slackfake"
	"github.com/deepagents-slack/slackbot/internal/slacktext"
)

// hostileSeeds are prompts and agent outputs that have broken Slack
// payloads or pinged channels: markup that grows when escaped, entities,
// emoji (surrogate pairs), very long and very many lines, and broadcast
// mentions in every form.
func hostileSeeds() []string {
	return []string{
		"please repeat exactly: <!here>",
		"<!channel> <!everyone> <!here|here> <!subteam^S0123|@devs> <!subteam^S9>",
		"@here @channel @everyone @Here, hey@channel",
		"&lt;!here&gt; &amp;lt;!channel&amp;gt; <@U123> <#C123|general> <https://x.y|@here>",
		strings.Repeat("<>&", 1000),
		strings.Repeat("😀🧑‍💻", 1600),
		strings.Repeat("line <b>&amp;</b>\n", 10_001),
		strings.Repeat("<!here>\n", 2_000),
		"```\n" + strings.Repeat("<!channel> & <code>\n", 3000) + "```",
		"| a | <!here> |\n|---|---|\n| " + strings.Repeat("x&", 500) + " | y |",
		"<!date^1700000000^{date}|fallback> <!he",
		"",
	}
}

// FuzzBotPayloads: everything the bot builds from a user's prompt and an
// agent's output — the root message, the answer, approval cards before and
// after a decision, the review modal and ephemeral replies — is accepted
// by the strict fake Slack, and none of it pings a channel.
func FuzzBotPayloads(f *testing.F) {
	seeds := hostileSeeds()
	for i, s := range seeds {
		f.Add(s, seeds[(i+1)%len(seeds)])
	}
	fake := slackfake.New(slackfake.WithoutRateTiers())
	f.Cleanup(fake.Close)
	poster := slackpost.New(slack.New("xoxb-test", slack.OptionAPIURL(fake.APIURL())))
	f.Fuzz(func(t *testing.T, prompt, output string) {
		fake.Reset()
		ctx := context.Background()
		post := func(what string, m slackpost.Message) string {
			t.Helper()
			ts, err := poster.Post(ctx, "C0FUZZ001", "", m)
			if err != nil {
				t.Fatalf("%s refused: %v", what, err)
			}
			return ts
		}
		// The prompt as Slack delivers it (escaped) and as hostile raw text.
		for _, echo := range []string{slacktext.Escape(prompt), prompt} {
			who, echo := rootPrompt(payload{UserID: "U1", Text: readableForAgent(echo), Echo: echo, TestRun: len(echo)%2 == 0})
			if _, err := poster.PostPrompt(ctx, "C0FUZZ001", who, echo); err != nil {
				t.Fatalf("root message refused: %v", err)
			}
		}
		for i, m := range slackpost.RenderAnswer(output) {
			post("answer part "+string(rune('0'+i%10)), m)
		}

		ic := agents.Interrupt{
			ActionRequests: []agents.ActionRequest{
				{Name: "write_file", Args: map[string]any{"file_path": "/memories/" + prompt, "content": output}},
				{Name: strings.Join(strings.Fields(prompt), " "), Args: map[string]any{"text": output, "to": prompt}, Description: prompt},
			},
			ReviewConfigs: []agents.ReviewConfig{{ActionName: strings.Join(strings.Fields(prompt), " "), AllowedDecisions: []string{
				agents.DecisionApprove, agents.DecisionEdit, agents.DecisionReject, agents.DecisionRespond}}},
		}
		for _, n := range []int{1, 2, 12} {
			ic := ic
			ic.ActionRequests = ic.ActionRequests[:min(n, 2)]
			for len(ic.ActionRequests) < n {
				ic.ActionRequests = append(ic.ActionRequests, ic.ActionRequests[1])
			}
			card := slackbot.Card{ID: "card-0123456789abcdef", StartedBy: "U1", ChannelID: "C0FUZZ001"}
			ts, err := poster.PostApprovalCard(ctx, "C0FUZZ001", "", card, ic)
			if err != nil {
				t.Fatalf("approval card refused: %v", err)
			}
			card.DecidedBy, card.DecidedAt = "U2", time.Unix(1_700_000_000, 0)
			if err := poster.ShowDecision(ctx, "C0FUZZ001", ts, card, ic, []agents.Decision{{Type: agents.DecisionReject, Message: prompt + output}}); err != nil {
				t.Fatalf("decided card refused: %v", err)
			}
			if err := poster.OpenReview(ctx, "trigger", card, ic); err != nil {
				t.Fatalf("review modal refused: %v", err)
			}
		}
		if err := poster.Ephemeral(ctx, "C0FUZZ001", "U1", "That decision isn't allowed for this request: "+slacktext.Escape(prompt)); err != nil {
			t.Fatalf("ephemeral refused: %v", err)
		}
		for _, c := range fake.Calls() {
			if !c.OK {
				t.Fatalf("%s answered %s", c.Method, c.Error)
			}
		}
		if b := fake.Broadcasts(); len(b) > 0 {
			t.Fatalf("the bot pinged: %v", b)
		}
	})
}
