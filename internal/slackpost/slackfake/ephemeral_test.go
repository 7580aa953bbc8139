package slackfake_test

import (
	"strings"
	"testing"

	"github.com/slack-go/slack"

	"github.com/deepagents-slack/slackbot/internal/slackpost/slackfake"
)

func TestEphemeralsFromPostEphemeralAndResponseURL(t *testing.T) {
	fake, api := newClient(t)

	if _, err := api.PostEphemeral(channel, "UALICE", slack.MsgOptionText("only you see this", false)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := api.PostMessage(fake.ResponseURL("cmd-1"),
		slack.MsgOptionResponseURL(fake.ResponseURL("cmd-1"), slack.ResponseTypeEphemeral),
		slack.MsgOptionText("invite me with /invite @bot", false)); err != nil {
		t.Fatal(err)
	}
	url := fake.ResponseURLFor("cmd-2", "C0OTHER01", "UBOB")
	if _, _, err := api.PostMessage("", slack.MsgOptionReplaceOriginal(url), slack.MsgOptionText("approved", false)); err != nil {
		t.Fatal(err)
	}

	got := fake.Ephemerals()
	want := []slackfake.Ephemeral{
		{Channel: channel, User: "UALICE", Text: "only you see this"},
		{ResponseID: "cmd-1", Text: "invite me with /invite @bot", ResponseType: "ephemeral"},
		{Channel: "C0OTHER01", User: "UBOB", ResponseID: "cmd-2", Text: "approved", ReplaceOriginal: true},
	}
	if len(got) != len(want) {
		t.Fatalf("ephemerals = %+v", got)
	}
	for i := range want {
		if !equalEphemeral(got[i], want[i]) {
			t.Errorf("ephemeral %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if n := len(fake.Messages(channel)); n != 0 {
		t.Errorf("ephemeral messages leaked into the channel: %d", n)
	}
	if calls := fake.CallsTo("response_url"); len(calls) != 2 || calls[0].Params["response_id"] != "cmd-1" {
		t.Errorf("response_url calls = %+v", calls)
	}
}

func equalEphemeral(a, b slackfake.Ephemeral) bool {
	return a.Channel == b.Channel && a.User == b.User && a.ResponseID == b.ResponseID && a.Text == b.Text &&
		a.ResponseType == b.ResponseType && a.ReplaceOriginal == b.ReplaceOriginal && a.DeleteOriginal == b.DeleteOriginal
}

func TestResponseURLFaults(t *testing.T) {
	fake, api := newClient(t)
	fake.RateLimit("response_url", 1, 2)
	_, _, err := api.PostMessage("", slack.MsgOptionResponseURL(fake.ResponseURL("r"), slack.ResponseTypeEphemeral), slack.MsgOptionText("x", false))
	if err == nil || !strings.Contains(err.Error(), "rate limit") {
		t.Errorf("rate-limited response_url: %v", err)
	}
	_, _, err = api.PostMessage("", slack.MsgOptionResponseURL(fake.ResponseURL("r"), slack.ResponseTypeEphemeral))
	if code := slackError(t, err); code != "no_text" {
		t.Errorf("empty response: %s", code)
	}
	if n := len(fake.Ephemerals()); n != 0 {
		t.Errorf("%d ephemerals recorded from failed posts", n)
	}
}

func TestTranscript(t *testing.T) {
	fake, api := newClient(t)
	fake.SetUserName("UALICE", "alice")
	fake.SetUserName(fake.BotUserID(), "Deep Agent")

	root := fake.UserMessage(channel, "UALICE", "summarise the incident", "")
	if err := api.AddReaction("eyes", slack.NewRefToMessage(channel, root)); err != nil {
		t.Fatal(err)
	}
	_, reply, err := api.PostMessage(channel, slack.MsgOptionText("Working…", false), slack.MsgOptionTS(root))
	if err != nil {
		t.Fatal(err)
	}
	answer := slack.NewMarkdownBlock("", "Here is the summary:\n- the deploy failed")
	buttons := slack.NewActionBlock("",
		slack.NewButtonBlockElement("approve", "yes", slack.NewTextBlockObject(slack.PlainTextType, "Approve", false, false)),
		slack.NewButtonBlockElement("reject", "no", slack.NewTextBlockObject(slack.PlainTextType, "Reject", false, false)))
	if _, _, _, err := api.UpdateMessage(channel, reply, slack.MsgOptionText("Here is the summary", false), slack.MsgOptionBlocks(answer, buttons)); err != nil {
		t.Fatal(err)
	}
	fake.UserMessage(channel, "UALICE", "thanks!", root)
	fake.UserMessage(channel, "UBOB", "unrelated", "")
	fake.UserMessage(channel, "UBOB", "lost reply", "1.000001")
	_, _, err = api.StartStream(channel, slack.MsgOptionTS(root), slack.MsgOptionRecipientUserID("UALICE"),
		slack.MsgOptionRecipientTeamID("T1"), slack.MsgOptionMarkdownText("still typing"))
	if err != nil {
		t.Fatal(err)
	}

	want := `#C0TEAM001
alice: summarise the incident
  [:eyes:]
    ↳ Deep Agent (app): Here is the summary:
        - the deploy failed
        [Approve] [Reject]
        (edited)
    ↳ alice: thanks!
    ↳ Deep Agent (app): still typing
        (streaming…)
UBOB: unrelated
(thread 1.000001, root message not found)
    ↳ UBOB: lost reply
`
	if got := fake.Transcript(channel); got != want {
		t.Errorf("transcript:\n%s\nwant:\n%s", got, want)
	}
	if got := fake.Transcript("C0EMPTY01"); got != "#C0EMPTY01\n(no messages)\n" {
		t.Errorf("empty transcript = %q", got)
	}
}
