package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/deepagents-slack/slackbot"
	"github.com/deepagents-slack/slackbot/internal/agents"
	"github.com/deepagents-slack/slackbot/internal/slackpost"
	"github.com/deepagents-slack/slackbot/internal/slacktext"
)

// This file holds what makes every job end: bounded attempts with backoff,
// permanent errors, the lease a worker keeps (and stops touching the job
// without), the watchdogs on streams and run age, and recovery of a run
// start whose answer never arrived.

// maxAttempts bounds how often a job is leased (tried) before the user is
// told it failed. Every failure path counts: transient store, Slack and
// runtime errors, crashes and lost leases alike. A resumed job starts
// counting again.
const maxAttempts = 8

// maxRetryDelay caps the backoff between attempts.
const maxRetryDelay = 5 * time.Minute

// retryDelay is the wait after the given failed attempt (1-based):
// RetryBase doubled per attempt, capped at maxRetryDelay.
func (r *Relay) retryDelay(attempt int) time.Duration {
	d := r.cfg.RetryBase << min(max(attempt-1, 0), 20)
	return min(d, maxRetryDelay)
}

// errPermanent marks a failure no retry can fix; errRuntime one of
// reaching the agent runtime.
var (
	errPermanent = errors.New("permanent failure")
	errRuntime   = errors.New("agent runtime")
)

// permanentSlackErrors are Slack answers that no retry changes: the
// channel is gone, archived or closed to the bot, or the message itself is
// refused.
var permanentSlackErrors = map[string]bool{
	"channel_not_found": true, "is_archived": true, "not_in_channel": true,
	"invalid_blocks": true, "msg_too_long": true,
	"invalid_blocks_format": true, "too_many_attachments": true, "no_text": true,
}

// isPermanent reports whether err ends a job at once: the Slack errors
// above (and every "cannot post in this channel" answer), a runtime 4xx
// other than 408, 409 and 429, which say "try again", or the runtime's 502
// upstream_auth_failed (its upstream rejected the request, e.g. the agent
// was deleted: agent-runtime-api.md §ErrorResponse), which its client does
// not retry either.
func isPermanent(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, errPermanent) || slackpost.IsNotInChannel(err) || permanentSlackErrors[slackpost.SlackErrorCode(err)] {
		return true
	}
	if apiErr := (*agents.Error)(nil); errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusBadGateway && apiErr.Code == "upstream_auth_failed" {
		return true
	}
	switch status := agents.ErrorStatus(err); {
	case status == http.StatusRequestTimeout, status == http.StatusConflict, status == http.StatusTooManyRequests:
		return false
	case status >= 400 && status < 500:
		return true
	}
	return false
}

// retryLater ends this attempt: the job's lease is shortened to the backoff
// delay, after which any worker may take the job for its next attempt.
func (r *Relay) retryLater(ctx context.Context, log *slog.Logger, job slackbot.Job, cause error) {
	delay := r.retryDelay(job.Attempts)
	log.Warn("job attempt failed; will retry", "err", cause, "retry_in", delay, "attempts_left", maxAttempts-job.Attempts)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := r.cfg.Store.RenewLease(sctx, job.ID, job.LeaseOwner, delay); err != nil && !errors.Is(err, slackbot.ErrLeaseLost) {
		log.Warn("schedule retry", "err", err) // the lease expires on its own then
		return
	}
	// Wake an idle worker when the job is due rather than at its next poll.
	time.AfterFunc(delay, r.notify)
}

// Reasons a job is given up.
const (
	gaveUpPermanent = "permanent"
	gaveUpAttempts  = "attempts"
	gaveUpRunAge    = "run_age"
)

// giveUp ends a job that cannot succeed and tells the person who asked in
// the clearest way still open: in the thread (the bot's reply, else a new
// message), else privately (an ephemeral message, or the slash command's
// response_url), else only a log line and a metric. The job is then failed,
// so the conversation's next message goes ahead.
func (r *Relay) giveUp(ctx context.Context, log *slog.Logger, leased slackbot.Job, reason string, cause error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	job, err := r.cfg.Store.Job(ctx, leased.ID)
	if err != nil {
		log.Error("give up job: load it", "err", err)
		return
	}
	if job.Final() || job.LeaseOwner != leased.LeaseOwner {
		return // finished, or someone else holds it now
	}
	p, _ := decodePayload(job.Payload) // an undecodable payload still gets a log line
	text := giveUpText(reason, cause)
	told := r.tellGaveUp(ctx, log, job, p, text)
	job.State, job.Error = slackbot.JobFailed, truncate(reason+": "+shortErr(cause), 1000)
	if err := r.save(ctx, &job); err != nil {
		log.Error("give up job: save it", "err", err)
		return
	}
	r.metrics.JobGaveUp(reason, told)
	log.Error("job given up", "reason", reason, "err", cause, "told", told, "attempts", job.Attempts)
	r.afterRun(job, p, reactFailed)
}

// tellGaveUp delivers text by the first way that works and names it. In
// the thread the bot's reply is replaced first, so no placeholder or open
// stream is left behind; a new reply is the fallback.
func (r *Relay) tellGaveUp(ctx context.Context, log *slog.Logger, job slackbot.Job, p payload, text string) string {
	// text is plain (it may quote the runtime's error detail): escaped once,
	// cut after escaping.
	text = slacktext.Truncate(slacktext.Escape(text), 3000)
	// Blocks too: chat.update without blocks keeps the old ones.
	msg := slackpost.Notice(text)
	channel := job.Key.ChannelID
	if job.Kind != kindCommand && job.ReplyTS != "" {
		if err := r.cfg.Slack.Update(ctx, channel, job.ReplyTS, msg); err == nil {
			return "thread"
		} else {
			log.Warn("tell user in the bot's reply", "err", err)
		}
	}
	if job.Kind != kindCommand && job.Key.RootTS != "" {
		if _, err := r.cfg.Slack.Post(ctx, channel, job.Key.RootTS, msg); err == nil {
			return "thread"
		} else {
			log.Warn("tell user in the thread", "err", err)
		}
	}
	if p.ResponseURL != "" {
		if err := r.cfg.Slack.Respond(ctx, p.ResponseURL, text); err == nil {
			return "response_url"
		} else {
			log.Warn("tell user via response_url", "err", err)
		}
	}
	if user := p.starter(); user != "" && channel != "" {
		if err := r.cfg.Slack.Ephemeral(ctx, channel, user, text); err == nil {
			return "ephemeral"
		} else {
			log.Warn("tell user privately", "err", err)
		}
	}
	return "none"
}

// giveUpText says why the bot stopped, without internals or secrets.
func giveUpText(reason string, cause error) string {
	switch reason {
	case gaveUpAttempts:
		if errors.Is(cause, errRuntime) {
			return "⚠️ I couldn't reach the agent runtime after several tries, so I stopped. Please try again in a few minutes."
		}
		return "⚠️ Sorry, I couldn't finish this after several tries, so I stopped. Please ask again."
	}
	switch code := slackpost.SlackErrorCode(cause); code {
	case "is_archived", "channel_not_found", "not_in_channel":
		return "⚠️ " + cannotPostText(code)
	case "msg_too_long", "invalid_blocks", "invalid_blocks_format", "too_many_attachments", "no_text":
		return "⚠️ Slack refused my reply to this message (" + code + "), so I stopped. Please ask again, perhaps for a shorter answer."
	}
	if slackpost.IsNotInChannel(cause) {
		return "⚠️ " + cannotPostText(slackpost.SlackErrorCode(cause))
	}
	if agents.ErrorStatus(cause) != 0 {
		return "⚠️ " + failureText(cause)
	}
	return "⚠️ Sorry, something went wrong and I stopped working on this. Please ask again."
}

// runAgeText is what the user reads when a run outlived MaxRunAge.
func runAgeText(age time.Duration) string {
	return "The run has been going for more than " + roughly(age) +
		", so I stopped waiting for it. It may still finish in LangSmith; ask again here if you need the answer."
}

// roughly renders d for people: "2h", "90m", "45s".
func roughly(d time.Duration) string {
	switch {
	case d >= time.Hour && d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	case d >= time.Minute:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return fmt.Sprintf("%ds", max(d/time.Second, 1))
}

// errStreamIdle marks a stream the watchdog closed.
var errStreamIdle = errors.New("run stream went silent")

// watchStream closes stream when no byte (event or keep-alive) arrives for
// StreamIdleTimeout: the caller's read then ends and it rejoins the run or
// falls back to the thread. The returned func stops the watchdog and
// reports whether it fired. It is a timer, not a goroutine: a replica
// following thousands of runs pays for each run's watchdog only while the
// check runs.
func (r *Relay) watchStream(stream *agents.Stream) (stop func() bool) {
	idle := r.cfg.StreamIdleTimeout
	every := max(idle/4, time.Millisecond)
	var (
		mu      sync.Mutex
		stopped bool
		fired   bool
		t       *time.Timer
	)
	last, lastAt := stream.BytesRead(), time.Now()
	check := func() {
		mu.Lock()
		defer mu.Unlock()
		if stopped {
			return
		}
		now := time.Now()
		switch n := stream.BytesRead(); {
		case n != last:
			last, lastAt = n, now
		case now.Sub(lastAt) >= idle:
			fired = true
			stream.Close()
			return
		}
		t.Reset(every)
	}
	mu.Lock() // the first check waits for t
	t = time.AfterFunc(every, check)
	mu.Unlock()
	return func() bool {
		mu.Lock()
		defer mu.Unlock()
		stopped = true
		t.Stop()
		return fired
	}
}

// findStartedRun looks for the run an earlier attempt of job started but
// never recorded. It matches the run's metadata (slack_message_ts for a
// prompt, slack_card_id for a resume), never the prompt's text, so a
// repeated "continue" is not taken for the run before it.
//
// started is true when the run exists; runID is then its id where the
// runtime lists runs (Agent Server), or "" where it does not (the Managed
// Deep Agents API: a busy thread is then this job's run, since a
// conversation's jobs run one at a time). proven is false when the
// runtime cannot tell: no run list, and a thread that is neither missing
// nor busy (nor, for a resume, still interrupted).
func (r *Relay) findStartedRun(ctx context.Context, threadID string, p payload, want map[string]any) (runID string, started, proven bool, err error) {
	runs, err := r.cfg.Agents.ListThreadRuns(ctx, threadID, 20)
	switch {
	case err == nil:
		for _, run := range runs {
			if sameStart(run.Metadata, want) {
				return run.RunID, true, true, nil
			}
		}
		return "", false, true, nil
	case !agents.IsRunListUnsupported(err):
		return "", false, false, fmt.Errorf("look for a run started before: %w: %w", errRuntime, err)
	}
	th, err := r.cfg.Agents.GetThread(ctx, threadID)
	switch {
	case agents.ErrorStatus(err) == http.StatusNotFound:
		return "", false, true, nil // no thread: nothing started
	case err != nil:
		return "", false, false, fmt.Errorf("look for a run started before: %w: %w", errRuntime, err)
	case th.Status == agents.ThreadBusy:
		return "", true, true, nil
	case p.Resume != nil && th.Status == agents.ThreadInterrupted:
		return "", false, true, nil
	}
	return "", false, false, nil
}

// sameStart reports whether a run's metadata is that of the request: the
// Slack message it answers (slack_message_ts) and, for a resume, the card
// decided (slack_card_id; a prompt's run has none).
func sameStart(have, want map[string]any) bool {
	for _, k := range []string{"slack_message_ts", "slack_card_id"} {
		h, _ := have[k].(string)
		w, _ := want[k].(string)
		if h != w {
			return false
		}
	}
	return true
}
