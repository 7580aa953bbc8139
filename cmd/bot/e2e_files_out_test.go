package main

import (
	"strings"
	"testing"

	"github.com/deepagents-slack/slackbot/internal/agents/agentstest"
	"github.com/deepagents-slack/slackbot/internal/bottest"
	"github.com/deepagents-slack/slackbot/internal/slackpost/slackfake"
)

// TestOutputFileUploadedOnce: a file the agent wrote under /outputs/ is
// shared in the thread with the answer through Slack's external upload
// flow, once; files elsewhere and memories are not.
func TestOutputFileUploadedOnce(t *testing.T) {
	report := "# Weekly report\n\n- shipped the bot\n- wrote tests"
	e := newTestEnv(t, agentstest.Scripted(
		agentstest.WriteFile("/scratch/draft.md", "not for Slack"),
		agentstest.WriteFile("/memories/prefs.md", "private"),
		agentstest.WriteFile("/outputs/report.md", report),
		agentstest.Text("The report is attached."),
	), nil, nil)
	root := e.ask(userAnna, chGeneral, "write the weekly report")
	e.waitAnswer(chGeneral, root, "The report is attached.")
	e.waitSlack("the upload", func(f *slackfake.Server) bool { return len(f.Uploads()) > 0 })

	ups := e.Slack.Uploads()
	if len(ups) != 1 {
		t.Fatalf("%d uploads, want 1: %+v", len(ups), ups)
	}
	up := ups[0]
	if up.Name != "report.md" || string(up.Content) != report || up.Channel != chGeneral || up.ThreadTS != root {
		t.Errorf("upload %+v (content %q); want report.md with the report in the thread", up, up.Content)
	}
	for _, m := range []string{"files.getUploadURLExternal", "files.completeUploadExternal"} {
		if n := len(e.Slack.CallsTo(m)); n != 1 {
			t.Errorf("%d calls to %s, want 1", n, m)
		}
	}
	// The follow-up's run writes the same report again (the script replays):
	// the same version of a file is not shared twice in a conversation.
	e.deliver("Ev-files-followup", e.UserSays(userAnna, chGeneral, "channel", "thanks", root), 0)
	e.waitReplies(chGeneral, root, 2)
	if n := len(e.Slack.Uploads()); n != 1 {
		t.Errorf("%d uploads after a follow-up that wrote nothing new, want 1", n)
	}
	if strings.Contains(bottest.AnswerText(e.Slack, chGeneral, root), "private") {
		t.Error("a memory leaked into the thread")
	}
}
