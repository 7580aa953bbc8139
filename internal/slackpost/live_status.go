package slackpost

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/deepagents-slack/slackbot/internal/slacktext"
)

const (
	// defaultStatusRefresh sets an unchanged status again before Slack's
	// two-minute timeout ("A two minute timeout applies… if no message has
	// been sent", docs.slack.dev/reference/methods/assistant.threads.setStatus).
	defaultStatusRefresh = 90 * time.Second
	// workingStatus is the status text; the loading messages say more.
	workingStatus = "is thinking…"
	// Slack: loading_messages holds at most 10 messages.
	maxLoadingMessages = 10
	loadingMessageMax  = 100
)

// statusState is the AI-app status last set for the reply.
type statusState struct {
	key  string    // status and loading messages as sent
	at   time.Time // when
	off  bool      // Slack refused it here: stop trying
	sent bool      // a status may be showing
}

// loadingMessages say what the agent is doing: what runs now (tools,
// subagents), else the plan step in progress, else that it is thinking.
func loadingMessages(pr Progress) []string {
	var out []string
	add := func(s string) {
		s = taskTitle(s)
		// slack-go sends loading_messages comma-joined: a comma would split
		// one message in two, so it becomes a look-alike.
		s = strings.ReplaceAll(s, ",", "‚")
		s = slacktext.Truncate(s, loadingMessageMax)
		if s != "" && len(out) < maxLoadingMessages {
			out = append(out, s)
		}
	}
	for _, line := range strings.Split(pr.Activity, "\n") {
		add(line)
	}
	for _, t := range pr.Todos {
		if t.Status == TodoInProgress {
			add("Working on: " + t.Content)
		}
	}
	if len(out) == 0 {
		add("Thinking…")
	}
	return out
}

// showStatus sets the AI-app status for pr if it changed, or if force and
// it is due for a refresh. Callers hold writeMu.
func (l *Live) showStatus(ctx context.Context, pr Progress, force bool) {
	l.mu.Lock()
	ended := l.ended
	l.mu.Unlock()
	if !l.o.Status || l.status.off || ended || l.threadTS == "" {
		return
	}
	msgs := loadingMessages(pr)
	key := strings.Join(msgs, "\n")
	now := l.p.clk.Now()
	if key == l.status.key && (!force || now.Sub(l.status.at) < l.o.StatusRefresh/2) {
		return
	}
	err := l.p.sched.Do(ctx, Write{
		Method: "assistant.threads.setStatus", Channel: l.channel, Priority: PriorityProgress,
		Key:  "status " + l.channel + " " + l.threadTS,
		Call: func(ctx context.Context) error { return l.p.setStatus(ctx, l.channel, l.threadTS, workingStatus, msgs) },
	})
	switch {
	case ctx.Err() != nil || errors.Is(err, ErrSuperseded) || errors.Is(err, ErrClosed):
		return // try again with the next change or refresh
	case err != nil:
		// Slack refuses the status outside threads it allows it in; the
		// reply works without it.
		l.p.log.Debug("slack assistant status unavailable here", "channel", l.channel, "code", SlackErrorCode(err), "err", err)
		l.status.off = true
		return
	}
	l.status = statusState{key: key, at: now, sent: true}
}

// clearStatus removes the status at the end of the reply. Callers hold
// writeMu.
func (l *Live) clearStatus(ctx context.Context) {
	if !l.status.sent || l.status.off {
		return
	}
	err := l.p.do(ctx, "assistant.threads.setStatus", l.channel, PriorityNormal, func() error {
		return l.p.setStatus(ctx, l.channel, l.threadTS, "", nil)
	})
	if err != nil {
		l.p.log.Warn("slack assistant status not cleared", "channel", l.channel, "code", SlackErrorCode(err), "err", err)
		return
	}
	l.status = statusState{}
}
