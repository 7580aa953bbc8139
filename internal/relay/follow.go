package relay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/deepagents-slack/slackbot"
	"github.com/deepagents-slack/slackbot/internal/agents"
	"github.com/deepagents-slack/slackbot/internal/slackpost"
)

// outcome is how a run ended, as the user should learn it.
type outcome struct {
	answer    string
	failure   string
	interrupt *agents.Interrupt
	shown     string // text already streamed, kept above a pause note
}

// maxStreamFailures is how many consecutive failed joins of a run stream the
// relay tolerates before it stops streaming and waits on the thread instead.
const maxStreamFailures = 6

// webhookGrace is how long the relay waits for a completion webhook after
// the thread went idle, when the webhook is the only way to read the run.
const webhookGrace = 30 * time.Second

// follow tracks a run until it ends, by the best path the runtime offers:
// the stream the run was started with (first, when not nil), rejoining it
// from the last event id where the runtime exposes run joins, and otherwise
// the completion webhook and the thread. It never asks the runtime to
// cancel: a dropped connection is ours, not the run's.
//
// As it reads, it saves a resume point in job.LastEventID (see checkpoint),
// so a worker that takes the job over rejoins the stream there instead of
// replaying the whole run.
func (r *Relay) follow(ctx context.Context, log *slog.Logger, job *slackbot.Job, live LiveReply, first *agents.Stream) (outcome, error) {
	// A webhook that came while the stream told the run is not needed.
	defer r.webhooks.unsubscribe(webhookKey(*job))
	tracker := &agents.Tracker{}
	lastID := job.LastEventID // a takeover starts where the last worker saved
	cp := &checkpoint{prev: lastID}
	failures := 0
	for {
		stream := first
		first = nil
		if stream == nil {
			if job.RunID == "" || job.RunID == unknownRunID || r.cfg.Agents.Capabilities().JoinStream == agents.No {
				return r.awaitRun(ctx, log, *job, live, tracker.View())
			}
			var err error
			stream, err = r.cfg.Agents.JoinRunStream(ctx, job.ThreadID, job.RunID, lastID)
			if err != nil {
				if ctx.Err() != nil {
					return outcome{}, ctx.Err()
				}
				if agents.IsStreamUnsupported(err) {
					log.Info("runtime has no run join; waiting on the webhook and the thread instead")
					return r.awaitRun(ctx, log, *job, live, tracker.View())
				}
				failures++
				if failures >= maxStreamFailures {
					log.Warn("run stream keeps failing; waiting on the webhook and the thread instead", "err", err)
					return r.awaitRun(ctx, log, *job, live, tracker.View())
				}
				log.Warn("join run stream", "err", err, "failures", failures)
				if err := sleep(ctx, backoff(failures)); err != nil {
					return outcome{}, err
				}
				continue
			}
		}
		stopWatch := r.watchStream(stream)
		readErr := r.readStream(ctx, log, job, stream, tracker, live, cp)
		if stopWatch() {
			readErr = fmt.Errorf("no event or keep-alive for %s: %w", r.cfg.StreamIdleTimeout, errStreamIdle)
		}
		if stream.LastEventID() != lastID {
			// The stream brought events: only consecutive fruitless joins
			// count, or a long run behind a proxy that cuts connections
			// would back off ever longer and end up polling.
			failures = 0
		}
		lastID = stream.LastEventID()
		ended := stream.Ended()
		stream.Close()
		if ctx.Err() != nil {
			return outcome{}, ctx.Err()
		}
		view := tracker.View()
		if ended || view.Failure != "" || len(view.Interrupts) > 0 {
			// The stream told the whole run.
			return outcomeOf(view, "", nil, nil, ""), nil
		}
		// The stream stopped without `end` (the JS Agent Server never sends
		// one): only the run or its thread knows whether the run did too.
		// A stream the server closed cleanly after the run ended told all.
		clean := readErr == nil
		if clean && job.RunID != "" && job.RunID != unknownRunID && r.cfg.Agents.Capabilities().JoinStream != agents.No {
			if run, err := r.cfg.Agents.GetRun(ctx, job.ThreadID, job.RunID); err == nil && agents.RunFinished(run.Status) {
				status := ""
				if run.Status == agents.RunError || run.Status == agents.RunTimeout {
					status = agents.ThreadError
				}
				return outcomeOf(view, status, nil, nil, ""), nil
			}
		}
		th, err := r.cfg.Agents.GetThread(ctx, job.ThreadID)
		if err == nil && th.Status != agents.ThreadBusy && th.Status != "" {
			if clean {
				return outcomeOf(view, th.Status, nil, interruptsOf(th), threadError(th)), nil
			}
			return r.settle(ctx, log, *job, view, th)
		}
		failures++
		log.Info("run stream dropped", "last_event_id", lastID, "read_err", readErr)
		if failures >= maxStreamFailures {
			return r.awaitRun(ctx, log, *job, live, view)
		}
		if err := sleep(ctx, backoff(failures)); err != nil {
			return outcome{}, err
		}
	}
}

// readStream applies events to the tracker and shows progress until the
// stream ends; it returns the read error, nil at a clean end. It saves the
// stream's resume point in job as it moves, at most once per
// checkpointEvery, so a busy stream does not write per token.
func (r *Relay) readStream(ctx context.Context, log *slog.Logger, job *slackbot.Job, stream *agents.Stream, tracker *agents.Tracker, live LiveReply, cp *checkpoint) error {
	for {
		ev, err := stream.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		tracker.Apply(ev)
		live.Update(progressOf(tracker.View()))
		cp.see(ev)
		if cp.due(job.LastEventID, time.Now()) {
			job.LastEventID = cp.id
			if err := r.save(ctx, job); err != nil && ctx.Err() == nil {
				// Only a takeover's head start is lost; a lost lease
				// stops the job through the lease keeper.
				log.Warn("save stream resume point", "err", err)
			}
		}
	}
}

// checkpointEvery bounds how often a stream's resume point is saved.
const checkpointEvery = 5 * time.Second

// checkpoint tracks where a worker taking the job over should rejoin the
// run's stream (Last-Event-ID, agent-runtime-api.md: resumable runs allow a
// join with it). Not after the last event read: the events before it made
// the answer, the plan and the interrupts this worker holds, and a new
// worker starts with none of them. The point is the id just before the
// latest root "values" event instead: that event carries the whole state,
// so replaying from it rebuilds everything read so far.
type checkpoint struct {
	prev    string    // id of the last event read
	id      string    // resume point
	savedAt time.Time // when id was last saved; zero before the first save
}

// see notes ev.
func (c *checkpoint) see(ev agents.Event) {
	if ev.Mode == "values" && ev.Root() {
		c.id = c.prev
	}
	if ev.ID != "" {
		c.prev = ev.ID
	}
}

// due reports whether the resume point should be saved now, given the one
// saved: the first at once, later ones at most once per checkpointEvery (a
// point not saved yet is saved with a later event, or with the job).
func (c *checkpoint) due(saved string, now time.Time) bool {
	if c.id == saved || (!c.savedAt.IsZero() && now.Sub(c.savedAt) < checkpointEvery) {
		return false
	}
	c.savedAt = now
	return true
}

// awaitRun waits for a run the bot cannot stream: its completion webhook
// (whose body carries the final values) or the thread leaving "busy",
// polled with backoff.
func (r *Relay) awaitRun(ctx context.Context, log *slog.Logger, job slackbot.Job, live LiveReply, seen agents.RunView) (outcome, error) {
	key := webhookKey(job)
	defer r.webhooks.unsubscribe(key)
	pr := progressOf(seen)
	if pr.Activity == "" {
		pr.Activity = "The agent is working…"
	}
	live.Update(pr)
	delay := time.Second
	for {
		hook := r.webhooks.subscribe(key)
		if p := r.runWebhook(log, job, key); p != nil {
			return outcomeOfWebhook(seen, p), nil
		}
		th, err := r.cfg.Agents.GetThread(ctx, job.ThreadID)
		switch {
		case err == nil && th.Status != agents.ThreadBusy && th.Status != "":
			return r.settle(ctx, log, job, seen, th)
		case err != nil && ctx.Err() != nil:
			return outcome{}, ctx.Err()
		case err != nil:
			log.Warn("poll thread", "err", err)
			if apiErr := (*agents.Error)(nil); errors.As(err, &apiErr) && apiErr.StatusCode < 500 && apiErr.StatusCode != 429 {
				return outcome{failure: "I lost track of the run: " + failureText(err)}, nil
			}
		}
		select {
		case <-ctx.Done():
			return outcome{}, ctx.Err()
		case <-hook:
		case <-time.After(delay):
			delay = min(delay*2, r.cfg.ThreadPollMax)
		}
	}
}

// settle decides the outcome of a run whose thread is no longer busy and
// whose stream (if any) did not tell the end: from the thread's values
// where the runtime shows them, else from the completion webhook, else it
// says plainly that the bot could not read the result.
func (r *Relay) settle(ctx context.Context, log *slog.Logger, job slackbot.Job, seen agents.RunView, th *agents.Thread) (outcome, error) {
	if values, ok := r.threadValues(ctx, th); ok {
		return outcomeOf(seen, th.Status, values, interruptsOf(th), threadError(th)), nil
	}
	if r.cfg.WebhookURL != "" {
		key := webhookKey(job)
		defer r.webhooks.unsubscribe(key)
		t := time.NewTimer(webhookGrace)
		defer t.Stop()
	wait:
		for {
			select {
			case <-r.webhooks.subscribe(key):
				if p := r.runWebhook(log, job, key); p != nil {
					return outcomeOfWebhook(seen, p), nil
				}
			case <-t.C:
				log.Warn("no completion webhook came for a run the bot cannot read otherwise")
				break wait
			case <-ctx.Done():
				return outcome{}, ctx.Err()
			}
		}
	}
	log.Warn("cannot read the run's result on this runtime", "thread_status", th.Status)
	return outcome{shown: seen.Text, failure: r.unreadableText(job, th.Status)}, nil
}

// unreadableText tells the user honestly that the run's result exists but
// the bot cannot read it, where to look, and what fixes it.
func (r *Relay) unreadableText(job slackbot.Job, status string) string {
	what := "The agent finished, but I couldn't read its answer"
	switch status {
	case agents.ThreadInterrupted:
		what = "The agent paused to ask for an approval, but I couldn't read its request"
	case agents.ThreadError:
		what = "The run ended with an error, and I couldn't read its message"
	}
	text := what + ": this agent runtime lets me read a run only while it streams, and I lost that stream. " +
		"The result is in LangSmith, thread `" + job.ThreadID + "`."
	if r.cfg.WebhookURL == "" {
		text += " An admin can set `PUBLIC_URL` so the runtime's completion webhook brings results back."
	}
	return text
}

// threadValues reads a thread's latest state: from the thread itself where
// the runtime includes it (Agent Server), else GET /threads/{id}/state
// where the runtime exposes it. ok is false when the runtime shows none.
func (r *Relay) threadValues(ctx context.Context, th *agents.Thread) (json.RawMessage, bool) {
	if len(th.Values) > 0 {
		return th.Values, true
	}
	if r.cfg.Agents.Capabilities().ThreadState == agents.No {
		return nil, false
	}
	v, err := r.cfg.Agents.GetThreadState(ctx, th.ThreadID)
	if err != nil {
		return nil, false
	}
	return v, true
}

// runWebhook returns the completion webhook of the run job follows, once
// it came. One that names another run (a URL names one run start, so it
// should never happen) is dropped and the wait goes on.
func (r *Relay) runWebhook(log *slog.Logger, job slackbot.Job, key string) *webhookResult {
	p := r.webhooks.payload(key)
	if p != nil && p.RunID != "" && job.RunID != "" && job.RunID != unknownRunID && p.RunID != job.RunID {
		log.Warn("completion webhook names another run; ignored", "webhook_run_id", p.RunID)
		r.webhooks.reopen(key)
		return nil
	}
	return p
}

// outcomeOfWebhook decides the outcome from a completion webhook.
func outcomeOfWebhook(seen agents.RunView, p *webhookResult) outcome {
	status := ""
	switch p.Status {
	case agents.RunError, agents.RunTimeout:
		status = agents.ThreadError
	case agents.RunInterrupted:
		status = agents.ThreadInterrupted
	}
	out := outcomeOf(seen, status, nil, p.Interrupts, p.Error)
	if out.failure == "" && out.interrupt == nil && p.Answer != "" {
		out.answer = p.Answer
	}
	return out
}

// outcomeOf decides how a run ended from what its stream showed (view)
// and, where known, the thread's status, final values, interrupts and
// error message.
func outcomeOf(view agents.RunView, status string, values json.RawMessage, interrupts []agents.Interrupt, errMsg string) outcome {
	out := outcome{shown: view.Text}
	if view.Failure != "" {
		out.failure = "The run failed: " + truncate(view.Failure, 1500)
		return out
	}
	if len(view.Interrupts) > 0 {
		out.interrupt = &view.Interrupts[0]
		return out
	}
	if len(interrupts) == 0 && len(values) > 0 {
		interrupts, _ = agents.ParseInterrupts(values)
	}
	switch {
	case status == agents.ThreadError:
		out.failure = "The run ended with an error in the agent runtime."
		if errMsg != "" {
			out.failure = "The run failed: " + truncate(errMsg, 1500)
		}
		return out
	case len(interrupts) > 0 && (status == agents.ThreadInterrupted || status == ""):
		out.interrupt = &interrupts[0]
		return out
	}
	out.answer = agents.FinalText(values)
	if out.answer == "" {
		out.answer = view.Final
	}
	if out.answer == "" {
		out.answer = view.Text
	}
	return out
}

func interruptsOf(th *agents.Thread) []agents.Interrupt {
	for _, raw := range []json.RawMessage{th.Interrupts, th.Values} {
		if len(raw) == 0 {
			continue
		}
		if ints, err := agents.ParseInterrupts(raw); err == nil && len(ints) > 0 {
			return ints
		}
	}
	return nil
}

// threadError digs a readable error out of an errored thread's metadata or values.
func threadError(th *agents.Thread) string {
	for _, k := range []string{"error", "error_message"} {
		if s, ok := th.Metadata[k].(string); ok && s != "" {
			return s
		}
	}
	var v struct {
		Error any `json:"error"`
	}
	if json.Unmarshal(th.Values, &v) == nil && v.Error != nil {
		return fmt.Sprint(v.Error)
	}
	return ""
}

// progressOf maps what the tracker saw to the live message.
func progressOf(v agents.RunView) slackpost.Progress {
	pr := slackpost.Progress{Text: v.Text, Activity: v.Activity}
	for _, t := range v.Todos {
		pr.Todos = append(pr.Todos, slackpost.Todo{Content: t.Content, Status: t.Status})
	}
	return pr
}

func backoff(n int) time.Duration {
	d := 250 * time.Millisecond << min(n, 6)
	return min(d, 10*time.Second)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
