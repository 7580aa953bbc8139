package main

import (
	"context"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deepagents-slack/slackbot"
	"github.com/deepagents-slack/slackbot/internal/agents/agentstest"
	"github.com/deepagents-slack/slackbot/internal/bottest"
	"github.com/deepagents-slack/slackbot/internal/slackpost/slackfake"
)

// BenchmarkConcurrentStreamingRuns drives 1,000 concurrent streaming runs
// through the real service, the fake runtime and the fake Slack. Every run
// is held at its start until all 1,000 are in flight (the bot has posted
// its live reply and joined the run stream), which is when memory is
// measured; then all stream ~40 tokens at once, 25 ms apart.
//
// Metrics: Slack writes per run; time from a run's last token reaching the
// bot (noted by the proxy in front of the runtime) to the last Slack write
// of its reply (slackfake's call times), median / p95 / max; heap per
// in-flight run (whole process: the fakes' per-run state is included, so
// it is an upper bound); and the time to get all runs in flight and to
// drain them.
func BenchmarkConcurrentStreamingRuns(b *testing.B) {
	runs := 1000
	if n, err := strconv.Atoi(os.Getenv("BENCH_LIVE_RUNS")); err == nil && n > 0 {
		runs = n // smaller batches for a quick look
	}
	answer := "The quarterly numbers look healthy: revenue grew eight percent, churn fell to " +
		"two percent, and the new region broke even two months early. Costs rose with hiring, " +
		"as planned, and the forecast for next quarter stays unchanged. Details follow in the report."
	tokens := wordTokens(answer)
	for i := 0; i < b.N; i++ {
		m := runStreamingBatch(b, runs, tokens, answer)
		if i == b.N-1 {
			b.ReportMetric(m.writesPerRun, "slack-writes/run")
			b.ReportMetric(float64(m.latency.p50.Milliseconds()), "last-token-to-final-ms-p50")
			b.ReportMetric(float64(m.latency.p95.Milliseconds()), "last-token-to-final-ms-p95")
			b.ReportMetric(float64(m.latency.max.Milliseconds()), "last-token-to-final-ms-max")
			b.ReportMetric(m.heapPerRun/1024, "heap-KiB/inflight-run")
			b.ReportMetric(m.toInFlight.Seconds(), "s-to-all-in-flight")
			b.ReportMetric(m.drain.Seconds(), "s-release-to-all-answered")
			b.ReportMetric(float64(m.maxWritesPerReply), "max-writes/reply")
			b.ReportMetric(float64(m.refusals), "slash-refusals")
		}
	}
}

type batchMetrics struct {
	writesPerRun      float64
	maxWritesPerReply int
	latency           struct{ p50, p95, max time.Duration }
	heapPerRun        float64
	toInFlight, drain time.Duration
	refusals          int
}

func runStreamingBatch(b *testing.B, runs int, tokens []string, answer string) batchMetrics {
	b.StopTimer()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	var arrived atomic.Int64
	release := make(chan struct{})
	steps := []agentstest.Step{
		agentstest.Todos(
			agentstest.Todo{Content: "Read the numbers", Status: agentstest.TodoCompleted},
			agentstest.Todo{Content: "Write the summary", Status: agentstest.TodoInProgress},
		),
		agentstest.Text(tokens...),
	}
	script := func(agentstest.Turn) []agentstest.Step {
		arrived.Add(1)
		select { // hold every run until all are in flight
		case <-release:
		case <-ctx.Done():
		}
		return steps
	}
	e := startEnv(b, envSetup{
		proxied:    true,
		script:     script,
		tokenDelay: 25 * time.Millisecond,
		quiet:      os.Getenv("BENCH_LIVE_LOGS") == "",
		// A load benchmark of the bot, not of Slack's per-method tiers
		// (1,000 stream starts are far past Tier 2).
		slackOpts: []slackfake.Option{slackfake.WithoutRateTiers()},
	})
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()

	heapBefore := heapInUse()
	b.StartTimer()
	start := time.Now()
	refusals := sendSlashCommands(b, e.sim, runs)
	err := bottest.Poll(ctx, 20*time.Millisecond, func() bool {
		return arrived.Load() == int64(runs) && e.Proxy.OpenStreams() == runs
	})
	if err != nil {
		b.Fatalf("runs in flight: %d started, %d streams open: %v", arrived.Load(), e.Proxy.OpenStreams(), err)
	}
	toInFlight := time.Since(start)
	b.StopTimer()
	heapInFlight := heapInUse()
	if path := os.Getenv("BENCH_LIVE_HEAPPROFILE"); path != "" {
		writeHeapProfile(b, path) // what the runs in flight hold
	}
	b.StartTimer()

	released := time.Now()
	close(release)
	err = bottest.Poll(ctx, 50*time.Millisecond, func() bool { return answeredReplies(e.Slack, answer) == runs })
	if err != nil {
		b.Fatalf("%d of %d answered: %v", answeredReplies(e.Slack, answer), runs, err)
	}
	drain := time.Since(released)
	b.StopTimer()

	m := batchMetrics{toInFlight: toInFlight, drain: drain, refusals: refusals}
	m.heapPerRun = float64(int64(heapInFlight)-int64(heapBefore)) / float64(runs)
	m.writesPerRun, m.maxWritesPerReply, m.latency = replyStats(b, e.sim, e.Proxy, runs)
	return m
}

// sendSlashCommands sends runs slash commands from a pool of senders, as
// many users would.
func sendSlashCommands(b *testing.B, s *sim, runs int) (refusals int) {
	var refused atomic.Int64
	var wg sync.WaitGroup
	next := atomic.Int64{}
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(runs) {
					return
				}
				for {
					code, body, err := s.Slash(userAnna, chGeneral, "question "+strconv.FormatInt(i, 10))
					if err != nil || code != 200 {
						b.Errorf("slash %d: %d %v %s", i, code, err, body)
						return
					}
					if body == "" {
						break
					}
					// The bot could not record the command in time (the store
					// is saturated) and said so: retry, as the user would.
					refused.Add(1)
					time.Sleep(100 * time.Millisecond)
				}
			}
		}()
	}
	wg.Wait()
	return int(refused.Load())
}

// answeredReplies counts bot replies that show the final answer.
func answeredReplies(f *slackfake.Server, answer string) int {
	n := 0
	for _, m := range f.Messages(chGeneral) {
		if m.IsBot() && m.ThreadTS != "" && m.ThreadTS != m.TS && !m.Streaming && parseBlocks(string(m.Blocks)).markdown == answer {
			n++
		}
	}
	return n
}

// replyStats counts Slack writes per run and measures, per run, the time
// from its last token reaching the bot to the last write of its reply.
func replyStats(b *testing.B, s *sim, proxy *bottest.RuntimeProxy, runs int) (perRun float64, maxPerReply int, lat struct{ p50, p95, max time.Duration }) {
	calls := s.Slack.Calls()
	replyOf := map[string]string{} // root ts -> reply ts
	for _, m := range s.Slack.Messages(chGeneral) {
		if m.IsBot() && m.ThreadTS != "" && m.ThreadTS != m.TS {
			if _, dup := replyOf[m.ThreadTS]; dup {
				b.Errorf("thread %s has more than one reply", m.ThreadTS)
			}
			replyOf[m.ThreadTS] = m.TS
		}
	}
	if len(replyOf) != runs {
		b.Fatalf("%d threads with a reply, want %d", len(replyOf), runs)
	}
	rootOf := map[string]string{}
	for root, reply := range replyOf {
		rootOf[reply] = root
	}
	writes := map[string][]slackfake.Call{} // by root
	total := 0
	for _, c := range calls {
		if !writeMethods[c.Method] {
			continue
		}
		root := c.Params["thread_ts"]
		if ts := c.Params["ts"]; ts != "" {
			root = rootOf[ts]
		}
		if _, ok := replyOf[root]; !ok || c.Params["ts"] == "" && c.Method != "chat.startStream" && c.Method != "chat.postMessage" {
			continue
		}
		writes[root] = append(writes[root], c)
		total++
	}
	var latencies []time.Duration
	for root, ws := range writes {
		maxPerReply = max(maxPerReply, len(ws))
		checkWriteRate(b, ws)
		key := slackbot.Key{TeamID: bottest.Team, ChannelID: chGeneral, RootTS: root}
		last, ok := proxy.LastToken(slackbot.ThreadID(key))
		if !ok {
			b.Errorf("no token seen for thread %s", root)
			continue
		}
		latencies = append(latencies, ws[len(ws)-1].At.Sub(last))
	}
	slices.Sort(latencies)
	if n := len(latencies); n > 0 {
		lat.p50 = latencies[n/2]
		lat.p95 = latencies[min(n-1, n*95/100)]
		lat.max = latencies[n-1]
	}
	return float64(total) / float64(runs), maxPerReply, lat
}

func writeHeapProfile(b *testing.B, path string) {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		b.Fatal(err)
	}
	g, err := os.Create(path + ".goroutines.txt") // who holds stacks
	if err != nil {
		b.Fatal(err)
	}
	defer g.Close()
	if err := pprof.Lookup("goroutine").WriteTo(g, 1); err != nil {
		b.Fatal(err)
	}
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
