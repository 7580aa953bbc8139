package slackpost

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"github.com/deepagents-slack/slackbot/internal/slacktext"
)

const (
	// streamChunkMax bounds one chat.appendStream (Slack: 12,000).
	streamChunkMax = 11_000
	// streamMax bounds a streamed message; past it the live reply switches
	// to chat.update, which shows the end of the text.
	streamMax = 24_000
)

// Progress is the state of a run as the live reply shows it.
type Progress struct {
	Text     string // answer so far (Markdown)
	Todos    []Todo
	Activity string // what the agent is doing now, e.g. "Searching the web"
}

// Todo is one item of the agent's plan.
type Todo struct {
	Content string
	Status  string // pending | in_progress | completed
}

// LiveOptions configure a live reply.
type LiveOptions struct {
	// RecipientUserID and RecipientTeamID are who the reply is for;
	// Slack requires them to stream in channels.
	RecipientUserID, RecipientTeamID string
	// ExistingTS adopts a reply already posted (after a restart) instead of
	// posting a new one.
	ExistingTS string
	// Streaming tries chat.startStream/appendStream/stopStream, falling
	// back to chat.update whenever streaming is unavailable or cannot show
	// the progress.
	Streaming bool
	// MinInterval is the least time between two writes (default 1s).
	MinInterval time.Duration
	// Placeholder is the mrkdwn shown before any progress.
	Placeholder string
	// Status shows Slack's AI-app status under the thread while the run
	// works ("is thinking…", with loading messages saying what the agent is
	// doing), refreshed every StatusRefresh before Slack's two-minute expiry
	// and cleared when the reply ends. Slack allows it in any thread with
	// chat:write since 2026-03; where it refuses, the reply carries on
	// without it.
	Status bool
	// StatusRefresh is how often an unchanged status is set again (default
	// 90s; Slack drops it after two minutes without a message).
	StatusRefresh time.Duration
	// StopJobID, when set, shows a Stop button for that job (StopActionID)
	// under the progress while the run works and CanStop (asked again at
	// every update, nil for always) says runs can be stopped. Streamed
	// replies cannot carry blocks until they stop, so they show none. The
	// final answer or failure note replaces it.
	StopJobID string
	CanStop   func() bool
	// FeedbackJobID, when set, puts 👍/👎 buttons (FeedbackActionID) rating
	// that job's answer under the final answer's last part; see withFooter.
	FeedbackJobID string
}

type liveMode int

const (
	modeUpdate liveMode = iota // rendered with chat.update
	modeStream                 // text appended with chat.appendStream
)

// Live is the reply of one run, kept up to date as the run progresses.
// Updates are coalesced by a flusher that writes at most once per
// MinInterval, always the latest state. The flusher is a timer, not a
// goroutine: a reply whose run is quiet costs no stack, which matters to a
// replica following thousands of runs. All methods are safe for concurrent
// use.
type Live struct {
	p                 *Poster
	channel, threadTS string
	o                 LiveOptions

	mu        sync.Mutex
	ts        string
	started   bool
	halted    bool // Close, Finish or Fail began: the flusher does no more
	ended     bool // Finish or Fail ran: progress is no longer shown
	latest    Progress
	dirty     bool
	writes    int
	lastWrite time.Time
	// The flusher, between Start and halt: flushCtx is its context
	// (Start's, until halt cancels it, so that a progress write waiting
	// for its turn in the scheduler never holds up the end); flushT is the
	// flush to come or under way, refreshT the next status refresh; ticks
	// counts the flushes and refreshes under way, which halt waits for.
	flushCtx    context.Context
	cancelFlush context.CancelFunc
	flushT      stopper
	refreshT    stopper
	ticks       sync.WaitGroup

	// Owned by whoever holds writeMu: the flusher, Start, Finish or Fail.
	writeMu    sync.Mutex
	mode       liveMode
	streamed   string // markdown appended to the stream so far
	tasks      streamTasks
	lastRender string // what the last chat.update showed
	status     statusState
}

// NewLive prepares the live reply in channel's thread threadTS. Nothing is
// written until Start.
func (p *Poster) NewLive(channel, threadTS string, o LiveOptions) *Live {
	if o.MinInterval <= 0 {
		o.MinInterval = time.Second
	}
	if o.Placeholder == "" {
		o.Placeholder = defaultProgress
	}
	if o.StatusRefresh <= 0 {
		o.StatusRefresh = defaultStatusRefresh
	}
	return &Live{
		p: p, channel: channel, threadTS: threadTS, o: o,
		ts: o.ExistingTS, // Finish and Fail work on it even without Start
	}
}

// Start posts the placeholder reply (or starts the stream, or adopts
// ExistingTS) and starts the flusher, which runs until Close, Finish, Fail
// or the end of ctx. It returns the reply's ts. Calling it again returns the
// same ts.
func (l *Live) Start(ctx context.Context) (string, error) {
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	l.mu.Lock()
	if l.started {
		defer l.mu.Unlock()
		return l.ts, nil
	}
	l.mu.Unlock()

	ts, err := l.open(ctx)
	if err != nil {
		return "", err
	}
	l.mu.Lock()
	l.ts, l.started = ts, true
	l.lastWrite = l.p.clk.Now()
	if l.halted { // closed before it started: no flusher
		l.mu.Unlock()
		return ts, nil
	}
	fctx, cancel := context.WithCancel(ctx)
	l.flushCtx, l.cancelFlush = fctx, cancel
	l.mu.Unlock()
	// After the reply is posted: Slack clears the status when the app
	// posts in the thread.
	l.showStatus(fctx, Progress{}, false)
	l.mu.Lock()
	l.scheduleRefreshLocked()
	if l.dirty { // updated before it started
		l.scheduleFlushLocked()
	}
	l.mu.Unlock()
	return ts, nil
}

// open creates (or adopts) the reply message.
func (l *Live) open(ctx context.Context) (string, error) {
	if l.o.ExistingTS != "" {
		l.mode = modeUpdate
		return l.o.ExistingTS, nil
	}
	// Streamed messages must be replies in a thread. chat.startStream is
	// Tier 2 (20 a minute): when the workspace has used that up, the reply
	// does not wait for it but posts a placeholder (one a second per
	// channel) and is edited instead.
	if l.o.Streaming && l.threadTS != "" && l.p.sched.Free("chat.startStream", l.channel) {
		// Tasks render grouped under the plan: the agent's todos are its
		// plan, and tools run as steps of it.
		opts := []slack.MsgOption{slack.MsgOptionTS(l.threadTS), slack.MsgOptionTaskDisplayMode(slack.TaskDisplayModePlan)}
		if l.o.RecipientUserID != "" {
			opts = append(opts, slack.MsgOptionRecipientUserID(l.o.RecipientUserID))
		}
		if l.o.RecipientTeamID != "" {
			opts = append(opts, slack.MsgOptionRecipientTeamID(l.o.RecipientTeamID))
		}
		var ts string
		err := l.call(ctx, "chat.startStream", PriorityNormal, func() (err error) {
			_, ts, err = l.p.api.StartStreamContext(ctx, l.channel, opts...)
			return err
		})
		if err == nil && ts != "" {
			l.mode = modeStream
			return ts, nil
		}
		l.p.log.Info("slack streaming unavailable; posting and updating instead",
			"channel", l.channel, "code", SlackErrorCode(err), "err", err)
	}
	l.mode = modeUpdate
	m := l.withControls(renderProgress(Progress{}, l.o.Placeholder, ""))
	var ts string
	err := l.call(ctx, "chat.postMessage", PriorityNormal, func() (err error) {
		_, ts, err = l.p.api.PostMessageContext(ctx, l.channel, append(messageOptions(m), threadOption(l.threadTS)...)...)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("slack chat.postMessage: %w", err)
	}
	l.lastRender = renderKey(m)
	return ts, nil
}

func threadOption(threadTS string) []slack.MsgOption {
	if threadTS == "" {
		return nil
	}
	return []slack.MsgOption{slack.MsgOptionTS(threadTS)}
}

// TS is the reply's ts ("" before Start succeeded).
func (l *Live) TS() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ts
}

// Writes is how many Slack write calls this reply made, retries included.
func (l *Live) Writes() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.writes
}

// Update records the run's latest state; it never blocks on Slack. The
// flusher shows it at most MinInterval after the previous write; states
// recorded in between are coalesced into the latest.
func (l *Live) Update(pr Progress) {
	pr.Todos = append([]Todo(nil), pr.Todos...)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ended {
		return
	}
	l.latest, l.dirty = pr, true
	l.scheduleFlushLocked()
}

// scheduleFlushLocked has the flusher show the latest state MinInterval
// after the previous write, unless a flush is pending or under way (that
// one schedules the next when it is done). Callers hold mu.
func (l *Live) scheduleFlushLocked() {
	if !l.started || l.halted || l.flushT != nil {
		return
	}
	wait := l.lastWrite.Add(l.o.MinInterval).Sub(l.p.clk.Now())
	l.flushT = l.p.clk.AfterFunc(max(wait, 0), l.flushTick)
}

// scheduleRefreshLocked (re)starts the wait before the AI-app status is set
// again, unchanged, so that it does not expire. Callers hold mu.
func (l *Live) scheduleRefreshLocked() {
	if !l.o.Status || !l.started || l.halted {
		return
	}
	if l.refreshT != nil {
		l.refreshT.Stop()
	}
	l.refreshT = l.p.clk.AfterFunc(l.o.StatusRefresh, l.refreshTick)
}

// tick begins a flush or refresh: its context, or false once halted.
func (l *Live) tick() (context.Context, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.halted || l.flushCtx.Err() != nil {
		return nil, false
	}
	l.ticks.Add(1)
	return l.flushCtx, true
}

// flushTick is the flusher's write: the latest state, then the next flush
// if the state changed meanwhile.
func (l *Live) flushTick() {
	ctx, ok := l.tick()
	if !ok {
		return
	}
	defer l.ticks.Done()
	l.flush(ctx)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.flushT = nil
	l.scheduleRefreshLocked()
	if l.dirty {
		l.scheduleFlushLocked()
	}
}

// refreshTick keeps the AI-app status from expiring.
func (l *Live) refreshTick() {
	ctx, ok := l.tick()
	if !ok {
		return
	}
	defer l.ticks.Done()
	l.writeMu.Lock()
	l.showStatus(ctx, l.peek(), true)
	l.writeMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.scheduleRefreshLocked()
}

// flush writes the latest state if it is not shown yet. It waits for its
// turn in the scheduler behind every more urgent write of the workspace;
// the scheduler retries a 429 after Retry-After (a chat.update then shows
// the state that is latest by then).
func (l *Live) flush(ctx context.Context) {
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	l.mu.Lock()
	if !l.dirty || l.ended {
		l.mu.Unlock()
		return
	}
	pr := l.latest
	l.dirty = false
	l.mu.Unlock()

	err := l.show(ctx, pr)
	l.showStatus(ctx, pr, false)
	if err != nil && ctx.Err() == nil && !errors.Is(err, ErrSuperseded) && !errors.Is(err, ErrClosed) {
		l.p.log.Warn("slack live update failed", "channel", l.channel, "code", SlackErrorCode(err), "err", err)
	}
}

// show writes pr as progress.
func (l *Live) show(ctx context.Context, pr Progress) error {
	if l.mode == modeStream {
		if delta, tasks, ok := l.streamDelta(pr, false); ok {
			return l.appendDelta(ctx, delta, tasks)
		}
		if _, err := l.endStream(ctx, PriorityProgress, "", nil); err != nil {
			return err
		}
	}
	return l.showProgress(ctx)
}

// showProgress renders the progress that is latest when the write's turn
// comes, so a reply waiting behind others shows its newest state.
func (l *Live) showProgress(ctx context.Context) error {
	return l.showRendered(ctx, PriorityProgress, func() Message {
		return l.withControls(renderProgress(l.snapshot(), l.o.Placeholder, ""))
	})
}

// streamDelta is what the stream must append to show pr: text extending
// what was streamed, and task/plan chunks for the todos and activity that
// changed. ok is false when the stream cannot show pr (the text changed
// instead of growing, it grew too long, or the plan shrank). Until final,
// a tail of the text that later text could turn into a token or a
// broadcast is held back.
func (l *Live) streamDelta(pr Progress, final bool) (string, []slack.StreamChunk, bool) {
	text := pr.Text
	if !final {
		text = text[:slacktext.SplitHoldback(text)]
	}
	text = slacktext.Defuse(text)
	if !strings.HasPrefix(text, l.streamed) || slackLen(text) > streamMax {
		return "", nil, false
	}
	tasks, ok := l.tasks.diff(pr)
	if !ok {
		return "", nil, false
	}
	return text[len(l.streamed):], tasks, true
}

// appendDelta appends text and task chunks to the stream in pieces Slack
// accepts. On an error from Slack (429s never come back: the scheduler
// retries them) the reply switches to chat.update, showing the latest
// state at once so nothing is lost.
func (l *Live) appendDelta(ctx context.Context, delta string, tasks []slack.StreamChunk) error {
	for delta != "" || len(tasks) > 0 {
		chunk := truncateToUnits(delta, streamChunkMax)
		err := l.call(ctx, "chat.appendStream", PriorityProgress, func() error {
			_, _, err := l.p.api.AppendStreamContext(ctx, l.channel, l.tsNow(), streamContent(chunk, tasks))
			return err
		})
		if ctx.Err() != nil || errors.Is(err, ErrClosed) {
			return err
		}
		if err != nil {
			l.fallBack(ctx, err)
			if SlackErrorCode(err) != "message_not_in_streaming_state" && httpStatus(err) != http.StatusNotFound {
				// The stream may still be open: end it (best effort) so
				// Slack stops showing it as in progress.
				_ = l.call(ctx, "chat.stopStream", PriorityProgress, func() error {
					_, _, err := l.p.api.StopStreamContext(ctx, l.channel, l.tsNow())
					return err
				})
			}
			return l.showProgress(ctx)
		}
		l.tasks.sent(tasks)
		tasks = nil
		l.streamed += chunk
		delta = delta[len(chunk):]
	}
	return nil
}

// streamContent is a streaming call's content: plain markdown_text, or,
// with task and plan updates, chunks (Slack takes one or the other).
func streamContent(markdown string, tasks []slack.StreamChunk) slack.MsgOption {
	if len(tasks) == 0 {
		return slack.MsgOptionMarkdownText(markdown)
	}
	chunks := tasks
	if markdown != "" {
		chunks = append(slices.Clip(tasks), slack.NewMarkdownTextChunk(markdown))
	}
	return slack.MsgOptionChunks(chunks...)
}

// endStream stops the stream, with closing markdown if any, and switches to
// chat.update. stopped reports whether Slack took the stop (and so the
// closing text). Only the end of ctx or of the scheduler is returned as an
// error: a stream that is already gone is as good as stopped.
func (l *Live) endStream(ctx context.Context, prio Priority, closing string, tasks []slack.StreamChunk) (stopped bool, err error) {
	opts := []slack.MsgOption{}
	if closing != "" || len(tasks) > 0 {
		opts = append(opts, streamContent(closing, tasks))
	}
	err = l.call(ctx, "chat.stopStream", prio, func() error {
		_, _, err := l.p.api.StopStreamContext(ctx, l.channel, l.tsNow(), opts...)
		return err
	})
	if ctx.Err() != nil || errors.Is(err, ErrClosed) {
		return false, err
	}
	if err != nil {
		l.fallBack(ctx, err)
		return false, nil
	}
	l.mode = modeUpdate
	l.lastRender = ""
	l.tasks.sent(tasks)
	return true, nil
}

// fallBack leaves streaming for the rest of the run after err.
func (l *Live) fallBack(ctx context.Context, err error) {
	level := slog.LevelInfo
	if !isStreamingUnavailable(err) {
		level = slog.LevelWarn
	}
	l.p.log.Log(ctx, level, "slack streaming failed; continuing with chat.update",
		"channel", l.channel, "code", SlackErrorCode(err), "err", err)
	l.mode = modeUpdate
	l.lastRender = "" // what the stream showed is not what chat.update would
}

// showRendered shows render's message with chat.update unless the message
// shows it already. render runs when the write's turn comes.
func (l *Live) showRendered(ctx context.Context, prio Priority, render func() Message) error {
	w := Write{Method: "chat.update", Channel: l.channel, Priority: prio, Call: func(ctx context.Context) error {
		m := render()
		key := renderKey(m)
		if key == l.lastRender {
			return nil
		}
		if err := l.count(ctx, func() error {
			_, _, _, err := l.p.api.UpdateMessageContext(ctx, l.channel, l.tsNow(), messageOptions(m)...)
			return err
		}); err != nil {
			return err
		}
		l.lastRender = key
		return nil
	}}
	if prio == PriorityProgress {
		w.Key = "live " + l.tsNow()
	}
	return l.p.sched.Do(ctx, w)
}

// call makes one Slack write of method through the scheduler at prio.
// Progress writes of the reply coalesce.
func (l *Live) call(ctx context.Context, method string, prio Priority, write func() error) error {
	w := Write{Method: method, Channel: l.channel, Priority: prio, Call: func(ctx context.Context) error { return l.count(ctx, write) }}
	if prio == PriorityProgress {
		w.Key = method + " " + l.tsNow()
	}
	return l.p.sched.Do(ctx, w)
}

// count makes one attempt of a write, counting it and the time it was
// made.
func (l *Live) count(ctx context.Context, write func() error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	l.mu.Lock()
	l.writes++
	l.mu.Unlock()
	err := write()
	l.mu.Lock()
	l.lastWrite = l.p.clk.Now()
	l.mu.Unlock()
	return err
}

func (l *Live) tsNow() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ts
}

// peek is the latest progress, leaving it to be shown.
func (l *Live) peek() Progress {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.latest
}

func (l *Live) snapshot() Progress {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.dirty = false
	return l.latest
}

// halt stops the flusher and waits for a flush or refresh under way, so
// that nothing it does can land after a final write.
func (l *Live) halt() {
	l.mu.Lock()
	l.halted = true
	for _, t := range []stopper{l.flushT, l.refreshT} {
		if t != nil {
			t.Stop()
		}
	}
	if l.cancelFlush != nil {
		l.cancelFlush()
	}
	l.mu.Unlock()
	l.ticks.Wait()
}

// Close stops the flusher; progress recorded afterwards is not shown.
// Finish and Fail still work after Close.
func (l *Live) Close() { l.halt() }

// Finish delivers the final answer: it stops any stream, replaces the live
// message with part 0 (the final plan, if any, kept above the answer) and
// posts parts 1.. as new replies in the thread. Parts before from were
// delivered already (e.g. by a process that crashed) and are skipped;
// saved(i+1) is called after part i is delivered so the caller can persist
// how far it got. Replacing part 0 again is harmless, so Finish may be
// retried with the last saved from.
func (l *Live) Finish(ctx context.Context, finalMarkdown string, from int, saved func(delivered int) error) error {
	l.halt()
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	l.mu.Lock()
	l.ended = true
	todos := l.latest.Todos
	l.mu.Unlock()

	msgs := RenderAnswer(finalMarkdown)
	if len(msgs) == 0 {
		msgs = []Message{{Text: "(no answer)", Blocks: []slack.Block{mrkdwnSection("_(The agent finished without an answer.)_")}}}
	}
	if l.mode == modeStream {
		if _, err := l.endStream(ctx, PriorityFinal, "", nil); err != nil {
			return fmt.Errorf("finish: %w", err)
		}
	}
	msgs = withFooter(msgs, l.answerFooter())
	for i := max(from, 0); i < len(msgs); i++ {
		m := msgs[i]
		var err error
		if i == 0 {
			err = l.replaceOrPost(ctx, withPlan(todos, m))
		} else {
			err = l.call(ctx, "chat.postMessage", PriorityFinal, func() error {
				_, _, err := l.p.api.PostMessageContext(ctx, l.channel, append(messageOptions(m), threadOption(l.threadTS)...)...)
				return err
			})
		}
		if err != nil {
			return fmt.Errorf("finish: part %d of %d: %w", i+1, len(msgs), err)
		}
		if saved != nil {
			if err := saved(i + 1); err != nil {
				return fmt.Errorf("finish: saving progress after part %d: %w", i+1, err)
			}
		}
	}
	l.clearStatus(ctx)
	return nil
}

// Fail ends the live reply with a failure note, keeping what it showed.
func (l *Live) Fail(ctx context.Context, note string) error {
	l.halt()
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	l.mu.Lock()
	l.ended = true
	pr := l.latest
	l.mu.Unlock()
	if note == "" {
		note = "Something went wrong."
	}
	if l.mode == modeStream {
		// Keep the streamed text as it is and end it with the note; only
		// when the stream is gone, or cannot show the latest state, render
		// everything with chat.update.
		closing := "\n\n⚠️ " + slacktext.Defuse(oneLine(note))
		pr.Activity = "" // nothing is running any more
		delta, tasks, ok := l.streamDelta(pr, true)
		if ok {
			closing = delta + closing
			tasks = l.tasks.failOpen(tasks)
		}
		if l.streamed == "" {
			closing = strings.TrimLeft(closing, "\n")
		}
		if ok && slackLen(closing) <= streamChunkMax {
			stopped, err := l.endStream(ctx, PriorityFinal, closing, tasks)
			if err != nil {
				return fmt.Errorf("fail: %w", err)
			}
			if stopped {
				l.clearStatus(ctx)
				return nil
			}
		} else if _, err := l.endStream(ctx, PriorityFinal, "", nil); err != nil {
			return fmt.Errorf("fail: %w", err)
		}
	}
	pr.Activity = ""
	if err := l.replaceOrPost(ctx, renderProgress(pr, l.o.Placeholder, note)); err != nil {
		return fmt.Errorf("fail: %w", err)
	}
	l.clearStatus(ctx)
	return nil
}

// replaceOrPost shows m in the live message, or posts it when there is no
// live message (Start failed or was never called).
func (l *Live) replaceOrPost(ctx context.Context, m Message) error {
	if ts := l.tsNow(); ts != "" {
		l.lastRender = ""
		return l.call(ctx, "chat.update", PriorityFinal, func() error {
			_, _, _, err := l.p.api.UpdateMessageContext(ctx, l.channel, ts, messageOptions(m)...)
			return err
		})
	}
	var ts string
	err := l.call(ctx, "chat.postMessage", PriorityFinal, func() (err error) {
		_, ts, err = l.p.api.PostMessageContext(ctx, l.channel, append(messageOptions(m), threadOption(l.threadTS)...)...)
		return err
	})
	if err == nil {
		l.mu.Lock()
		l.ts = ts
		l.mu.Unlock()
	}
	return err
}

// renderKey identifies what a message shows, to skip identical updates.
func renderKey(m Message) string {
	b, err := json.Marshal(m.Blocks)
	if err != nil {
		return ""
	}
	return m.Text + "\x00" + string(b)
}

// truncateToUnits is the longest prefix of s within max Slack characters.
func truncateToUnits(s string, max int) string {
	n := 0
	for i, r := range s {
		if n+runeUnits(r) > max {
			return s[:i]
		}
		n += runeUnits(r)
	}
	return s
}
