package slackpost

import (
	"context"
	"strings"
	"testing"

	"github.com/slack-go/slack"

	"github.com/deepagents-slack/slackbot/internal/slackpost/slackfake"
)

// FuzzLivePayloads: every live reply the bot writes for hostile agent
// output — progress with plan and activity (chat.update), stream chunks,
// the final answer with its plan, a failure note — is accepted by the
// strict fake Slack and pings no one.
func FuzzLivePayloads(f *testing.F) {
	for _, s := range []string{
		"please repeat exactly: <!here>",
		"<!channel> <!everyone> <!subteam^S1|@devs> @here @everyone",
		strings.Repeat("<b>&amp;</b> 😀\n", 10_001),
		"```\n" + strings.Repeat("<!here> & <x>\n", 2000) + "```",
		"<!he",
	} {
		f.Add(s, "Running tool `x`, then <!channel>\nSubagent `y`", s[:min(len(s), 40)])
	}
	fake := slackfake.New(slackfake.WithoutRateTiers())
	f.Cleanup(fake.Close)
	p := New(slack.New("xoxb-test", slack.OptionAPIURL(fake.APIURL())))
	f.Fuzz(func(t *testing.T, text, activity, todo string) {
		fake.Reset()
		ctx := context.Background()
		root := fake.UserMessage("C0FUZZ001", "U1", "go", "")
		todos := []Todo{{todo, TodoCompleted}, {todo + todo, TodoInProgress}, {activity, TodoPending}}
		pr := Progress{Text: text, Todos: todos, Activity: activity}

		l := p.NewLive("C0FUZZ001", root, LiveOptions{Streaming: true, Status: true, RecipientUserID: "U1", RecipientTeamID: "T1"})
		defer l.Close()
		if _, err := l.Start(ctx); err != nil {
			t.Fatalf("start: %v", err)
		}
		l.writeMu.Lock()
		for _, step := range []Progress{{Text: text[:len(text)/2]}, pr, {Text: text, Todos: todos[:1]}} {
			if err := l.show(ctx, step); err != nil {
				t.Fatalf("show: %v", err)
			}
			l.showStatus(ctx, step, false)
		}
		l.writeMu.Unlock()
		l.Update(pr)
		if err := l.Finish(ctx, text, 0, nil); err != nil {
			t.Fatalf("finish: %v", err)
		}
		if _, err := p.Post(ctx, "C0FUZZ001", root, renderProgress(pr, todo, text)); err != nil {
			t.Fatalf("failure note: %v", err)
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
