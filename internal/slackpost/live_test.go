package slackpost

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/deepagents-slack/slackbot/internal/slacktext"
)

func has(method string, n int) func([]recordedCall) bool {
	return func(calls []recordedCall) bool { return countMethod(calls, method) >= n }
}

func TestLiveCoalescesAndThrottles(t *testing.T) {
	f := newFakeSlack(t)
	p := f.poster(t)
	clk := newFakeClock()
	p.clk = clk
	ctx := context.Background()

	l := p.NewLive("C1", "100.1", LiveOptions{})
	defer l.Close()
	ts, err := l.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	post := f.of("chat.postMessage")[0]
	if post.Form.Get("thread_ts") != "100.1" || !strings.Contains(blocksText(t, post), "Working on it") {
		t.Errorf("placeholder = %v", post.Form)
	}

	for i := range 50 {
		l.Update(Progress{Text: fmt.Sprintf("draft number %d", i)})
	}
	clk.waitForTimer(t) // the flusher waits for the interval to pass …
	if n := len(f.of("chat.update")); n != 0 {
		t.Fatalf("%d updates before the interval passed", n)
	}
	clk.Advance(time.Second) // … and then writes once, the latest state
	f.waitFor(t, "first update", has("chat.update", 1))
	up := f.of("chat.update")[0]
	if got := blocksText(t, up); got != "draft number 49" || up.Form.Get("ts") != ts {
		t.Errorf("first update shows %q on %s, want the latest draft on %s", got, up.Form.Get("ts"), ts)
	}

	todos := []Todo{{"Read the docs", TodoCompleted}, {"Write code", TodoInProgress}, {"Test <it>", TodoPending}}
	l.Update(Progress{Text: "second", Todos: todos, Activity: "Running tests"})
	clk.waitForTimer(t)
	if n := len(f.of("chat.update")); n != 1 {
		t.Fatalf("%d updates within one interval, want 1", n)
	}
	clk.Advance(time.Second)
	f.waitFor(t, "second update", has("chat.update", 2))
	got := blocksText(t, f.of("chat.update")[1])
	want := ":white_check_mark: Read the docs\n:arrows_counterclockwise: *Write code*\n:white_circle: Test &lt;it&gt;\nsecond\n:gear: _Running tests_"
	if got != want {
		t.Errorf("second update shows\n%s\nwant\n%s", got, want)
	}

	if err := l.Finish(ctx, "The **answer**.", 0, nil); err != nil {
		t.Fatal(err)
	}
	final := f.of("chat.update")[2]
	if got := blocksText(t, final); !strings.HasPrefix(got, ":white_check_mark: Read the docs") || !strings.HasSuffix(got, "The **answer**.") {
		t.Errorf("final message = %q, want the plan above the answer", got)
	}
	if got := l.Writes(); got != 4 {
		t.Errorf("Writes() = %d, want 4 (placeholder, 2 updates, final)", got)
	}
	l.Update(Progress{Text: "too late"}) // ignored after Finish
	if n := len(f.all()); n != 4 {
		t.Errorf("%d calls after a late update, want 4", n)
	}
}

func TestLiveStreaming(t *testing.T) {
	f := newFakeSlack(t)
	p := f.poster(t)
	ctx := context.Background()
	l := p.NewLive("C1", "100.1", LiveOptions{Streaming: true, RecipientUserID: "U1", RecipientTeamID: "T1", MinInterval: time.Nanosecond})
	defer l.Close()
	ts, err := l.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	start := f.of("chat.startStream")[0].Form
	if start.Get("thread_ts") != "100.1" || start.Get("recipient_user_id") != "U1" || start.Get("recipient_team_id") != "T1" {
		t.Errorf("startStream form = %v", start)
	}

	l.Update(Progress{Text: "Hello"})
	f.waitFor(t, "first append", has("chat.appendStream", 1))
	l.Update(Progress{Text: "Hello world"})
	f.waitFor(t, "second append", has("chat.appendStream", 2))
	appends := f.of("chat.appendStream")
	if appends[0].Form.Get("markdown_text") != "Hello" || appends[1].Form.Get("markdown_text") != " world" || appends[1].Form.Get("ts") != ts {
		t.Errorf("appended %q then %q", appends[0].Form.Get("markdown_text"), appends[1].Form.Get("markdown_text"))
	}

	if err := l.Finish(ctx, "Hello world!", 0, nil); err != nil {
		t.Fatal(err)
	}
	want := []string{"chat.startStream", "chat.appendStream", "chat.appendStream", "chat.stopStream", "chat.update"}
	if got := f.methods(); !slices.Equal(got, want) {
		t.Errorf("calls = %v, want %v", got, want)
	}
	if got := blocksText(t, f.of("chat.update")[0]); got != "Hello world!" {
		t.Errorf("final = %q", got)
	}
}

func TestLiveStreamingFallsBack(t *testing.T) {
	tests := []struct {
		name   string
		script func(f *fakeSlack)
	}{
		{"message_not_in_streaming_state", func(f *fakeSlack) {
			f.script("chat.appendStream", reply{}, reply{slackError: "message_not_in_streaming_state"})
		}},
		{"appendStream 404", func(f *fakeSlack) {
			f.script("chat.appendStream", reply{}, reply{status: http.StatusNotFound})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeSlack(t)
			tt.script(f)
			p := f.poster(t)
			l := p.NewLive("C1", "100.1", LiveOptions{Streaming: true, MinInterval: time.Nanosecond})
			defer l.Close()
			ts, err := l.Start(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			l.Update(Progress{Text: "part one"})
			f.waitFor(t, "append", has("chat.appendStream", 1))
			l.Update(Progress{Text: "part one, part two"}) // append fails: shown by chat.update
			f.waitFor(t, "fallback update", has("chat.update", 1))
			if got := blocksText(t, f.of("chat.update")[0]); got != "part one, part two" {
				t.Errorf("fallback shows %q", got)
			}
			l.Update(Progress{Text: "part one, part two, three"})
			f.waitFor(t, "next update", has("chat.update", 2))
			if n := len(f.of("chat.appendStream")); n != 2 {
				t.Errorf("%d appends, want none after the failure", n)
			}
			up := f.of("chat.update")[1]
			if blocksText(t, up) != "part one, part two, three" || up.Form.Get("ts") != ts {
				t.Errorf("update after fallback = %v", up.Form)
			}
		})
	}
}

func TestLiveStreamingUnavailable(t *testing.T) {
	f := newFakeSlack(t)
	f.setAlways("chat.startStream", reply{status: http.StatusNotFound})
	p := f.poster(t)
	l := p.NewLive("C1", "100.1", LiveOptions{Streaming: true, MinInterval: time.Nanosecond})
	defer l.Close()
	ts, err := l.Start(context.Background())
	if err != nil || ts == "" {
		t.Fatalf("Start = %q, %v", ts, err)
	}
	l.Update(Progress{Text: "hi"})
	f.waitFor(t, "update", has("chat.update", 1))
	want := []string{"chat.startStream", "chat.postMessage", "chat.update"}
	if got := f.methods(); !slices.Equal(got, want) {
		t.Errorf("calls = %v, want %v", got, want)
	}
}

// streamChunks decodes the chunks of a streaming call.
func streamChunks(t *testing.T, c recordedCall) []map[string]string {
	t.Helper()
	var chunks []map[string]string
	if raw := c.Form.Get("chunks"); raw != "" {
		if err := json.Unmarshal([]byte(raw), &chunks); err != nil {
			t.Fatalf("chunks %q: %v", raw, err)
		}
	}
	return chunks
}

func TestLiveStreamingShowsPlanAndTools(t *testing.T) {
	f := newFakeSlack(t)
	p := f.poster(t)
	l := p.NewLive("C1", "100.1", LiveOptions{Streaming: true, MinInterval: time.Nanosecond})
	defer l.Close()
	if _, err := l.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if mode := f.of("chat.startStream")[0].Form.Get("task_display_mode"); mode != "plan" {
		t.Errorf("task_display_mode = %q, want plan", mode)
	}
	l.Update(Progress{Text: "Thinking"})
	f.waitFor(t, "append", has("chat.appendStream", 1))
	plan := []Todo{{"Collect <metrics>", TodoInProgress}, {"Write the report", TodoPending}}
	l.Update(Progress{Text: "Thinking", Todos: plan, Activity: "Running tool `query`"})
	f.waitFor(t, "plan append", has("chat.appendStream", 2))
	got := streamChunks(t, f.of("chat.appendStream")[1])
	want := []map[string]string{
		{"type": "plan_update", "title": "Plan"},
		{"type": "task_update", "id": "todo-0", "title": "Collect <metrics>", "status": "in_progress"},
		{"type": "task_update", "id": "todo-1", "title": "Write the report", "status": "pending"},
		{"type": "task_update", "id": "activity-1", "title": "Running tool query", "status": "in_progress"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("chunks = %v\nwant %v", got, want)
	}

	// Only what changed is sent; the finished tool is completed; new text
	// rides along as a markdown chunk.
	plan[0].Status = TodoCompleted
	l.Update(Progress{Text: "Thinking. Done", Todos: plan})
	f.waitFor(t, "third append", has("chat.appendStream", 3))
	got = streamChunks(t, f.of("chat.appendStream")[2])
	want = []map[string]string{
		{"type": "task_update", "id": "todo-0", "title": "Collect <metrics>", "status": "complete"},
		{"type": "task_update", "id": "activity-1", "title": "Running tool query", "status": "complete"},
		{"type": "markdown_text", "text": ". Done"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("chunks = %v\nwant %v", got, want)
	}
	if n := len(f.of("chat.update")); n != 0 {
		t.Errorf("%d chat.update calls while the stream could show everything", n)
	}

	// A plan that shrinks cannot be shown by cards: chat.update takes over.
	l.Update(Progress{Text: "Thinking. Done", Todos: plan[:1]})
	f.waitFor(t, "update", has("chat.update", 1))
	if got := blocksText(t, f.of("chat.update")[0]); got != ":white_check_mark: Collect &lt;metrics&gt;\nThinking. Done" {
		t.Errorf("update = %q", got)
	}
}

func TestLiveStreamNeverCompletesABroadcast(t *testing.T) {
	f := newFakeSlack(t)
	p := f.poster(t)
	l := p.NewLive("C1", "100.1", LiveOptions{Streaming: true, MinInterval: time.Nanosecond})
	defer l.Close()
	if _, err := l.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	l.Update(Progress{Text: "say <!he"})
	f.waitFor(t, "append", has("chat.appendStream", 1))
	l.Update(Progress{Text: "say <!here> and @chan"})
	f.waitFor(t, "append", has("chat.appendStream", 2))
	l.Update(Progress{Text: "say <!here> and @channel now"})
	f.waitFor(t, "append", has("chat.appendStream", 3))
	streamed := ""
	for _, c := range f.of("chat.appendStream") {
		streamed += c.Form.Get("markdown_text")
	}
	if want := "say @\u2060here and @\u2060channel now"; streamed != want {
		t.Errorf("streamed %q, want %q", streamed, want)
	}
	if live := slacktext.LiveBroadcast(streamed); live != "" {
		t.Errorf("stream shows a live %q", live)
	}
}

func TestLiveRateLimitedWritesLatest(t *testing.T) {
	f := newFakeSlack(t)
	p := f.poster(t)
	var l *Live
	p.sched.clk.(*jumpClock).onWait = func(time.Duration) {
		l.Update(Progress{Text: "newer"}) // progress goes on while we wait
	}
	l = p.NewLive("C1", "100.1", LiveOptions{MinInterval: time.Nanosecond})
	defer l.Close()
	if _, err := l.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.script("chat.update", reply{status: http.StatusTooManyRequests, retryAfter: "2"})
	l.Update(Progress{Text: "older"})
	f.waitFor(t, "retried update", has("chat.update", 2))
	if err := l.Finish(context.Background(), "done", 0, nil); err != nil {
		t.Fatal(err)
	}
	want := []string{"chat.postMessage", "chat.update", "(wait 2s)", "chat.update", "chat.update"}
	if got := f.methods(); !slices.Equal(got, want) {
		t.Fatalf("calls = %v, want %v", got, want)
	}
	if got := blocksText(t, f.of("chat.update")[1]); got != "newer" {
		t.Errorf("after the wait the update showed %q, want the latest state", got)
	}
}

func TestFinishDeliversParts(t *testing.T) {
	md := longAnswer(30_000)
	parts := RenderAnswer(md)
	if len(parts) < 3 {
		t.Fatalf("need at least 3 parts, got %d", len(parts))
	}
	partText := func(i int) string { return parts[i].Blocks[0].(*slack.MarkdownBlock).Text }

	t.Run("all parts", func(t *testing.T) {
		f := newFakeSlack(t)
		p := f.poster(t)
		l := p.NewLive("C1", "100.1", LiveOptions{ExistingTS: "55.5"})
		if _, err := l.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		l.Update(Progress{Todos: []Todo{{"Only step", TodoCompleted}}})
		var saved []int
		err := l.Finish(context.Background(), md, 0, func(n int) error { saved = append(saved, n); return nil })
		if err != nil {
			t.Fatal(err)
		}
		up := f.of("chat.update")
		if len(up) != 1 || up[0].Form.Get("ts") != "55.5" {
			t.Fatalf("updates = %v", up)
		}
		if got := blocksText(t, up[0]); got != ":white_check_mark: Only step\n"+partText(0) {
			t.Errorf("part 0 lacks the plan or the answer")
		}
		posts := f.of("chat.postMessage")
		if len(posts) != len(parts)-1 {
			t.Fatalf("%d posts for %d parts", len(posts), len(parts))
		}
		for i, c := range posts {
			if blocksText(t, c) != partText(i+1) || c.Form.Get("thread_ts") != "100.1" {
				t.Errorf("post %d is not part %d in the thread", i, i+1)
			}
		}
		if want := []int{1, 2, 3}; !slices.Equal(saved[:3], want) || len(saved) != len(parts) {
			t.Errorf("saved = %v", saved)
		}
	})

	t.Run("after a takeover", func(t *testing.T) {
		f := newFakeSlack(t)
		p := f.poster(t)
		l := p.NewLive("C1", "100.1", LiveOptions{ExistingTS: "55.5"})
		if _, err := l.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		var saved []int
		if err := l.Finish(context.Background(), md, 2, func(n int) error { saved = append(saved, n); return nil }); err != nil {
			t.Fatal(err)
		}
		if n := len(f.of("chat.update")); n != 0 {
			t.Errorf("part 0 rewritten %d times though delivered", n)
		}
		posts := f.of("chat.postMessage")
		if len(posts) != len(parts)-2 || blocksText(t, posts[0]) != partText(2) {
			t.Errorf("posted %d parts, first %q…", len(posts), blocksText(t, posts[0])[:20])
		}
		if saved[0] != 3 || saved[len(saved)-1] != len(parts) {
			t.Errorf("saved = %v", saved)
		}
	})

	t.Run("stops when saving fails", func(t *testing.T) {
		f := newFakeSlack(t)
		p := f.poster(t)
		l := p.NewLive("C1", "100.1", LiveOptions{ExistingTS: "55.5"})
		err := l.Finish(context.Background(), md, 0, func(n int) error { return fmt.Errorf("db down") })
		if err == nil || len(f.of("chat.postMessage")) != 0 {
			t.Errorf("Finish = %v with %d posts, want an error and no further parts", err, len(f.of("chat.postMessage")))
		}
	})
}

func TestLiveFail(t *testing.T) {
	f := newFakeSlack(t)
	p := f.poster(t)
	l := p.NewLive("C1", "100.1", LiveOptions{MinInterval: time.Nanosecond})
	if _, err := l.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	l.Update(Progress{Text: "partial answer", Activity: "Calling a tool"})
	f.waitFor(t, "update", has("chat.update", 1))
	if err := l.Fail(context.Background(), "The run failed: <timeout>"); err != nil {
		t.Fatal(err)
	}
	got := blocksText(t, f.of("chat.update")[1])
	if got != "partial answer\n:warning: The run failed: &lt;timeout&gt;" {
		t.Errorf("failed message = %q", got)
	}
}

func TestLiveFailWhileStreaming(t *testing.T) {
	f := newFakeSlack(t)
	p := f.poster(t)
	l := p.NewLive("C1", "100.1", LiveOptions{Streaming: true, MinInterval: time.Hour})
	if _, err := l.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	l.Update(Progress{Text: "never flushed"}) // the hour has not passed
	if err := l.Fail(context.Background(), "boom"); err != nil {
		t.Fatal(err)
	}
	want := []string{"chat.startStream", "chat.stopStream"}
	if got := f.methods(); !slices.Equal(got, want) {
		t.Fatalf("calls = %v, want %v", got, want)
	}
	if got := f.of("chat.stopStream")[0].Form.Get("markdown_text"); got != "never flushed\n\n⚠️ boom" {
		t.Errorf("stopStream markdown = %q", got)
	}
}

func TestLiveAdoptsExistingReply(t *testing.T) {
	f := newFakeSlack(t)
	p := f.poster(t)
	l := p.NewLive("C1", "100.1", LiveOptions{ExistingTS: "42.0", MinInterval: time.Nanosecond})
	defer l.Close()
	ts, err := l.Start(context.Background())
	if err != nil || ts != "42.0" || len(f.all()) != 0 {
		t.Fatalf("Start = %q, %v, calls %v", ts, err, f.methods())
	}
	l.Update(Progress{Text: "resumed"})
	f.waitFor(t, "update", has("chat.update", 1))
	if got := f.of("chat.update")[0].Form.Get("ts"); got != "42.0" {
		t.Errorf("updated ts %q", got)
	}
}

func TestLiveAssistantStatus(t *testing.T) {
	f := newFakeSlack(t)
	p := f.poster(t)
	clk := newFakeClock()
	p.clk = clk
	ctx := context.Background()
	l := p.NewLive("C1", "100.1", LiveOptions{Status: true})
	defer l.Close()
	if _, err := l.Start(ctx); err != nil {
		t.Fatal(err)
	}
	status := func(i int) (string, string) {
		c := f.of("assistant.threads.setStatus")[i]
		if c.Form.Get("channel_id") != "C1" || c.Form.Get("thread_ts") != "100.1" {
			t.Errorf("status call %d names %v", i, c.Form)
		}
		return c.Form.Get("status"), c.Form.Get("loading_messages")
	}
	if s, lm := status(0); s != "is thinking…" || lm != "Thinking…" {
		t.Errorf("first status %q %q", s, lm)
	}
	// Unchanged, it is set again before Slack's two-minute expiry.
	clk.waitForTimer(t)
	clk.Advance(defaultStatusRefresh)
	f.waitFor(t, "refresh", has("assistant.threads.setStatus", 2))
	// What the agent does shows in the loading messages (commas kept
	// whole: slack-go joins the messages with commas).
	l.Update(Progress{Activity: "Running tool `search`, then <!channel>\nSubagent `critic`", Todos: []Todo{{"Check, then write", TodoInProgress}}})
	f.waitFor(t, "activity status", has("assistant.threads.setStatus", 3))
	if s, lm := status(2); s != "is thinking…" || lm != "Running tool search‚ then @\u2060channel,Subagent critic,Working on: Check‚ then write" {
		t.Errorf("activity status %q %q", s, lm)
	}
	if err := l.Finish(ctx, "done", 0, nil); err != nil {
		t.Fatal(err)
	}
	calls := f.of("assistant.threads.setStatus")
	if s, _ := status(len(calls) - 1); s != "" {
		t.Errorf("last status %q, want cleared", s)
	}
}

func TestLiveAssistantStatusRefusedIsDropped(t *testing.T) {
	f := newFakeSlack(t)
	f.setAlways("assistant.threads.setStatus", reply{slackError: "not_allowed"})
	p := f.poster(t)
	l := p.NewLive("C1", "100.1", LiveOptions{Status: true, MinInterval: time.Nanosecond})
	defer l.Close()
	if _, err := l.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	l.Update(Progress{Text: "a", Activity: "Running tool x"})
	f.waitFor(t, "update", has("chat.update", 1))
	if err := l.Finish(context.Background(), "done", 0, nil); err != nil {
		t.Fatal(err)
	}
	if n := len(f.of("assistant.threads.setStatus")); n != 1 {
		t.Errorf("%d setStatus calls after Slack refused the first, want none", n-1)
	}
}

// A live reply waiting for its run's next event holds no goroutine: its
// flusher and status refresh are timers. A replica follows thousands of
// runs at once, most of them quiet.
func TestIdleLiveRepliesHoldNoGoroutine(t *testing.T) {
	const n = 100
	f := newFakeSlack(t)
	p := f.poster(t)
	before := runtime.NumGoroutine()
	lives := make([]*Live, n)
	for i := range lives {
		lives[i] = p.NewLive("C1", fmt.Sprintf("100.%d", i), LiveOptions{Status: true, MinInterval: time.Nanosecond})
		if _, err := lives[i].Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		lives[i].Update(Progress{Text: "working"})
	}
	f.waitFor(t, "every reply's update", has("chat.update", n))
	for deadline := time.Now().Add(30 * time.Second); runtime.NumGoroutine()-before >= n/2; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d live replies hold %d more goroutines; want none of their own", n, runtime.NumGoroutine()-before)
		}
	}
	for _, l := range lives {
		if err := l.Finish(t.Context(), "done", 0, nil); err != nil {
			t.Fatal(err)
		}
	}
	if got := countMethod(f.all(), "chat.update"); got != 2*n {
		t.Errorf("%d chat.update calls; want %d (one progress, one answer per reply)", got, 2*n)
	}
}
