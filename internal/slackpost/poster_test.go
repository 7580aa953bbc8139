package slackpost

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"
)

func TestPostAndUpdate(t *testing.T) {
	f := newFakeSlack(t)
	p := f.poster(t)
	ctx := context.Background()
	m := RenderAnswer("**hi** there")[0]

	ts, err := p.Post(ctx, "C1", "111.222", m)
	if err != nil || ts == "" {
		t.Fatalf("Post = %q, %v", ts, err)
	}
	if _, err := p.Post(ctx, "C1", "", Message{Text: "top"}); err != nil {
		t.Fatal(err)
	}
	if err := p.Update(ctx, "C1", ts, Message{Text: "new", Blocks: []slack.Block{mrkdwnSection("new")}}); err != nil {
		t.Fatal(err)
	}
	posts := f.of("chat.postMessage")
	if got := posts[0].Form.Get("thread_ts"); got != "111.222" {
		t.Errorf("thread_ts = %q", got)
	}
	if got := posts[0].Form.Get("text"); got != "*hi* there" {
		t.Errorf("text = %q", got)
	}
	if got := blocksText(t, posts[0]); got != "**hi** there" {
		t.Errorf("markdown block = %q", got)
	}
	if posts[1].Form.Has("thread_ts") {
		t.Error("top-level post has thread_ts")
	}
	up := f.of("chat.update")[0]
	if up.Form.Get("ts") != ts || up.Form.Get("channel") != "C1" || blocksText(t, up) != "new" {
		t.Errorf("update form = %v", up.Form)
	}
}

func TestPostRetriesOnlyRateLimits(t *testing.T) {
	f := newFakeSlack(t)
	p := f.poster(t)
	ctx := context.Background()

	f.script("chat.postMessage", reply{status: http.StatusTooManyRequests, retryAfter: "3"})
	if _, err := p.Post(ctx, "C1", "", Message{Text: "x"}); err != nil {
		t.Fatalf("Post after 429 = %v", err)
	}
	want := []string{"chat.postMessage", "(wait 3s)", "chat.postMessage"}
	if got := f.methods(); !slices.Equal(got, want) {
		t.Fatalf("calls = %v, want %v", got, want)
	}

	// A 5xx may have posted: never retried.
	f.script("chat.postMessage", reply{status: http.StatusInternalServerError})
	if _, err := p.Post(ctx, "C1", "", Message{Text: "y"}); err == nil {
		t.Fatal("Post after 500 succeeded")
	}
	if n := len(f.of("chat.postMessage")); n != 3 {
		t.Errorf("postMessage called %d times, want 3 (no retry after 500)", n)
	}

	// A 429 without Retry-After is still a 429: Slack did nothing, so it
	// is retried after a second.
	f.script("chat.postMessage", reply{status: http.StatusTooManyRequests})
	if _, err := p.Post(ctx, "C1", "", Message{Text: "z"}); err != nil {
		t.Fatalf("Post after bare 429 = %v", err)
	}
	if got := f.methods()[len(f.methods())-3:]; !slices.Equal(got, []string{"chat.postMessage", "(wait 1s)", "chat.postMessage"}) {
		t.Errorf("calls after a bare 429 = %v", got)
	}

	// Retries go on until the caller gives up; the caller sees why it gave
	// up, never the 429.
	f.setAlways("chat.update", reply{status: http.StatusTooManyRequests, retryAfter: "1"})
	n := 0
	uctx, cancel := context.WithCancel(ctx)
	defer cancel()
	p.sched.clk.(*jumpClock).onWait = func(time.Duration) {
		if n++; n == 5 {
			cancel()
		}
	}
	err := p.Update(uctx, "C1", "1.2", Message{Text: "u"})
	var rl *slack.RateLimitedError
	if errors.As(err, &rl) || !errors.Is(err, context.Canceled) {
		t.Errorf("Update after persistent 429 = %v, want context.Canceled and no RateLimitedError", err)
	}
}

func TestPostRateLimitWaitHonoursContext(t *testing.T) {
	f := newFakeSlack(t)
	p := f.poster(t)
	ctx, cancel := context.WithCancel(context.Background())
	p.sched.clk = realClock{} // a real 30 s wait, cut short by the caller
	f.script("chat.postMessage", reply{status: http.StatusTooManyRequests, retryAfter: "30"})
	go func() {
		f.waitFor(t, "the 429", has("chat.postMessage", 1))
		cancel()
	}()
	_, err := p.Post(ctx, "C1", "", Message{Text: "x"})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

func TestEphemeralReactionsAssistantModal(t *testing.T) {
	f := newFakeSlack(t)
	p := f.poster(t)
	ctx := context.Background()

	if err := p.Ephemeral(ctx, "C1", "U1", "only you"); err != nil {
		t.Fatal(err)
	}
	if c := f.of("chat.postEphemeral")[0]; c.Form.Get("user") != "U1" || c.Form.Get("text") != "only you" {
		t.Errorf("ephemeral form = %v", c.Form)
	}

	f.script("reactions.add", reply{slackError: "already_reacted"})
	if err := p.React(ctx, "C1", "1.2", "eyes"); err != nil {
		t.Errorf("React already_reacted = %v", err)
	}
	if c := f.of("reactions.add")[0]; c.Form.Get("name") != "eyes" || c.Form.Get("timestamp") != "1.2" {
		t.Errorf("reactions.add form = %v", c.Form)
	}
	f.script("reactions.remove", reply{slackError: "no_reaction"})
	if err := p.Unreact(ctx, "C1", "1.2", "eyes"); err != nil {
		t.Errorf("Unreact no_reaction = %v", err)
	}
	f.script("reactions.add", reply{slackError: "invalid_name"})
	if err := p.React(ctx, "C1", "1.2", "nope"); SlackErrorCode(err) != "invalid_name" {
		t.Errorf("React invalid_name = %v", err)
	}

	if err := p.SetAssistantStatus(ctx, "D1", "1.2", "is thinking…"); err != nil {
		t.Fatal(err)
	}
	if c := f.of("assistant.threads.setStatus")[0]; c.Form.Get("status") != "is thinking…" || c.Form.Get("channel_id") != "D1" {
		t.Errorf("setStatus form = %v", c.Form)
	}
	if err := p.SetSuggestedPrompts(ctx, "D1", "1.2", "Try", []Prompt{{Title: "Sum", Message: "Summarize"}}); err != nil {
		t.Fatal(err)
	}
	if c := f.of("assistant.threads.setSuggestedPrompts")[0]; c.Form.Get("prompts") != `[{"title":"Sum","message":"Summarize"}]` {
		t.Errorf("prompts = %q", c.Form.Get("prompts"))
	}

	view := slack.ModalViewRequest{Type: slack.VTModal, Title: slack.NewTextBlockObject(slack.PlainTextType, "Edit", false, false)}
	if err := p.OpenModal(ctx, "trig", view); err != nil {
		t.Fatal(err)
	}
	if c := f.of("views.open")[0]; c.JSON["trigger_id"] != "trig" {
		t.Errorf("views.open body = %v", c.JSON)
	}
}

func TestRespond(t *testing.T) {
	f := newFakeSlack(t)
	p := f.poster(t)
	ctx := context.Background()
	if err := p.Respond(ctx, f.srv.URL+"/respond", "Invite me with /invite"); err != nil {
		t.Fatal(err)
	}
	c := f.of("respond")[0]
	if c.JSON["text"] != "Invite me with /invite" || c.JSON["response_type"] != "ephemeral" || c.JSON["replace_original"] != false {
		t.Errorf("response_url body = %v", c.JSON)
	}
	f.script("respond", reply{status: http.StatusNotFound})
	err := p.Respond(ctx, f.srv.URL+"/respond?secret=1", "x")
	if err == nil {
		t.Fatal("Respond to a 404 succeeded")
	}
	if got := err.Error(); strings.Contains(got, "secret") {
		t.Errorf("error leaks the response_url: %q", got)
	}
}

func TestIsNotInChannel(t *testing.T) {
	tests := []struct {
		err  error
		want bool
		code string
	}{
		{slack.SlackErrorResponse{Err: "not_in_channel"}, true, "not_in_channel"},
		{fmt.Errorf("slack chat.postMessage: %w", slack.SlackErrorResponse{Err: "channel_not_found"}), true, "channel_not_found"},
		{slack.SlackErrorResponse{Err: "is_archived"}, true, "is_archived"},
		{slack.SlackErrorResponse{Err: "restricted_action_read_only_channel"}, true, "restricted_action_read_only_channel"},
		{slack.SlackErrorResponse{Err: "missing_scope"}, true, "missing_scope"},
		{slack.SlackErrorResponse{Err: "msg_too_long"}, false, "msg_too_long"},
		{&slack.RateLimitedError{}, false, "ratelimited"},
		{slack.StatusCodeError{Code: 500}, false, ""},
		{errors.New("boom"), false, ""},
		{nil, false, ""},
	}
	for _, tt := range tests {
		if got := IsNotInChannel(tt.err); got != tt.want {
			t.Errorf("IsNotInChannel(%v) = %v", tt.err, got)
		}
		if got := SlackErrorCode(tt.err); got != tt.code {
			t.Errorf("SlackErrorCode(%v) = %q, want %q", tt.err, got, tt.code)
		}
	}

	// Through a real call.
	f := newFakeSlack(t)
	p := f.poster(t)
	f.script("chat.postMessage", reply{slackError: "not_in_channel"})
	_, err := p.Post(context.Background(), "C9", "", Message{Text: "x"})
	if !IsNotInChannel(err) {
		t.Errorf("Post error %v not recognised", err)
	}
}
