package main

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/deepagents-slack/slackbot/internal/agents"
	"github.com/deepagents-slack/slackbot/internal/agents/agentstest"
	"github.com/deepagents-slack/slackbot/internal/bottest"
	"github.com/deepagents-slack/slackbot/internal/slackpost/slackfake"
)

// inputOf is the first input message of the i-th run the runtime accepted,
// as the fake runtime parsed it.
func (e *testEnv) inputOf(i int) (text string, images int) {
	e.t.Helper()
	runs := e.Runtime.Runs()
	if len(runs) <= i || len(runs[i].Input) == 0 {
		e.t.Fatalf("run %d has no input (%d runs)", i, len(runs))
	}
	m := runs[i].Input[0]
	for _, b := range m.Blocks {
		if b.Type == "image" {
			images++
		}
	}
	return m.Content, images
}

// TestMentionMidThread: mentioned in the middle of people's thread, the
// bot's first run reads what was said before (authors, texts, files named,
// not what came after); a later plain reply there starts nothing; a later
// mention continues the conversation without the thread again.
func TestMentionMidThread(t *testing.T) {
	e := newTestEnv(t, agentstest.Echo(), nil, nil)
	root := e.UserSays(userBen, chGeneral, "channel", "deploy failed at 3am &amp; paged twice", "")
	e.deliver("Ev-root", root, 0)
	rootTS := root["ts"].(string)
	log := e.Slack.AddFile("oom.log", "text/plain", []byte("killed process 42"))
	e.Slack.UserFileShare(chGeneral, userOmar, "logs attached", rootTS, log)
	e.deliver("Ev-reply", e.UserSays(userAnna, chGeneral, "channel", "looks like <@"+userOmar+"> found an OOM", rootTS), 0)

	ask := bottest.AsMention(e.Mention(userAnna, chGeneral, "summarize this thread", rootTS))
	e.deliver("Ev-ask", ask, 0)
	e.waitReplies(chGeneral, rootTS, 1)

	text, _ := e.inputOf(0)
	wantInOrder := []string{
		"@" + userBen + ": deploy failed at 3am & paged twice",
		"@" + userOmar + ": logs attached [files: oom.log (text/plain, 17 bytes)]",
		"@" + userAnna + ": looks like @" + userOmar + " found an OOM",
		"summarize this thread",
	}
	at := 0
	for _, w := range wantInOrder {
		i := strings.Index(text[at:], w)
		if i < 0 {
			t.Fatalf("run input lacks %q after position %d:\n%s", w, at, text)
		}
		at += i + len(w)
	}
	if strings.Count(text, "summarize this thread") != 1 || strings.Contains(text, "shortened") {
		t.Errorf("run input repeats the prompt or says it was shortened:\n%s", text)
	}

	// People keep talking: not for the bot.
	chatter := e.UserSays(userBen, chGeneral, "channel", "thanks, I'll restart it", rootTS)
	e.deliver("Ev-chatter", chatter, 0)
	if e.hasJob(chGeneral, chatter["ts"].(string)) {
		t.Fatalf("an unmentioned reply in a thread the bot joined was recorded as work")
	}
	// A later mention continues the same conversation, without the thread.
	e.deliver("Ev-again", bottest.AsMention(e.Mention(userBen, chGeneral, "did it work?", rootTS)), 0)
	e.waitReplies(chGeneral, rootTS, 2)
	if n := len(e.Runtime.Runs()); n != 2 {
		t.Fatalf("%d runs; want 2 (the two mentions, not the plain reply)", n)
	}
	if again, _ := e.inputOf(1); again != "did it work?" {
		t.Errorf("second mention's input = %q; want just its text", again)
	}
	if ids := e.runThreadIDs(); ids[0] != ids[1] || ids[0] != threadIDFor(chGeneral, rootTS) {
		t.Errorf("run thread ids = %v; want both on the Slack thread's", ids)
	}
	if n := len(e.Slack.CallsTo("conversations.replies")); n != 1 {
		t.Errorf("%d conversations.replies calls; want 1 (first run only)", n)
	}

	// In a thread the bot started, plain replies still continue it.
	own := e.converse("Ev-own", userAnna, chGeneral, "top-level question")
	e.deliver("Ev-own-follow", e.UserSays(userBen, chGeneral, "channel", "and a follow-up", own), 0)
	e.waitReplies(chGeneral, own, 2)
	if n := len(e.Runtime.Runs()); n != 4 {
		t.Errorf("%d runs; want 4", n)
	}
}

// TestMentionMidThreadBudget: a long thread is cut to the budget, oldest
// messages first, and the input says so; it is read page by page.
func TestMentionMidThreadBudget(t *testing.T) {
	e := newTestEnv(t, agentstest.Echo(), func(c *Config) { c.ThreadContextChars = 2000 }, nil)
	rootTS := e.Slack.UserMessage(chGeneral, userBen, "incident 0", "")
	for i := 1; i <= 450; i++ {
		e.Slack.UserMessage(chGeneral, userBen, fmt.Sprintf("update %03d: still looking", i), rootTS)
	}
	e.deliver("Ev-ask", bottest.AsMention(e.Mention(userAnna, chGeneral, "where are we?", rootTS)), 0)
	e.waitReplies(chGeneral, rootTS, 1)

	text, _ := e.inputOf(0)
	if n := len(e.Slack.CallsTo("conversations.replies")); n < 3 {
		t.Errorf("%d conversations.replies calls; want the thread read page by page", n)
	}
	if !strings.Contains(text, "update 450: still looking") || strings.Contains(text, "incident 0") || strings.Contains(text, "update 001") {
		t.Errorf("run input keeps the wrong end of the thread:\n%s", text)
	}
	if !strings.Contains(text, "shortened to fit: the ") || !strings.HasSuffix(text, "where are we?") {
		t.Errorf("run input does not say it was shortened, or does not end with the prompt:\n%s", text)
	}
	if len(text) > 2000+500 {
		t.Errorf("run input is %d characters; want about the 2000 budget", len(text))
	}
}

// TestMentionMidThreadUnreadable: a thread the bot cannot read (here the app
// lacks channels:history) does not stop the run; the input says so.
func TestMentionMidThreadUnreadable(t *testing.T) {
	e := newTestEnv(t, agentstest.Echo(), nil, nil, slackfake.WithoutScope("channels:history"))
	rootTS := e.Slack.UserMessage(chGeneral, userBen, "deploy failed", "")
	e.deliver("Ev-ask", bottest.AsMention(e.Mention(userAnna, chGeneral, "what happened?", rootTS)), 0)
	e.waitReplies(chGeneral, rootTS, 1)
	text, _ := e.inputOf(0)
	if !strings.Contains(text, "its earlier messages could not be read") || !strings.HasSuffix(text, "what happened?") || strings.Contains(text, "deploy failed") {
		t.Errorf("run input = %q", text)
	}
}

// TestFilesReachTheAgent: a screenshot and a log file shared with a
// mention reach the agent's input: on an Agent Server the image as an image
// content block, on the Managed API (whose messages are text) named; the
// log as text; a PDF is named. A file shared into the bot's thread is a
// follow-up.
func TestFilesReachTheAgent(t *testing.T) {
	for _, sc := range []struct {
		name      string
		surface   agentstest.Surface
		runtime   agents.Dialect
		images    int
		downloads int
		named     string
	}{
		{"agent server", agentstest.AgentServer, agents.AgentServer, 1, 2, "screenshot.png (image/png, 72 bytes): attached as an image"},
		{"managed", agentstest.ManagedProxy, agents.Managed, 0, 1, "screenshot.png (image/png, 72 bytes): an image, not passed to you (this agent runtime takes text only)"},
	} {
		t.Run(sc.name, func(t *testing.T) {
			e := newTestEnv(t, agentstest.Echo(), func(c *Config) { c.Runtime = sc.runtime }, []agentstest.Option{agentstest.WithSurface(sc.surface)})
			png := append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{7}, 64)...)
			shot := e.Slack.AddFile("screenshot.png", "image/png", png)
			log := e.Slack.AddFile("deploy.log", "text/plain", []byte("ERROR: OOMKilled in pod api-7\n"))
			pdf := e.Slack.AddFile("runbook.pdf", "application/pdf", []byte("%PDF-1.7"))
			ev := e.UserShares(userAnna, chGeneral, "channel", "<@"+e.Slack.BotUserID()+"> why did this fail?", "", shot, log, pdf)
			e.deliver("Ev-files", bottest.AsMention(ev), 0)
			e.deliver("Ev-files-msg", ev, 0) // the message twin: one run
			root := ev["ts"].(string)
			e.waitReplies(chGeneral, root, 1)

			text, images := e.inputOf(0)
			for _, want := range []string{
				"why did this fail?",
				sc.named,
				"[File deploy.log:]\nERROR: OOMKilled in pod api-7",
				"runbook.pdf (application/pdf, 8 bytes): this file type is not passed to you",
			} {
				if !strings.Contains(text, want) {
					t.Errorf("run input lacks %q:\n%s", want, text)
				}
			}
			runs := e.Runtime.Runs()
			if images != sc.images || len(runs) != 1 {
				t.Fatalf("%d image blocks in %d runs; want %d in 1", images, len(runs), sc.images)
			}
			if sc.images > 0 {
				img := runs[0].Input[0].Blocks[1]
				if got, err := base64.StdEncoding.DecodeString(img.Data); err != nil || !bytes.Equal(got, png) || img.MimeType != "image/png" || img.SourceType != "base64" {
					t.Errorf("image block = %s/%s %d bytes, %v; want the PNG as base64", img.SourceType, img.MimeType, len(got), err)
				}
			}
			if n := e.Slack.Downloads(); n != sc.downloads {
				t.Errorf("%d downloads; want %d (nothing that is not passed is fetched)", n, sc.downloads)
			}

			// A file shared into the bot's thread without words is a follow-up.
			csv := e.Slack.AddFile("errors.csv", "text/csv", []byte("pod,count\napi-7,12\n"))
			e.deliver("Ev-csv", e.UserShares(userAnna, chGeneral, "channel", "", root, csv), 0)
			e.waitReplies(chGeneral, root, 2)
			if text, _ := e.inputOf(1); !strings.Contains(text, "[File errors.csv:]\npod,count\napi-7,12") {
				t.Errorf("follow-up input = %q", text)
			}
			if failed := bottest.FailedCalls(e.Slack); len(failed) > 0 {
				t.Errorf("Slack refused calls: %v", failed)
			}
		})
	}
}
