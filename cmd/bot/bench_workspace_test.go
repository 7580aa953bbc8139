package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deepagents-slack/slackbot"
	"github.com/deepagents-slack/slackbot/internal/agents/agentstest"
	"github.com/deepagents-slack/slackbot/internal/bottest"
	"github.com/deepagents-slack/slackbot/internal/slackpost/slackfake"
)

// BenchmarkLiveRunsOneWorkspace drives 200 concurrent live runs in one
// workspace through the real service, with the fake Slack enforcing
// Slack's documented rate tiers (per method, chat.postMessage per
// channel) and the bot's write scheduler pacing at the same tiers.
//
// Time is compressed consistently: the fake's tiers and the scheduler's are
// both scaled by BENCH_TIER_SCALE (default 10), so one benchmark second
// carries ten Slack seconds of allowance. Runs are spread over 20 channels
// (10 each); all 200 are held until every one is in flight, then each
// streams tokens (40 ms apart) for a length that makes the run ends spread
// evenly over BENCH_SPREAD (default 30 s, i.e. 5 minutes of Slack time at
// scale 10): 40 final answers a Slack-minute while 200 replies want a
// progress write every second, far beyond chat.update's 50 a minute.
//
// Metrics: 429s that reached a user (a reply without its answer, or any
// message or ephemeral naming a rate limit: must be 0); 429s Slack answered
// that the scheduler absorbed (waited out and retried); final answer posted
// (the last write of the reply) minus run end (its last token reaching the
// bot), p50/p95/max in benchmark milliseconds; progress writes per reply
// (writes between its creation and the run's end); replies streamed.
// BENCH_WS_RUNS runs fewer runs for a quick look; BENCH_DEBUG=1 logs the
// Slack calls by method and answer.
func BenchmarkLiveRunsOneWorkspace(b *testing.B) {
	runs, channels := 200, 20
	if n, err := strconv.Atoi(os.Getenv("BENCH_WS_RUNS")); err == nil && n > 0 {
		runs = n // a quick look
	}
	scale := envFloat("BENCH_TIER_SCALE", 10)
	spread := time.Duration(envFloat("BENCH_SPREAD", 30) * float64(time.Second))
	const tokenDelay = 40 * time.Millisecond
	// With streaming, progress is chat.appendStream (Tier 4) and answers
	// end streams (Tier 2) then replace them (Tier 3); without, progress
	// and answers share chat.update (Tier 3), where the priority shows.
	for _, streaming := range []bool{true, false} {
		name := "streaming"
		if !streaming {
			name = "chat.update"
		}
		b.Run(name, func(b *testing.B) { benchWorkspace(b, runs, channels, scale, spread, tokenDelay, streaming) })
	}
}

func benchWorkspace(b *testing.B, runs, channels int, scale float64, spread, tokenDelay time.Duration, streaming bool) {
	for i := 0; i < b.N; i++ {
		m := runWorkspaceBatch(b, runs, channels, scale, spread, tokenDelay, streaming)
		if i == b.N-1 {
			b.ReportMetric(float64(m.userFacing429), "429s-to-users")
			b.ReportMetric(float64(m.absorbed), "429s-absorbed")
			b.ReportMetric(float64(m.final.p50.Milliseconds()), "final-after-end-ms-p50")
			b.ReportMetric(float64(m.final.p95.Milliseconds()), "final-after-end-ms-p95")
			b.ReportMetric(float64(m.final.max.Milliseconds()), "final-after-end-ms-max")
			b.ReportMetric(m.progressPerReply, "progress-writes/reply")
			b.ReportMetric(float64(m.minProgress), "progress-writes/reply-min")
			b.ReportMetric(float64(m.streamed), "replies-streamed")
			b.ReportMetric(float64(m.superseded), "progress-coalesced")
		}
	}
}

func envFloat(name string, def float64) float64 {
	if f, err := strconv.ParseFloat(os.Getenv(name), 64); err == nil && f > 0 {
		return f
	}
	return def
}

type workspaceMetrics struct {
	userFacing429, absorbed, superseded int64
	final                               struct{ p50, p95, max time.Duration }
	progressPerReply                    float64
	minProgress, streamed               int
}

// workspaceAnswer is the answer of run n: n words, so that it streams for
// n tokens.
func workspaceAnswer(n int) string {
	words := make([]string, n)
	for i := range words {
		words[i] = "word" + strconv.Itoa(i)
	}
	return strings.Join(words, " ") + "."
}

func runWorkspaceBatch(b *testing.B, runs, channels int, scale float64, spread, tokenDelay time.Duration, streaming bool) workspaceMetrics {
	b.StopTimer()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	// Run i streams enough tokens to end i/runs of the way through spread.
	tokensOf := func(i int) int { return 10 + int(spread/tokenDelay)*i/runs }
	var arrived atomic.Int64
	release := make(chan struct{})
	script := func(t agentstest.Turn) []agentstest.Step {
		i := 0
		if len(t.Input) > 0 {
			_, _ = fmt.Sscanf(t.Input[len(t.Input)-1].Content[strings.LastIndex(t.Input[len(t.Input)-1].Content, "question "):], "question %d", &i)
		}
		arrived.Add(1)
		select { // hold every run until all are in flight
		case <-release:
		case <-ctx.Done():
		}
		return []agentstest.Step{
			agentstest.Todos(agentstest.Todo{Content: "Answer", Status: agentstest.TodoInProgress}),
			agentstest.Text(wordTokens(workspaceAnswer(tokensOf(i)))...),
		}
	}
	e := startEnv(b, envSetup{
		proxied:    true,
		script:     script,
		tokenDelay: tokenDelay,
		configure: func(c *Config) {
			c.SlackTierScale = scale // as the fake's (startSim does this too)
			c.Streaming = streaming
		},
		quiet:     os.Getenv("BENCH_LIVE_LOGS") == "",
		slackOpts: []slackfake.Option{slackfake.WithRateTiers(scale)},
	})
	s, proxy := e.sim, e.Proxy
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()
	chans := make([]string, channels)
	for c := range chans {
		chans[c] = fmt.Sprintf("CLOAD%05d", c)
	}
	channelOf := func(i int) string { return chans[i%channels] }

	b.StartTimer()
	var wg sync.WaitGroup
	next := atomic.Int64{}
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= runs {
					return
				}
				code, body, err := s.Slash(userAnna, channelOf(i), "question "+strconv.Itoa(i))
				if err != nil || code != 200 || body != "" {
					b.Errorf("slash %d: %d %v %s", i, code, err, body)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := bottest.Poll(ctx, 20*time.Millisecond, func() bool {
		return arrived.Load() == int64(runs) && proxy.OpenStreams() == runs
	}); err != nil {
		b.Fatalf("runs in flight: %d started, %d streams open: %v", arrived.Load(), proxy.OpenStreams(), err)
	}
	close(release)

	// answered maps each run to its reply once the reply shows its answer.
	answered := func() (map[int]slackfake.Message, map[int]string) {
		replies, roots := map[int]slackfake.Message{}, map[int]string{}
		for c, ch := range chans {
			msgs := s.Slack.Messages(ch)
			rootRun := map[string]int{}
			for _, m := range msgs {
				if m.IsBot() && m.ThreadTS == "" {
					var i int
					if _, err := fmt.Sscanf(m.Rendered[strings.LastIndex(m.Rendered, "question "):], "question %d", &i); err == nil && i%channels == c {
						rootRun[m.TS] = i
						roots[i] = m.TS
					}
				}
			}
			for _, m := range msgs {
				i, ok := rootRun[m.ThreadTS]
				if ok && m.IsBot() && m.TS != m.ThreadTS && !m.Streaming && parseBlocks(string(m.Blocks)).markdown == workspaceAnswer(tokensOf(i)) {
					replies[i] = m
				}
			}
		}
		return replies, roots
	}
	if err := bottest.Poll(ctx, 100*time.Millisecond, func() bool { r, _ := answered(); return len(r) == runs }); err != nil {
		r, _ := answered()
		b.Fatalf("%d of %d answered: %v", len(r), runs, err)
	}
	b.StopTimer()

	replies, roots := answered()
	m := workspaceMetrics{minProgress: -1}
	st := s.svc.slackWrites.Stats()
	m.superseded = st.Superseded
	calls := s.Slack.Calls()
	if os.Getenv("BENCH_DEBUG") != "" {
		counts := map[string]int{}
		for _, c := range calls {
			counts[c.Method+" "+c.Error]++
		}
		b.Logf("calls: %v", counts)
	}
	for _, c := range calls {
		if c.Error == "ratelimited" {
			m.absorbed++
		}
	}
	if m.absorbed != st.Absorbed {
		b.Errorf("Slack answered %d 429s, the scheduler absorbed %d", m.absorbed, st.Absorbed)
	}
	// A 429 reaching a user would show as a failure note or an ephemeral
	// naming it (every reply shows its answer, checked above).
	for _, ch := range chans {
		for _, msg := range s.Slack.Messages(ch) {
			if low := strings.ToLower(msg.Rendered); strings.Contains(low, "rate") && strings.Contains(low, "limit") {
				m.userFacing429++
			}
		}
	}
	for _, e := range s.Slack.Ephemerals() {
		if low := strings.ToLower(e.Text); strings.Contains(low, "rate") && strings.Contains(low, "limit") {
			m.userFacing429++
		}
	}

	var finals []time.Duration
	progress := 0
	for i := range runs {
		reply := replies[i]
		key := slackbot.Key{TeamID: bottest.Team, ChannelID: channelOf(i), RootTS: roots[i]}
		end, ok := proxy.LastToken(slackbot.ThreadID(key))
		if !ok {
			b.Errorf("no token seen for run %d", i)
			continue
		}
		ws := replyWrites(calls, channelOf(i), roots[i], reply.TS)
		if len(ws) > 0 && ws[0].Method == "chat.startStream" {
			m.streamed++
		}
		var last time.Time
		n := 0
		for j, c := range ws {
			if !c.OK {
				continue
			}
			if j > 0 && c.At.Before(end) {
				n++ // a progress write: after the reply was created, before the run ended
			}
			last = c.At
		}
		progress += n
		if m.minProgress < 0 || n < m.minProgress {
			m.minProgress = n
		}
		finals = append(finals, last.Sub(end))
	}
	slices.Sort(finals)
	if n := len(finals); n > 0 {
		m.final.p50 = finals[n/2]
		m.final.p95 = finals[min(n-1, n*95/100)]
		m.final.max = finals[n-1]
	}
	m.progressPerReply = float64(progress) / float64(runs)
	return m
}
