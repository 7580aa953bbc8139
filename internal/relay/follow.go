package relay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/deepagents-slack/slackbot/internal/agents"
	"github.com/deepagents-slack/slackbot/internal/slackpost"
	"github.com/deepagents-slack/slackbot/internal/threadmap"
)

// outcome is how a run ended, as the user should learn it.
type outcome struct {
	answer    string
	failure   string
	interrupt *agents.Interrupt
	shown     string // text already streamed, kept above a pause note
}

// maxStreamFailures is how many consecutive failed joins of a run stream the
// relay tolerates before it stops streaming and polls the thread instead.
const maxStreamFailures = 6

// follow tracks a run until it ends: its event stream first (rejoining from
// the last event id when the connection drops), and where the runtime has
// no run stream, the completion webhook and polling of the thread. It never
// asks the runtime to cancel: a dropped connection is ours, not the run's.
func (r *Relay) follow(ctx context.Context, log *slog.Logger, job threadmap.Job, live *slackpost.Live) (outcome, error) {
	tracker := &agents.Tracker{}
	lastID := ""
	failures := 0
	for {
		stream, err := r.cfg.Agents.JoinRunStream(ctx, job.ThreadID, job.RunID, lastID)
		if err != nil {
			if ctx.Err() != nil {
				return outcome{}, ctx.Err()
			}
			if agents.IsStreamUnsupported(err) {
				log.Info("runtime has no run stream; following the thread instead")
				return r.awaitThread(ctx, log, job, live, tracker.View())
			}
			failures++
			if failures >= maxStreamFailures {
				log.Warn("run stream keeps failing; following the thread instead", "err", err)
				return r.awaitThread(ctx, log, job, live, tracker.View())
			}
			log.Warn("join run stream", "err", err, "failures", failures)
			if err := sleep(ctx, backoff(failures)); err != nil {
				return outcome{}, err
			}
			continue
		}
		readErr := r.readStream(stream, tracker, live)
		if stream.LastEventID() != lastID {
			// The join brought events: only consecutive fruitless joins
			// count, or a long run behind a proxy that cuts connections
			// would back off ever longer and end up polling.
			failures = 0
		}
		lastID = stream.LastEventID()
		stream.Close()
		if ctx.Err() != nil {
			return outcome{}, ctx.Err()
		}
		view := tracker.View()
		if view.Failure != "" || len(view.Interrupts) > 0 {
			return r.outcomeFrom(ctx, job, view, nil)
		}
		// The stream ended. Only the thread knows whether the run did too
		// (a stream may end without an "end" event, or be cut).
		th, err := r.cfg.Agents.GetThread(ctx, job.ThreadID)
		if err == nil && th.Status != agents.ThreadBusy {
			return r.outcomeFrom(ctx, job, view, th)
		}
		if err != nil && view.Ended {
			return r.outcomeFrom(ctx, job, view, nil)
		}
		failures++
		log.Info("run stream dropped; rejoining", "last_event_id", lastID, "read_err", readErr)
		if failures >= maxStreamFailures {
			return r.awaitThread(ctx, log, job, live, view)
		}
		if err := sleep(ctx, backoff(failures)); err != nil {
			return outcome{}, err
		}
	}
}

// readStream applies events to the tracker and shows progress until the
// stream ends; it returns the read error, nil at a clean end.
func (r *Relay) readStream(stream *agents.Stream, tracker *agents.Tracker, live *slackpost.Live) error {
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
	}
}

// awaitThread waits for the run to end without a stream: a completion
// webhook wakes it at once, polling the thread with backoff is the safety net.
func (r *Relay) awaitThread(ctx context.Context, log *slog.Logger, job threadmap.Job, live *slackpost.Live, seen agents.RunView) (outcome, error) {
	hook := r.webhooks.subscribe(job.ID)
	defer r.webhooks.unsubscribe(job.ID)
	pr := progressOf(seen)
	if pr.Activity == "" {
		pr.Activity = "The agent is working…"
	}
	live.Update(pr)
	delay := time.Second
	for attempt := 0; ; attempt++ {
		th, err := r.cfg.Agents.GetThread(ctx, job.ThreadID)
		switch {
		case err == nil && th.Status != agents.ThreadBusy && th.Status != "":
			return r.outcomeFrom(ctx, job, seen, th)
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
			delay = 0 // the webhook says the run ended: read the thread now
		case <-time.After(delay):
			delay = min(delay*2, r.cfg.ThreadPollMax)
		}
		if delay == 0 {
			delay = time.Second
		}
	}
}

// outcomeFrom decides how the run ended from what the stream showed and,
// where known, the thread's final state.
func (r *Relay) outcomeFrom(ctx context.Context, job threadmap.Job, view agents.RunView, th *agents.Thread) (outcome, error) {
	out := outcome{shown: view.Text}
	if view.Failure != "" {
		out.failure = "The run failed: " + truncate(view.Failure, 1500)
		return out, nil
	}
	if len(view.Interrupts) > 0 {
		out.interrupt = &view.Interrupts[0]
		return out, nil
	}
	values := json.RawMessage(nil)
	if th != nil {
		values = th.Values
		switch th.Status {
		case agents.ThreadError:
			out.failure = "The run ended with an error in the agent runtime."
			if msg := threadError(th); msg != "" {
				out.failure = "The run failed: " + truncate(msg, 1500)
			}
			return out, nil
		case agents.ThreadInterrupted:
			ints := interruptsOf(th)
			if len(ints) == 0 && len(values) == 0 {
				// Some runtimes keep state behind a separate route.
				if v, err := r.cfg.Agents.GetThreadState(ctx, job.ThreadID); err == nil {
					ints, _ = agents.ParseInterrupts(v)
				}
			}
			if len(ints) > 0 {
				out.interrupt = &ints[0]
				return out, nil
			}
		}
	}
	if len(values) == 0 && view.Final == "" && th != nil {
		if v, err := r.cfg.Agents.GetThreadState(ctx, job.ThreadID); err == nil {
			values = v
		}
	}
	out.answer = agents.FinalText(values)
	if out.answer == "" {
		out.answer = view.Final
	}
	if out.answer == "" {
		out.answer = view.Text
	}
	return out, nil
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
