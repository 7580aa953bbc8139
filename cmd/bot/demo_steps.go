package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/deepagents-slack/slackbot/internal/bottest"
	"github.com/deepagents-slack/slackbot/internal/slackpost/slackfake"
)

// demoFileAndFeedback: a run writes a file under /outputs/, which is shared
// in the thread; anna rates the answer 👍 and LangSmith receives it.
func demoFileAndFeedback(ctx context.Context, s *sim, p *printer) error {
	ev := s.UserSays(demoAnna, demoReports, "channel", "<@"+s.Slack.BotUserID()+"> write the weekly report", "")
	if err := s.deliverAndWait(ctx, "Ev-report", bottest.AsMention(ev), demoReports, 1); err != nil {
		return err
	}
	if err := s.WaitFor(ctx, func(f *slackfake.Server) bool { return len(f.Uploads()) > 0 }); err != nil {
		return fmt.Errorf("no file was shared: %w", err)
	}
	for _, up := range s.Slack.Uploads() {
		p.line("   file shared in the thread: %s (%d bytes)", up.Title, len(up.Content))
	}
	root := ev["ts"].(string)
	var answer slackfake.Message
	for _, m := range s.Slack.Thread(demoReports, root) {
		if _, _, _, ok := bottest.FeedbackButtons(m); ok {
			answer = m
		}
	}
	actionID, good, _, ok := bottest.FeedbackButtons(answer)
	if !ok {
		return fmt.Errorf("the answer has no feedback buttons")
	}
	p.line("   under the answer: [👍] [👎]; anna clicks 👍 (twice: it counts once)")
	for range 2 {
		if _, err := s.ClickElement(demoAnna, demoReports, answer.TS, root, "feedback_buttons", actionID, good); err != nil {
			return err
		}
	}
	if err := bottest.Wait(ctx, func() bool { return len(s.Runtime.Feedback()) > 0 }); err != nil {
		return fmt.Errorf("no feedback reached LangSmith: %w", err)
	}
	for _, f := range s.Runtime.Feedback() {
		p.line("   LangSmith feedback on run %s: %s=%v (%s)", short(f.RunID), f.Key, *f.Score, f.Comment)
	}
	return nil
}

// demoStop: a slow run is stopped from its reply by who started it.
func demoStop(ctx context.Context, s *sim) error {
	ev := s.UserSays(demoBen, demoReports, "channel", "<@"+s.Slack.BotUserID()+"> summarize every incident since 2019", "")
	if _, err := s.Event("Ev-slow", bottest.AsMention(ev), 0); err != nil {
		return err
	}
	root := ev["ts"].(string)
	var reply slackfake.Message
	err := s.WaitFor(ctx, func(f *slackfake.Server) bool {
		for _, m := range f.Thread(demoReports, root) {
			if m.IsBot() && strings.Contains(m.Rendered+m.Text, "Collecting incident reports") {
				reply = m
				return true
			}
		}
		return false
	})
	if err != nil {
		return fmt.Errorf("the slow run showed nothing: %w", err)
	}
	jobID := "msg:" + demoReports + ":" + root
	for _, user := range []string{demoAnna, demoBen} {
		if _, err := s.Click(user, demoReports, reply.TS, root, "run_stop", jobID); err != nil {
			return err
		}
	}
	return s.WaitFor(ctx, func(f *slackfake.Server) bool {
		return s.ThreadDone(demoReports, root) && strings.Contains(f.Transcript(demoReports), "Stopped by")
	})
}

// demoMentionTwice: a top-level mention arrives as app_mention (delivered
// twice: Slack retries) and as its message twin; one run answers.
func demoMentionTwice(ctx context.Context, s *sim) error {
	ev := s.Mention(demoBen, demoGeneral, "what changed since last week?", "")
	for retry := range 2 {
		if _, err := s.Event("Ev-mention-a", bottest.AsMention(ev), retry); err != nil {
			return err
		}
	}
	return s.deliverAndWait(ctx, "Ev-mention-b", ev, demoGeneral, 1)
}

// demoApproval: the agent asks to write its memory and post a message;
// anna reads the requests in the review modal, ben's approval is refused
// (not his request), anna's resumes the run.
func demoApproval(ctx context.Context, s *sim, p *printer) error {
	if _, _, err := s.Slash(demoAnna, demoNotes, "remember: release notes are short bullet points"); err != nil {
		return err
	}
	var card slackfake.Message
	err := s.WaitFor(ctx, func(f *slackfake.Server) bool {
		var ok bool
		card, ok = firstWithButtons(f, demoNotes)
		return ok
	})
	if err != nil {
		return fmt.Errorf("no approval card appeared: %w\n%s", err, s.Slack.Transcript(demoNotes))
	}
	cardID := bottest.ButtonValue(card.Blocks, "approval:approve")
	// Anna first opens the review modal ("Review each…") to read the requests in full.
	if _, err := s.Click(demoAnna, demoNotes, card.TS, card.ThreadTS, "approval:review", cardID); err != nil {
		return err
	}
	if err := s.WaitFor(ctx, func(f *slackfake.Server) bool { return len(f.Views()) > 0 }); err != nil {
		return fmt.Errorf("the review modal did not open: %w", err)
	}
	v := s.Slack.Views()[0]
	p.line("   modal opened for anna: [%s]  %s  [%s] [%s]", v.Title, oneLine(v.Rendered), v.Close, v.Submit)
	for _, user := range []string{demoBen, demoAnna} {
		if _, err := s.Click(user, demoNotes, card.TS, card.ThreadTS, "approval:approve", cardID); err != nil {
			return err
		}
	}
	return s.WaitFor(ctx, func(*slackfake.Server) bool { return s.ThreadDone(demoNotes, card.ThreadTS) })
}

// firstWithButtons is the first message in channel with buttons.
func firstWithButtons(f *slackfake.Server, channel string) (slackfake.Message, bool) {
	for _, m := range f.Messages(channel) {
		if len(m.Buttons) > 0 {
			return m, true
		}
	}
	return slackfake.Message{}, false
}

// demoFilesIn: a mention with a screenshot and a log file attached; the
// agent reads both.
func demoFilesIn(ctx context.Context, s *sim) error {
	shot := s.Slack.AddFile("error-dialog.png", "image/png", demoPNG)
	log := s.Slack.AddFile("api-7.log", "text/plain", []byte("12:03:55 ERROR OOMKilled: container api exceeded 512Mi\n"))
	ev := s.UserShares(demoBen, demoGeneral, "channel", "<@"+s.Slack.BotUserID()+"> what is going on here?", "", shot, log)
	return s.deliverAndWait(ctx, "Ev-files", bottest.AsMention(ev), demoGeneral, 1)
}
