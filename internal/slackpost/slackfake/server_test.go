package slackfake_test

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/deepagents-slack/slackbot/internal/slackpost/slackfake"
)

const channel = "C0TEAM001"

func newClient(t *testing.T, opts ...slackfake.Option) (*slackfake.Server, *slack.Client) {
	t.Helper()
	fake := slackfake.New(opts...)
	t.Cleanup(fake.Close)
	return fake, slack.New("xoxb-test", slack.OptionAPIURL(fake.APIURL()))
}

// slackError returns the Slack error code of err, failing the test if it is not one.
func slackError(t *testing.T, err error) string {
	t.Helper()
	var se slack.SlackErrorResponse
	if !errors.As(err, &se) {
		t.Fatalf("error %v (%T) is not a slack.SlackErrorResponse", err, err)
	}
	return se.Err
}

var tsPattern = regexp.MustCompile(`^\d{10}\.\d{6}$`)

func TestAPIURLEndsWithSlash(t *testing.T) {
	fake := slackfake.New()
	defer fake.Close()
	if !strings.HasSuffix(fake.APIURL(), "/") {
		t.Fatalf("APIURL %q must end with /", fake.APIURL())
	}
}

func TestAuth(t *testing.T) {
	fake := slackfake.New(slackfake.WithBotUser("UB1", "BB1", "TT1"))
	defer fake.Close()

	resp, err := slack.New("xoxb-test", slack.OptionAPIURL(fake.APIURL())).AuthTest()
	if err != nil {
		t.Fatal(err)
	}
	if resp.UserID != "UB1" || resp.BotID != "BB1" || resp.TeamID != "TT1" {
		t.Errorf("auth.test = %+v", resp)
	}

	_, err = slack.New("xoxb-wrong", slack.OptionAPIURL(fake.APIURL())).AuthTest()
	if code := slackError(t, err); code != "invalid_auth" {
		t.Errorf("wrong token: %s, want invalid_auth", code)
	}
	_, _, err = slack.New("xoxb-wrong", slack.OptionAPIURL(fake.APIURL())).PostMessage(channel, slack.MsgOptionText("x", false))
	if code := slackError(t, err); code != "invalid_auth" {
		t.Errorf("wrong token post: %s, want invalid_auth", code)
	}
	if n := len(fake.Messages(channel)); n != 0 {
		t.Errorf("unauthenticated post stored %d messages", n)
	}
}

func TestPostInThreadAndUpdate(t *testing.T) {
	fake, api := newClient(t)
	root := fake.UserMessage(channel, "UALICE", "summarise the incident", "")

	ch, ts, err := api.PostMessage(channel, slack.MsgOptionText("Working on it…", false), slack.MsgOptionTS(root))
	if err != nil {
		t.Fatal(err)
	}
	if ch != channel || !tsPattern.MatchString(ts) || ts <= root {
		t.Fatalf("post answered channel %q ts %q (root %q)", ch, ts, root)
	}

	md := slack.NewMarkdownBlock("", "**Done.** The deploy failed at 10:02.")
	ctx := slack.NewContextBlock("", slack.NewTextBlockObject(slack.MarkdownType, "ran for 3s", false, false))
	if _, _, _, err := api.UpdateMessage(channel, ts, slack.MsgOptionText("Done.", false), slack.MsgOptionBlocks(md, ctx)); err != nil {
		t.Fatal(err)
	}

	thread := fake.Thread(channel, root)
	if len(thread) != 2 {
		t.Fatalf("thread has %d messages, want 2", len(thread))
	}
	reply := thread[1]
	if reply.ThreadTS != root || !reply.IsBot() || reply.User != fake.BotUserID() {
		t.Errorf("reply = %+v", reply)
	}
	if reply.Text != "Done." || reply.Updates != 1 {
		t.Errorf("reply text %q updates %d", reply.Text, reply.Updates)
	}
	if want := "**Done.** The deploy failed at 10:02.\nran for 3s"; reply.Rendered != want {
		t.Errorf("Rendered = %q, want %q", reply.Rendered, want)
	}
	if len(reply.Blocks) == 0 {
		t.Error("blocks not kept")
	}
}

func TestTimestampsUniqueAndIncreasing(t *testing.T) {
	fake, api := newClient(t)
	last := ""
	for i := range 20 {
		var ts string
		if i%2 == 0 {
			ts = fake.UserMessage(channel, "UALICE", "hi", "")
		} else {
			var err error
			if _, ts, err = api.PostMessage(channel, slack.MsgOptionText("hey", false)); err != nil {
				t.Fatal(err)
			}
		}
		if !tsPattern.MatchString(ts) || ts <= last {
			t.Fatalf("ts %q after %q", ts, last)
		}
		last = ts
	}
}

func TestUpdateAndDeleteErrors(t *testing.T) {
	fake, api := newClient(t)
	userTS := fake.UserMessage(channel, "UALICE", "hello", "")
	_, botTS, err := api.PostMessage(channel, slack.MsgOptionText("hi", false))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		call func() error
		want string
	}{
		{"update unknown ts", func() error {
			_, _, _, err := api.UpdateMessage(channel, "1.000001", slack.MsgOptionText("x", false))
			return err
		}, "message_not_found"},
		{"update user's message", func() error {
			_, _, _, err := api.UpdateMessage(channel, userTS, slack.MsgOptionText("x", false))
			return err
		}, "cant_update_message"},
		{"update without content", func() error {
			_, _, _, err := api.UpdateMessage(channel, botTS)
			return err
		}, "no_text"},
		{"markdown_text with text", func() error {
			_, _, _, err := api.UpdateMessage(channel, botTS, slack.MsgOptionText("x", false), slack.MsgOptionMarkdownText("**x**"))
			return err
		}, "markdown_text_conflict"},
		{"delete user's message", func() error {
			_, _, err := api.DeleteMessage(channel, userTS)
			return err
		}, "cant_delete_message"},
		{"post without content", func() error {
			_, _, err := api.PostMessage(channel)
			return err
		}, "no_text"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if code := slackError(t, tt.call()); code != tt.want {
				t.Errorf("got %s, want %s", code, tt.want)
			}
		})
	}

	if _, _, err := api.DeleteMessage(channel, botTS); err != nil {
		t.Fatal(err)
	}
	if msgs := fake.Messages(channel); len(msgs) != 1 || msgs[0].TS != userTS {
		t.Errorf("after delete: %+v", msgs)
	}
}

func TestMarkdownText(t *testing.T) {
	fake, api := newClient(t)
	_, ts, err := api.PostMessage(channel, slack.MsgOptionMarkdownText("# Title\n**bold**"))
	if err != nil {
		t.Fatal(err)
	}
	m, found := fake.Message(channel, ts)
	if !found || m.Rendered != "# Title\n**bold**" {
		t.Errorf("message = %+v", m)
	}
}

func TestChannelFaults(t *testing.T) {
	fake, api := newClient(t)
	fake.NotInChannel("C0OUTSIDE")
	fake.Archived("C0ARCHIVE")
	tests := []struct {
		channel string
		want    string
	}{
		{"C0OUTSIDE", "not_in_channel"},
		{"C0ARCHIVE", "is_archived"},
		{"general", "channel_not_found"},
		{"", "channel_not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.want+"/"+tt.channel, func(t *testing.T) {
			_, _, err := api.PostMessage(tt.channel, slack.MsgOptionText("hi", false))
			if code := slackError(t, err); code != tt.want {
				t.Errorf("got %s, want %s", code, tt.want)
			}
		})
	}
	fake.JoinChannel("C0OUTSIDE")
	if _, _, err := api.PostMessage("C0OUTSIDE", slack.MsgOptionText("hi", false)); err != nil {
		t.Errorf("after JoinChannel: %v", err)
	}
}

func TestRateLimit(t *testing.T) {
	fake, api := newClient(t)
	fake.RateLimit("chat.postMessage", 2, 7)

	for range 2 {
		_, _, err := api.PostMessage(channel, slack.MsgOptionText("hi", false))
		var rl *slack.RateLimitedError
		if !errors.As(err, &rl) {
			t.Fatalf("error %v (%T), want *slack.RateLimitedError", err, err)
		}
		if rl.RetryAfter != 7*time.Second {
			t.Errorf("RetryAfter = %s, want 7s", rl.RetryAfter)
		}
	}
	if n := len(fake.Messages(channel)); n != 0 {
		t.Fatalf("rate-limited posts stored %d messages", n)
	}
	if _, _, err := api.PostMessage(channel, slack.MsgOptionText("hi", false)); err != nil {
		t.Fatalf("third post: %v", err)
	}
	calls := fake.CallsTo("chat.postMessage")
	if len(calls) != 3 || calls[0].OK || calls[0].Error != "ratelimited" || !calls[2].OK {
		t.Errorf("calls = %+v", calls)
	}
}

func TestFailNext(t *testing.T) {
	fake, api := newClient(t)
	fake.FailNext("chat.update", "internal_error")
	_, ts, err := api.PostMessage(channel, slack.MsgOptionText("hi", false))
	if err != nil {
		t.Fatal(err)
	}
	_, _, _, err = api.UpdateMessage(channel, ts, slack.MsgOptionText("edited", false))
	if code := slackError(t, err); code != "internal_error" {
		t.Fatalf("got %s", code)
	}
	if m, _ := fake.Message(channel, ts); m.Text != "hi" || m.Updates != 0 {
		t.Errorf("failed update changed the message: %+v", m)
	}
	if _, _, _, err := api.UpdateMessage(channel, ts, slack.MsgOptionText("edited", false)); err != nil {
		t.Errorf("second update: %v", err)
	}
}

func TestCallsRecordParamsWithoutToken(t *testing.T) {
	fake, api := newClient(t)
	if _, _, err := api.PostMessage(channel, slack.MsgOptionText("hello", false), slack.MsgOptionTS("123.456")); err != nil {
		t.Fatal(err)
	}
	calls := fake.Calls()
	if len(calls) != 1 {
		t.Fatalf("%d calls", len(calls))
	}
	c := calls[0]
	if c.Method != "chat.postMessage" || !c.OK || c.At.IsZero() {
		t.Errorf("call = %+v", c)
	}
	if c.Params["channel"] != channel || c.Params["text"] != "hello" || c.Params["thread_ts"] != "123.456" {
		t.Errorf("params = %v", c.Params)
	}
	if _, has := c.Params["token"]; has {
		t.Error("token recorded")
	}
}

func TestWaitFor(t *testing.T) {
	fake, api := newClient(t)
	done := make(chan error, 1)
	go func() {
		_, _, err := api.PostMessage(channel, slack.MsgOptionText("async", false))
		done <- err
	}()
	err := fake.WaitFor(t.Context(), func(s *slackfake.Server) bool { return len(s.Messages(channel)) == 1 })
	if err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err = fake.WaitFor(ctx, func(*slackfake.Server) bool { return false })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("WaitFor on cancelled ctx = %v", err)
	}
}

func TestConversationsInfoAndViews(t *testing.T) {
	fake, api := newClient(t)
	fake.Archived("C0OLD0001")
	info, err := api.GetConversationInfo(&slack.GetConversationInfoInput{ChannelID: "C0OLD0001"})
	if err != nil {
		t.Fatal(err)
	}
	if info.ID != "C0OLD0001" || !info.IsArchived || !info.IsMember {
		t.Errorf("info = %+v", info.GroupConversation)
	}
	fake.NotInChannel("G0SECRET1")
	_, err = api.GetConversationInfo(&slack.GetConversationInfoInput{ChannelID: "G0SECRET1"})
	if code := slackError(t, err); code != "channel_not_found" {
		t.Errorf("private channel not joined: %s", code)
	}

	view := slack.ModalViewRequest{
		Type:   slack.VTModal,
		Title:  slack.NewTextBlockObject(slack.PlainTextType, "Approve", false, false),
		Blocks: slack.Blocks{BlockSet: []slack.Block{slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, "ok?", false, false), nil, nil)}},
	}
	resp, err := api.OpenView("trigger-1", view)
	if err != nil {
		t.Fatal(err)
	}
	if resp.ID == "" {
		t.Error("views.open returned no view id")
	}
	if calls := fake.CallsTo("views.open"); len(calls) != 1 || calls[0].Params["trigger_id"] != "trigger-1" {
		t.Errorf("views.open calls = %+v", calls)
	}
}

func TestAssistantThreads(t *testing.T) {
	fake, api := newClient(t)
	root := fake.UserMessage("D0DM00001", "UALICE", "hi", "")
	err := api.SetAssistantThreadsStatus(slack.AssistantThreadsSetStatusParameters{ChannelID: "D0DM00001", ThreadTS: root, Status: "is thinking…"})
	if err != nil {
		t.Fatal(err)
	}
	if got := fake.AssistantStatus("D0DM00001", root); got != "is thinking…" {
		t.Errorf("status = %q", got)
	}
	if err := api.SetAssistantThreadsTitle(slack.AssistantThreadsSetTitleParameters{ChannelID: "D0DM00001", ThreadTS: root, Title: "Incident"}); err != nil {
		t.Fatal(err)
	}
	if got := fake.AssistantTitle("D0DM00001", root); got != "Incident" {
		t.Errorf("title = %q", got)
	}
	prompts := slack.AssistantThreadsSetSuggestedPromptsParameters{ChannelID: "D0DM00001", ThreadTS: root}
	prompts.AddPrompt("Summarise", "Summarise this channel")
	if err := api.SetAssistantThreadsSuggestedPrompts(prompts); err != nil {
		t.Fatal(err)
	}

	// Slack clears the status when the app replies in the thread.
	if _, _, err := api.PostMessage("D0DM00001", slack.MsgOptionText("answer", false), slack.MsgOptionTS(root)); err != nil {
		t.Fatal(err)
	}
	if got := fake.AssistantStatus("D0DM00001", root); got != "" {
		t.Errorf("status after reply = %q, want cleared", got)
	}
}
