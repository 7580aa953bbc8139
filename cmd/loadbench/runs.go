package main

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/deepagents-slack/slackbot/internal/agents/agentstest"
	"github.com/deepagents-slack/slackbot/internal/slackpost/slackfake"
)

// The -runs mode measures what following many runs at once costs the bot:
// the real bot binary ("bot serve", its real store) against a fake agent
// runtime in a process of its own that holds every run's stream open
// (heartbeats only) until told to finish, and a fake Slack in this process.
// With every run in flight, as the runtime's count of open streams shows,
// the bot's resident memory is read from /proc/<pid>/status; then every run
// is let finish and every answer must land in the fake Slack.
//
//	go run ./cmd/loadbench -runs 500,2000,10000

// Identities of the -runs benchmark.
const (
	runsAgent   = "00000000-0000-4000-8000-00000000b0b0"
	runsChannel = "CRUNSBENCH1"
	runsAPIKey  = "test-key" // agentstest's default
	runsAnswer  = "Benchmark answer: every check passed."
)

type runsConfig struct {
	sizes     []int
	bot       string // the bot binary; built from ./cmd/bot when empty
	h2c       bool
	heartbeat time.Duration
	timeout   time.Duration
	database  string
	botEnv    []string
	hook      string // shell command run with every run in flight
}

// runsMain parses the -runs mode's flags and runs it.
func runsMain(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("loadbench -runs", flag.ContinueOnError)
	var c runsConfig
	sizes := fs.String("runs", "500,2000,10000", "comma-separated numbers of concurrent runs, each measured with a fresh bot, runtime and store")
	fs.StringVar(&c.bot, "bot", "", "bot binary to measure (default: go build ./cmd/bot); e.g. one built from another commit")
	fs.BoolVar(&c.h2c, "h2c", true, "the fake runtime speaks cleartext HTTP/2 and the bot is started with DEEPAGENTS_H2C=true")
	fs.DurationVar(&c.heartbeat, "heartbeat", 10*time.Second, "heartbeat interval of the fake runtime's held streams")
	fs.DurationVar(&c.timeout, "timeout", 15*time.Minute, "limit for each size to get all runs in flight, and again to answer them")
	fs.StringVar(&c.database, "database", "", "store for the bot: empty = SQLite in a temp dir; postgres://… = a fresh schema there, dropped afterwards")
	botEnv := fs.String("bot-env", "", "extra settings for the bot, KEY=VALUE,… (e.g. WORKERS=10000 for a bot that still has workers)")
	fs.StringVar(&c.hook, "inflight-hook", "", "shell command run once every run is in flight, before memory is read, with BOT_PID and RUNS set (e.g. to take a heap profile)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 || n > 100_000 {
			return fmt.Errorf("-runs: %q is not a number of runs (1-100000)", s)
		}
		c.sizes = append(c.sizes, n)
	}
	if *botEnv != "" {
		c.botEnv = strings.Split(*botEnv, ",")
	}
	// On a signal the deferred stops end the bot and the runtime too.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	dir, err := os.MkdirTemp("", "loadbench-runs-")
	if err != nil {
		return err
	}
	failed := true
	defer func() {
		if failed {
			fmt.Fprintf(out, "kept %s (the bot's logs and stores)\n", dir)
			return
		}
		os.RemoveAll(dir)
	}()
	if c.bot == "" {
		c.bot = filepath.Join(dir, "bot")
		if out, err := exec.CommandContext(ctx, "go", "build", "-o", c.bot, "./cmd/bot").CombinedOutput(); err != nil {
			return fmt.Errorf("go build ./cmd/bot (run from the repository root, or pass -bot): %v\n%s", err, out)
		}
	}
	host, _ := os.Hostname()
	fmt.Fprintf(out, "loadbench -runs: %s/%s, %d CPUs, %s; host %s; bot %s; runtime h2c %v, heartbeat %s\n\n",
		runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version(), host, c.bot, c.h2c, c.heartbeat)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "runs\tidle RSS MB\tin-flight RSS MB\tKiB/run\tpeak RSS MB\tall in flight s\tall answered s\trefused\t")
	for _, n := range c.sizes {
		m, err := measureRuns(ctx, c, dir, n)
		if err != nil {
			return fmt.Errorf("%d runs: %w", n, err)
		}
		fmt.Fprintf(tw, "%d\t%.0f\t%.0f\t%.1f\t%.0f\t%.1f\t%.1f\t%d\t\n", n, mib(m.idleRSS), mib(m.inFlightRSS),
			float64(m.inFlightRSS-m.idleRSS)/1024/float64(n), mib(m.peakRSS), m.toInFlight.Seconds(), m.toAnswered.Seconds(), m.refusals)
		tw.Flush()
	}
	failed = false
	return nil
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

type runsMeasure struct {
	idleRSS, inFlightRSS, peakRSS int64
	toInFlight, toAnswered        time.Duration
	refusals                      int
}

// measureRuns runs one size with a fresh runtime, Slack, store and bot.
func measureRuns(ctx context.Context, c runsConfig, dir string, n int) (runsMeasure, error) {
	var m runsMeasure
	rt, err := startFakeRuntime(ctx, c)
	if err != nil {
		return m, err
	}
	defer rt.stop()
	slack := slackfake.New(slackfake.WithoutRateTiers())
	defer slack.Close()

	dsn := filepath.Join(dir, fmt.Sprintf("bot-%d.db", n))
	if c.database != "" {
		schemaDSN, drop, err := freshPostgresSchema(ctx, c.database)
		if err != nil {
			return m, err
		}
		defer drop()
		dsn = schemaDSN
	}
	bot, err := startBot(ctx, c, dir, n, dsn, rt.url, slack.APIURL())
	if err != nil {
		return m, err
	}
	defer bot.stop()
	if m.idleRSS, _, err = procRSS(bot.cmd.Process.Pid); err != nil {
		return m, err
	}

	start := time.Now()
	if m.refusals, err = sendCommands(ctx, bot.url, n); err != nil {
		return m, err
	}
	deadline := time.Now().Add(c.timeout)
	for {
		open, err := rt.openStreams()
		if err != nil {
			return m, err
		}
		if open == n {
			break
		}
		if open > n || time.Now().After(deadline) {
			return m, fmt.Errorf("%d of %d run streams open (bot log: %s)", open, n, bot.logPath)
		}
		if err := bot.alive(); err != nil {
			return m, err
		}
		time.Sleep(500 * time.Millisecond)
	}
	m.toInFlight = time.Since(start)
	// Every run is followed now; a moment for the last live replies'
	// writes to settle, then the bot's memory as the OS sees it.
	time.Sleep(2 * time.Second)
	if c.hook != "" {
		hook := exec.CommandContext(ctx, "sh", "-c", c.hook)
		hook.Env = append(os.Environ(), "BOT_PID="+strconv.Itoa(bot.cmd.Process.Pid), "RUNS="+strconv.Itoa(n))
		hook.Stdout, hook.Stderr = os.Stderr, os.Stderr
		if err := hook.Run(); err != nil {
			return m, fmt.Errorf("-inflight-hook: %w", err)
		}
	}
	if m.inFlightRSS, _, err = procRSS(bot.cmd.Process.Pid); err != nil {
		return m, err
	}
	if open, err := rt.openStreams(); err != nil || open != n {
		return m, fmt.Errorf("after measuring, %d of %d streams open (%v)", open, n, err)
	}

	released := time.Now()
	if err := rt.finish(); err != nil {
		return m, err
	}
	for answered := 0; answered < n; answered = countAnswers(slack) {
		if time.Since(released) > c.timeout {
			return m, fmt.Errorf("%d of %d answers in Slack (bot log: %s)", answered, n, bot.logPath)
		}
		if err := bot.alive(); err != nil {
			return m, err
		}
		time.Sleep(500 * time.Millisecond)
	}
	m.toAnswered = time.Since(released)
	_, m.peakRSS, err = procRSS(bot.cmd.Process.Pid)
	return m, err
}

// countAnswers counts bot replies in threads that show the final answer.
func countAnswers(s *slackfake.Server) int {
	n := 0
	for _, m := range s.Messages(runsChannel) {
		if m.IsBot() && m.ThreadTS != "" && m.ThreadTS != m.TS && !m.Streaming && strings.Contains(m.Rendered, runsAnswer) {
			n++
		}
	}
	return n
}

// procRSS reads a process's resident set size and its peak (VmRSS, VmHWM).
func procRSS(pid int) (rss, peak int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, fmt.Errorf("read the bot's memory (Linux /proc only): %w", err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		name, val, ok := strings.Cut(line, ":")
		if !ok || (name != "VmRSS" && name != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(val), " kB"), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc status %s: %q", name, val)
		}
		if name == "VmRSS" {
			rss = kb * 1024
		} else {
			peak = kb * 1024
		}
	}
	return rss, peak, nil
}

// sendCommands sends n distinct signed slash commands from 32 senders, as
// many users would, until each is accepted, and counts the refusals.
func sendCommands(ctx context.Context, botURL string, n int) (refusals int, err error) {
	hc := &http.Client{Timeout: 30 * time.Second}
	var next, refused atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for range 32 {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > int64(n) || ctx.Err() != nil {
					return
				}
				body := url.Values{
					"team_id": {"TRUNSBENCH"}, "channel_id": {runsChannel}, "user_id": {"URUNSUSER1"},
					"command": {benchCommand}, "text": {"question " + strconv.FormatInt(i, 10)},
					"response_url": {"https://hooks.slack.com/commands/TRUNSBENCH/1/x"},
					"trigger_id":   {"runs." + strconv.FormatInt(i, 10)},
				}.Encode()
				for {
					err := postSigned(ctx, hc, botURL+"/slack/commands", body)
					if err == nil {
						break
					}
					if !errors.Is(err, errRefused) {
						errs <- fmt.Errorf("slash command %d: %w", i, err)
						return
					}
					// The bot could not record the command in time and said
					// so: the user tries again.
					refused.Add(1)
					time.Sleep(100 * time.Millisecond)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return int(refused.Load()), <-errs
}

// errRefused is the bot's polite refusal of a command it could not record.
var errRefused = errors.New("refused")

// postSigned posts a form body signed as Slack signs it; an ack with a
// body is the bot refusing (it could not record the command).
func postSigned(ctx context.Context, hc *http.Client, target, body string) error {
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	mac := hmac.New(sha256.New, []byte(benchSecret))
	io.WriteString(mac, "v0:"+ts+":"+body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Slack-Request-Timestamp", ts)
	req.Header.Set("X-Slack-Signature", "v0="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	reply, _ := io.ReadAll(resp.Body)
	switch {
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("status %d: %s", resp.StatusCode, reply)
	case len(strings.TrimSpace(string(reply))) > 0:
		return fmt.Errorf("%w: %s", errRefused, reply)
	}
	return nil
}

// botProcess is a running "bot serve".
type botProcess struct {
	cmd     *exec.Cmd
	url     string
	logPath string
	exited  chan struct{}
}

func startBot(ctx context.Context, c runsConfig, dir string, n int, dsn, runtimeURL, slackURL string) (*botProcess, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	b := &botProcess{
		url:     "http://127.0.0.1:" + strconv.Itoa(port),
		logPath: filepath.Join(dir, fmt.Sprintf("bot-%d.log", n)),
		exited:  make(chan struct{}),
	}
	logFile, err := os.Create(b.logPath)
	if err != nil {
		return nil, err
	}
	b.cmd = exec.Command(c.bot, "serve")
	b.cmd.Env = append(os.Environ(),
		"SLACK_SIGNING_SECRET="+benchSecret, "SLACK_BOT_TOKEN=xoxb-test", "SLACK_API_URL="+slackURL,
		"LANGSMITH_API_KEY="+runsAPIKey, "DEEPAGENTS_BASE_URL="+runtimeURL, "AGENT_ID="+runsAgent,
		"DATABASE_URL="+dsn, "PORT="+strconv.Itoa(port), "REPLICA_NAME=loadbench", "LOG_LEVEL=warn",
		// The completion webhook is not what is measured; without a
		// public URL the bot says so once in its log.
		"PUBLIC_URL=",
		// The fake Slack has no rate tiers: paced at Slack's, the runs
		// would wait for their posts (one a second in the one channel),
		// and what is measured is what following them costs.
		"SLACK_TIER_SCALE=0")
	if c.h2c {
		b.cmd.Env = append(b.cmd.Env, "DEEPAGENTS_H2C=true")
	}
	b.cmd.Env = append(b.cmd.Env, c.botEnv...)
	b.cmd.Stdout, b.cmd.Stderr = logFile, logFile
	if err := b.cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start the bot: %w", err)
	}
	go func() {
		_ = b.cmd.Wait()
		logFile.Close()
		close(b.exited)
	}()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if err := b.alive(); err != nil {
			return nil, err
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, b.url+"/readyz", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return b, nil
			}
		}
		if time.Now().After(deadline) {
			b.stop()
			return nil, fmt.Errorf("the bot was not ready within 30s (log: %s)", b.logPath)
		}
	}
}

// alive reports an error once the bot has exited.
func (b *botProcess) alive() error {
	select {
	case <-b.exited:
		return fmt.Errorf("the bot exited (%v); log: %s", b.cmd.ProcessState, b.logPath)
	default:
		return nil
	}
}

// stop ends the bot as an orchestrator would: SIGTERM, then SIGKILL.
func (b *botProcess) stop() {
	_ = b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.exited:
	case <-time.After(30 * time.Second):
		_ = b.cmd.Process.Kill()
		<-b.exited
	}
}

// fakeRuntime is the runtime process, driven by lines on its stdin.
type fakeRuntime struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines *bufio.Scanner
	url   string
}

func startFakeRuntime(ctx context.Context, c runsConfig) (*fakeRuntime, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, self, "-serve-runtime", "-h2c="+strconv.FormatBool(c.h2c), "-heartbeat="+c.heartbeat.String())
	stdin, stdout, err := startPiped(cmd, "the fake runtime")
	if err != nil {
		return nil, err
	}
	rt := &fakeRuntime{cmd: cmd, stdin: stdin, lines: bufio.NewScanner(stdout)}
	line, err := rt.read()
	if err != nil {
		rt.stop()
		return nil, err
	}
	rt.url, _ = strings.CutPrefix(line, "listening ")
	return rt, nil
}

func (rt *fakeRuntime) read() (string, error) {
	if !rt.lines.Scan() {
		return "", fmt.Errorf("the fake runtime stopped answering: %v", rt.lines.Err())
	}
	return rt.lines.Text(), nil
}

// ask sends a command line and reads its one-line answer.
func (rt *fakeRuntime) ask(cmd string) (string, error) {
	if _, err := io.WriteString(rt.stdin, cmd+"\n"); err != nil {
		return "", fmt.Errorf("fake runtime: %w", err)
	}
	return rt.read()
}

func (rt *fakeRuntime) openStreams() (int, error) {
	line, err := rt.ask("streams")
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimPrefix(line, "streams "))
}

func (rt *fakeRuntime) finish() error {
	_, err := rt.ask("finish")
	return err
}

func (rt *fakeRuntime) stop() {
	rt.stdin.Close()
	_ = rt.cmd.Wait()
}

// serveRuntime is the fake runtime process: it holds every run (its stream
// open, heartbeats only) until "finish", then answers them all. Commands
// on stdin, one answer line each on stdout: "streams" (open run streams),
// "finish". EOF stops it.
func serveRuntime(h2c bool, heartbeat time.Duration) error {
	opts := []agentstest.Option{agentstest.WithHeartbeatInterval(heartbeat)}
	if h2c {
		opts = append(opts, agentstest.WithH2C())
	}
	srv := agentstest.NewServer(opts...)
	release := make(chan struct{})
	srv.AddAgent(runsAgent, func(agentstest.Turn) []agentstest.Step {
		<-release
		return []agentstest.Step{agentstest.Text(runsAnswer)}
	})
	fmt.Println("listening " + srv.URL)
	released := false
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		switch in.Text() {
		case "streams":
			fmt.Printf("streams %d\n", srv.OpenStreams())
		case "finish":
			if !released {
				close(release)
				released = true
			}
			fmt.Println("finishing")
		default:
			fmt.Println("unknown command")
		}
	}
	if !released {
		close(release) // Close waits for the runs
	}
	srv.Close()
	return errors.Join(in.Err())
}
