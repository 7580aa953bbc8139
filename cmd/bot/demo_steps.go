package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/deepagents-slack/slackbot/internal/agents/agentstest"
	"github.com/deepagents-slack/slackbot/internal/slackpost/slackfake"
)

// demoFileAndFeedback: a run writes a file under /outputs/, which is shared
// in the thread; anna rates the answer 👍 and LangSmith receives it.
func demoFileAndFeedback(ctx context.Context, s *sim, p *printer, runtime *agentstest.Server) error {
	ev := s.UserSays(demoAnna, demoReports, "channel", "<@"+s.Slack.BotUserID()+"> write the weekly report", "")
	if err := s.deliverAndWait(ctx, "Ev-report", AsMention(ev), demoReports, 1); err != nil {
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
		if _, _, _, ok := feedbackOf(m); ok {
			answer = m
		}
	}
	actionID, good, _, ok := feedbackOf(answer)
	if !ok {
		return fmt.Errorf("the answer has no feedback buttons")
	}
	p.line("   under the answer: [👍] [👎]; anna clicks 👍 (twice: it counts once)")
	for range 2 {
		if _, err := s.ClickElement(demoAnna, demoReports, answer.TS, root, "feedback_buttons", actionID, good); err != nil {
			return err
		}
	}
	if err := waitRuntime(ctx, runtime, func(r *agentstest.Server) bool { return len(r.Feedback()) > 0 }); err != nil {
		return fmt.Errorf("no feedback reached LangSmith: %w", err)
	}
	for _, f := range runtime.Feedback() {
		p.line("   LangSmith feedback on run %s: %s=%v (%s)", short(f.RunID), f.Key, *f.Score, f.Comment)
	}
	return nil
}

// demoStop: a slow run is stopped from its reply by who started it.
func demoStop(ctx context.Context, s *sim, p *printer) error {
	ev := s.UserSays(demoBen, demoReports, "channel", "<@"+s.Slack.BotUserID()+"> summarize every incident since 2019", "")
	if _, err := s.Event("Ev-slow", AsMention(ev), 0); err != nil {
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

// feedbackOf finds the feedback_buttons element of a message.
func feedbackOf(m slackfake.Message) (actionID, good, bad string, ok bool) {
	return feedbackButtonsIn(m.Blocks)
}

// feedbackButtonsIn finds a feedback_buttons element in a context_actions
// block: its action_id and the values of its 👍 and 👎 buttons.
func feedbackButtonsIn(raw json.RawMessage) (actionID, good, bad string, ok bool) {
	var blocks []struct {
		Type     string `json:"type"`
		Elements []struct {
			Type     string `json:"type"`
			ActionID string `json:"action_id"`
			Positive struct {
				Value string `json:"value"`
			} `json:"positive_button"`
			Negative struct {
				Value string `json:"value"`
			} `json:"negative_button"`
		} `json:"elements"`
	}
	_ = json.Unmarshal(raw, &blocks)
	for _, b := range blocks {
		if b.Type != "context_actions" {
			continue
		}
		for _, el := range b.Elements {
			if el.Type == "feedback_buttons" {
				return el.ActionID, el.Positive.Value, el.Negative.Value, true
			}
		}
	}
	return "", "", "", false
}

// waitRuntime polls the fake runtime until cond holds.
func waitRuntime(ctx context.Context, r *agentstest.Server, cond func(*agentstest.Server) bool) error {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for !cond(r) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}
