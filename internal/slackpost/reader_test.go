package slackpost_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/slack-go/slack"

	"github.com/deepagents-slack/slackbot/internal/slackpost"
	"github.com/deepagents-slack/slackbot/internal/slackpost/slackfake"
)

func TestThreadRepliesPaginates(t *testing.T) {
	for _, replies := range []int{0, 1, 199, 200, 450} {
		t.Run(fmt.Sprint(replies), func(t *testing.T) {
			fake := slackfake.New()
			defer fake.Close()
			root := fake.UserMessage("C0001", "U1", "root", "")
			for i := range replies {
				fake.UserMessage("C0001", "U2", fmt.Sprintf("reply %d", i), root)
			}
			p := slackpost.New(slack.New("xoxb-test", slack.OptionAPIURL(fake.APIURL())))
			got, err := p.ThreadReplies(context.Background(), "C0001", root)
			if err != nil {
				t.Fatalf("ThreadReplies: %v", err)
			}
			if len(got) != replies+1 || got[0].Text != "root" {
				t.Fatalf("got %d messages (first %+v); want the root once and %d replies", len(got), got[0], replies)
			}
			for i, m := range got[1:] {
				if want := fmt.Sprintf("reply %d", i); m.Text != want {
					t.Fatalf("message %d = %q; want %q", i+1, m.Text, want)
				}
			}
			// One page per 199 replies (the parent takes a place on each page).
			if calls, want := len(fake.CallsTo("conversations.replies")), max(1, (replies+198)/199); calls != want {
				t.Errorf("%d conversations.replies calls; want %d", calls, want)
			}
		})
	}
}

func TestThreadRepliesErrors(t *testing.T) {
	fake := slackfake.New(slackfake.WithoutScope("groups:history"))
	defer fake.Close()
	root := fake.UserMessage("C0001", "U1", "root", "")
	fake.UserMessage("G0001", "U1", "private", "")
	p := slackpost.New(slack.New("xoxb-test", slack.OptionAPIURL(fake.APIURL())))
	for _, tc := range []struct{ channel, ts, code string }{
		{"C0001", "1.000000", "thread_not_found"},
		{"C0009", root, "channel_not_found"},
		{"G0001", root, "missing_scope"},
	} {
		_, err := p.ThreadReplies(context.Background(), tc.channel, tc.ts)
		var se slack.SlackErrorResponse
		if !errors.As(err, &se) || se.Err != tc.code {
			t.Errorf("ThreadReplies(%s, %s) = %v; want %s", tc.channel, tc.ts, err, tc.code)
		}
	}
}

func TestDownload(t *testing.T) {
	fake := slackfake.New()
	defer fake.Close()
	content := bytes.Repeat([]byte("log line\n"), 100)
	f := fake.AddFile("app.log", "text/plain", content)
	file := slackpost.File{ID: f.ID, Name: f.Name, URLPrivateDownload: f.URLPrivateDownload}
	ctx := context.Background()

	p := slackpost.New(slack.New("xoxb-test", slack.OptionAPIURL(fake.APIURL())))
	got, err := p.Download(ctx, file, int64(len(content)))
	if err != nil || !bytes.Equal(got, content) {
		t.Fatalf("Download = %d bytes, %v; want the file", len(got), err)
	}
	if _, err := p.Download(ctx, file, int64(len(content)-1)); !errors.Is(err, slackpost.ErrFileTooLarge) {
		t.Errorf("Download over the limit = %v; want ErrFileTooLarge", err)
	}
	wrong := slackpost.New(slack.New("xoxb-other", slack.OptionAPIURL(fake.APIURL())))
	var sc slack.StatusCodeError
	if _, err := wrong.Download(ctx, file, 1<<20); !errors.As(err, &sc) || sc.Code != 403 {
		t.Errorf("Download with another token = %v; want 403", err)
	}
	missing := file
	missing.URLPrivateDownload += "x"
	if _, err := p.Download(ctx, missing, 1<<20); !errors.As(err, &sc) || sc.Code != 404 {
		t.Errorf("Download of an unknown file = %v; want 404", err)
	}
	elsewhere := file
	elsewhere.URLPrivateDownload = "https://evil.example.com/f"
	if _, err := p.Download(ctx, elsewhere, 1<<20); err == nil {
		t.Errorf("Download from a non-Slack host succeeded; the token must not go there")
	}
	if fake.Downloads() != 2 { // the whole file, and the one cut off at the limit
		t.Errorf("fake served %d downloads; want 2", fake.Downloads())
	}
}
