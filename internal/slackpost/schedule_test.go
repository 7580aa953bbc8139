package slackpost

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"
)

// schedHarness runs writes through a scheduler on a manual clock and
// records the order in which Slack was called.
type schedHarness struct {
	t   *testing.T
	s   *Scheduler
	clk *fakeClock

	mu    sync.Mutex
	calls []string
}

func newSchedHarness(t *testing.T) *schedHarness {
	clk := newFakeClock()
	s := NewScheduler(1)
	s.clk = clk
	return &schedHarness{t: t, s: s, clk: clk}
}

// write is a Write that records name when it calls Slack and answers with
// the next of errs (nil once they run out).
func (h *schedHarness) write(method string, prio Priority, key, name string, errs ...error) Write {
	return Write{Method: method, Priority: prio, Key: key, Call: func(context.Context) error {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.calls = append(h.calls, name)
		if len(errs) > 0 {
			err := errs[0]
			errs = errs[1:]
			return err
		}
		return nil
	}}
}

// start runs w in the background; its result arrives on the channel.
func (h *schedHarness) start(w Write) <-chan error {
	done := make(chan error, 1)
	go func() { done <- h.s.Do(context.Background(), w) }()
	return done
}

func (h *schedHarness) called() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.calls...)
}

// queued waits until n writes wait in the scheduler.
func (h *schedHarness) queued(n int) {
	h.t.Helper()
	h.queuedAt(-1, n)
}

// queuedAt waits until n writes of priority prio (any, if negative) wait
// in the scheduler.
func (h *schedHarness) queuedAt(prio Priority, n int) {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		h.s.mu.Lock()
		got := 0
		for _, ln := range h.s.lanes {
			for p, q := range ln.waiting {
				if prio < 0 || Priority(p) == prio {
					got += len(q)
				}
			}
		}
		h.s.mu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("%d writes queued, want %d", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// spend uses up method's allowance at once.
func (h *schedHarness) spend(method string, n int) {
	h.t.Helper()
	for range n {
		if err := h.s.Do(context.Background(), Write{Method: method, Call: func(context.Context) error { return nil }}); err != nil {
			h.t.Fatal(err)
		}
	}
}

// tokenEvery is a little more than the time Tier 3 takes to earn one call.
const tokenEvery = 1201 * time.Millisecond

func receive(t *testing.T, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("write did not return")
		return nil
	}
}

func TestSchedulerFinalGoesBeforeQueuedProgress(t *testing.T) {
	h := newSchedHarness(t)
	h.spend("chat.update", tier3PerMinute) // Tier 3: the minute's allowance is gone
	var progress []<-chan error
	for i := range 100 {
		progress = append(progress, h.start(h.write("chat.update", PriorityProgress, fmt.Sprint("msg", i), "progress")))
	}
	h.queued(100)
	final := h.start(h.write("chat.update", PriorityFinal, "", "final"))
	h.queued(101)

	// One token every 1.2 s (50 a minute): the first one is the final's.
	h.clk.waitForTimer(t)
	h.clk.Advance(tokenEvery)
	if err := receive(t, final); err != nil {
		t.Fatal(err)
	}
	if got := h.called(); len(got) != 1 || got[0] != "final" {
		t.Fatalf("calls after the first token = %v, want [final]", got)
	}
	for _, ch := range progress {
		select {
		case err := <-ch:
			t.Fatalf("a progress write returned (%v) before its turn", err)
		default:
		}
	}
	// The progress writes follow, one per token.
	for range 100 {
		h.clk.waitForTimer(t)
		h.clk.Advance(tokenEvery)
	}
	for _, ch := range progress {
		if err := receive(t, ch); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(h.called()); n != 101 {
		t.Errorf("%d calls, want 101", n)
	}
}

func TestSchedulerCoalescesProgressPerKey(t *testing.T) {
	h := newSchedHarness(t)
	h.spend("chat.update", tier3PerMinute)
	first := h.start(h.write("chat.update", PriorityProgress, "A", "A1"))
	h.queued(1)
	other := h.start(h.write("chat.update", PriorityProgress, "B", "B1"))
	h.queued(2)
	second := h.start(h.write("chat.update", PriorityProgress, "A", "A2"))
	if err := receive(t, first); !errors.Is(err, ErrSuperseded) {
		t.Fatalf("older progress of A = %v, want ErrSuperseded", err)
	}
	third := h.start(h.write("chat.update", PriorityProgress, "A", "A3"))
	if err := receive(t, second); !errors.Is(err, ErrSuperseded) {
		t.Fatalf("second progress of A = %v, want ErrSuperseded", err)
	}
	h.queued(2)
	for range 2 {
		h.clk.waitForTimer(t)
		h.clk.Advance(tokenEvery)
	}
	for _, ch := range []<-chan error{third, other} {
		if err := receive(t, ch); err != nil {
			t.Fatal(err)
		}
	}
	// Only A's latest state is sent, in the place A's first one had.
	if got, want := fmt.Sprint(h.called()), "[A3 B1]"; got != want {
		t.Errorf("calls = %s, want %s", got, want)
	}
	if got := h.s.Stats().Superseded; got != 2 {
		t.Errorf("superseded = %d, want 2", got)
	}
}

func TestScheduler429PausesTheMethodAndRetries(t *testing.T) {
	h := newSchedHarness(t)
	limited := &slack.RateLimitedError{RetryAfter: 5 * time.Second}
	first := h.start(h.write("chat.update", PriorityFinal, "", "update1", limited))
	h.queued(1) // called once, answered 429, waiting out Retry-After
	second := h.start(h.write("chat.update", PriorityFinal, "", "update2"))
	h.queued(2)
	// Another method is not paused.
	if err := h.s.Do(context.Background(), h.write("chat.postEphemeral", PriorityNormal, "", "ephemeral")); err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprint(h.called()), "[update1 ephemeral]"; got != want {
		t.Fatalf("calls during the pause = %s, want %s", got, want)
	}
	h.clk.Advance(4 * time.Second)
	h.queued(2) // still paused
	h.clk.Advance(time.Second)
	for _, ch := range []<-chan error{first, second} {
		if err := receive(t, ch); err != nil {
			t.Fatalf("write after a 429 = %v, want it retried and sent", err)
		}
	}
	// Both go once the pause ends (in either order: they run concurrently).
	got := h.called()
	slices.Sort(got[2:])
	if want := "[update1 ephemeral update1 update2]"; fmt.Sprint(got) != want {
		t.Errorf("calls = %v, want %s", got, want)
	}
	if st := h.s.Stats(); st.Absorbed != 1 {
		t.Errorf("absorbed = %d, want 1", st.Absorbed)
	}
}

func TestSchedulerWorkspacesAreIsolated(t *testing.T) {
	// One scheduler per workspace: a 429 and a spent tier in one do not
	// hold up the other.
	a, b := newSchedHarness(t), newSchedHarness(t)
	paused := a.start(a.write("chat.update", PriorityFinal, "", "a", &slack.RateLimitedError{RetryAfter: 30 * time.Second}))
	a.queued(1) // answered 429, waiting out Retry-After
	for i := range tier3PerMinute {
		if err := b.s.Do(context.Background(), b.write("chat.update", PriorityFinal, "", fmt.Sprint("b", i))); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(b.called()); n != tier3PerMinute {
		t.Errorf("workspace B made %d updates, want %d", n, tier3PerMinute)
	}
	select {
	case err := <-paused:
		t.Fatalf("workspace A's paused write returned early: %v", err)
	default:
	}
	a.clk.Advance(30 * time.Second)
	if err := receive(t, paused); err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprint(a.called()), "[a a]"; got != want {
		t.Errorf("workspace A's calls = %s, want %s", got, want)
	}
}

func TestSchedulerCloseDrainsFinalsAndDropsProgress(t *testing.T) {
	h := newSchedHarness(t)
	h.spend("chat.update", tier3PerMinute)
	progress := h.start(h.write("chat.update", PriorityProgress, "A", "progress"))
	h.queued(1)
	final := h.start(h.write("chat.update", PriorityFinal, "", "final"))
	card := h.start(h.write("chat.postMessage", PriorityFinal, "", "card", &slack.RateLimitedError{RetryAfter: 2 * time.Second}))
	h.queued(3)

	closed := make(chan error, 1)
	go func() { closed <- h.s.Close(context.Background()) }()
	if err := receive(t, progress); !errors.Is(err, ErrClosed) {
		t.Fatalf("pending progress at Close = %v, want ErrClosed", err)
	}
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) with a final pending", err)
	default:
	}
	if err := h.s.Do(context.Background(), h.write("chat.appendStream", PriorityProgress, "B", "late progress")); !errors.Is(err, ErrClosed) {
		t.Errorf("progress during Close = %v, want ErrClosed", err)
	}
	h.clk.Advance(2 * time.Second) // the update's token and the post's pause
	for _, ch := range []<-chan error{final, card} {
		if err := receive(t, ch); err != nil {
			t.Fatalf("final during Close = %v, want it sent", err)
		}
	}
	if err := receive(t, closed); err != nil {
		t.Fatal(err)
	}
	if err := h.s.Do(context.Background(), h.write("chat.update", PriorityFinal, "", "after")); !errors.Is(err, ErrClosed) {
		t.Errorf("write after Close = %v, want ErrClosed", err)
	}
	got := h.called()
	slices.Sort(got)
	if want := "[card card final]"; fmt.Sprint(got) != want {
		t.Errorf("calls = %v, want %s", got, want)
	}
}

func TestSchedulerCallerGivesUpWhileWaiting(t *testing.T) {
	h := newSchedHarness(t)
	h.spend("chat.update", tier3PerMinute)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.s.Do(ctx, h.write("chat.update", PriorityFinal, "", "never")) }()
	h.queued(1)
	cancel()
	if err := receive(t, done); !errors.Is(err, context.Canceled) {
		t.Fatalf("Do = %v, want context.Canceled", err)
	}
	h.queued(0)
	// Nothing is left for Close to wait for.
	if err := h.s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(h.called()); n != 0 {
		t.Errorf("%d calls, want none", n)
	}
}

func TestLiveFinishGoesBeforeItsWaitingProgress(t *testing.T) {
	// chat.update's minute is used up: the reply's progress waits for a
	// token. Finish must not wait behind it, and its answer takes the
	// next token.
	f := newFakeSlack(t)
	h := newSchedHarness(t)
	api := slack.New("xoxb-test", slack.OptionAPIURL(f.srv.URL+"/"))
	p := New(api, WithHTTPClient(f.srv.Client()), WithScheduler(h.s))
	h.spend("chat.update", tier3PerMinute)
	l := p.NewLive("C1", "100.1", LiveOptions{MinInterval: time.Nanosecond})
	defer l.Close()
	if _, err := l.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	l.Update(Progress{Text: "working"})
	h.queued(1) // the progress edit, waiting for its turn
	finished := make(chan error, 1)
	go func() { finished <- l.Finish(context.Background(), "the answer", 0, nil) }()
	h.queuedAt(PriorityFinal, 1) // the answer
	h.queued(1)                  // alone: the progress edit was withdrawn
	h.clk.waitForTimer(t)
	h.clk.Advance(tokenEvery)
	if err := receive(t, finished); err != nil {
		t.Fatal(err)
	}
	updates := f.of("chat.update")
	if len(updates) != 1 {
		t.Fatalf("%d chat.update calls, want only the answer's", len(updates))
	}
	if got := blocksText(t, updates[0]); !strings.Contains(got, "the answer") {
		t.Errorf("the update showed %q, want the answer", got)
	}
}

// TestSchedulerSweepsLanesAtRest: a bot that posted once in many channels
// does not keep a lane per channel forever; a lane still pacing (spent
// tokens, a pause with a write waiting it out) survives the sweep.
func TestSchedulerSweepsLanesAtRest(t *testing.T) {
	h := newSchedHarness(t)
	post := func(channel string) {
		t.Helper()
		w := Write{Method: "chat.postMessage", Channel: channel, Priority: PriorityFinal, Call: func(context.Context) error { return nil }}
		if err := h.s.Do(context.Background(), w); err != nil {
			t.Fatal(err)
		}
	}
	lanes := func() map[string]bool {
		h.s.mu.Lock()
		defer h.s.mu.Unlock()
		names := map[string]bool{}
		for name := range h.s.lanes {
			names[name] = true
		}
		return names
	}
	for range postMessageBurst { // CBUSY's allowance is spent
		post("CBUSY")
	}
	paused := h.start(h.write("chat.update", PriorityFinal, "", "update", &slack.RateLimitedError{RetryAfter: time.Minute}))
	h.queued(1)
	for i := range sweepEvery {
		post(fmt.Sprintf("CA%04d", i)) // one token spent each: not at rest yet
	}
	if got := len(lanes()); got != sweepEvery+2 {
		t.Fatalf("%d lanes, want %d: a lane with a spent token is not at rest", got, sweepEvery+2)
	}
	// Two seconds refill the CA lanes (one token each), not CBUSY's five.
	h.clk.Advance(2 * time.Second)
	for i := range sweepEvery {
		post(fmt.Sprintf("CB%04d", i))
	}
	got := lanes()
	for name := range got {
		if strings.HasPrefix(name, "chat.postMessage CA") {
			t.Fatalf("lane %q at rest was kept (%d lanes)", name, len(got))
		}
	}
	if !got["chat.postMessage CBUSY"] || !got["chat.update"] {
		t.Errorf("lanes still pacing were swept: CBUSY %v, chat.update %v", got["chat.postMessage CBUSY"], got["chat.update"])
	}
	h.clk.Advance(time.Minute)
	if err := receive(t, paused); err != nil {
		t.Fatalf("paused write = %v, want it sent after the pause", err)
	}
}
