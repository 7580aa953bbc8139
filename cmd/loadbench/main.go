// Command loadbench measures how fast the bot acks Slack: distinct signed
// slash commands and app_mention events against the bot's ack path with its
// real store, next to a bare net/http + HMAC handler measured in the same
// run (the ceiling of this machine), reported as throughput, p50/p99 and the
// ratio to the ceiling. Everything runs on loopback; each server is its own
// process (this binary re-executed), the load comes from this one.
//
//	go run ./cmd/loadbench -duration 10s -conns 16
//	go run ./cmd/loadbench -database 'postgres://postgres@127.0.0.1:5432/test?sslmode=disable'
//
// With -runs first it measures instead the memory of following many agent
// runs at once (see runs.go):
//
//	go run ./cmd/loadbench -runs 500,2000,10000
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "loadbench:", err)
		os.Exit(1)
	}
}

type config struct {
	duration, warmup time.Duration
	conns, maxReqs   int
	database         string
	paths            []Path
	bolt             string // path to a Bolt JS ack server script, optional
	cpuProfile       string
}

func run(args []string, out io.Writer) error {
	if len(args) > 0 && (strings.HasPrefix(args[0], "-runs") || strings.HasPrefix(args[0], "--runs")) {
		return runsMain(args, out)
	}
	if len(args) > 0 && args[0] == "-serve-runtime" {
		fs := flag.NewFlagSet("loadbench -serve-runtime", flag.ContinueOnError)
		fs.Bool("serve-runtime", true, "internal: run as the fake runtime of -runs")
		h2c := fs.Bool("h2c", true, "")
		heartbeat := fs.Duration("heartbeat", 10*time.Second, "")
		if err := fs.Parse(args); err != nil {
			return err
		}
		return serveRuntime(*h2c, *heartbeat)
	}
	fs := flag.NewFlagSet("loadbench", flag.ContinueOnError)
	var c config
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "measured time per server and path (max 2m)")
	fs.DurationVar(&c.warmup, "warmup", time.Second, "unmeasured load before each measurement")
	fs.IntVar(&c.conns, "conns", 16, "concurrent keep-alive connections, one request in flight on each")
	fs.IntVar(&c.maxReqs, "max-requests", 2_000_000, "cap on requests per server and path, warmup included (0 = none)")
	fs.StringVar(&c.database, "database", "", "store for the bot: empty = SQLite in a temp dir; postgres://… = a fresh schema there, dropped afterwards")
	paths := fs.String("paths", "commands,events", "comma-separated: commands, events")
	fs.StringVar(&c.bolt, "bolt", "", "optional: Bolt JS ack-only app to measure too, e.g. cmd/loadbench/bolt/app.js after npm install --prefix cmd/loadbench/bolt (needs node)")
	fs.StringVar(&c.cpuProfile, "cpuprofile", "", "write the bot server's CPU profile to this file")
	serve := fs.String("serve", "", "internal: run as the server process (bot or bare)")
	logPath := fs.String("log", "", "internal: the bot's log file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *serve != "" {
		return serveChild(*serve, c.database, *logPath, c.cpuProfile)
	}
	if c.duration <= 0 || c.duration > 2*time.Minute || c.conns < 1 || c.conns > 512 || c.warmup < 0 || c.warmup > time.Minute {
		return errors.New("need 0 < -duration ≤ 2m, 0 ≤ -warmup ≤ 1m, 1 ≤ -conns ≤ 512")
	}
	for _, p := range strings.Split(*paths, ",") {
		switch Path(strings.TrimSpace(p)) {
		case PathCommand, PathEvent:
			c.paths = append(c.paths, Path(strings.TrimSpace(p)))
		default:
			return fmt.Errorf("unknown path %q (want commands or events)", p)
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	dir, err := os.MkdirTemp("", "loadbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	store := "SQLite (" + filepath.Join(dir, "bot.db") + ")"
	dsn := filepath.Join(dir, "bot.db")
	if c.database != "" {
		schemaDSN, drop, err := freshPostgresSchema(ctx, c.database)
		if err != nil {
			return err
		}
		defer drop()
		store, dsn = "PostgreSQL", schemaDSN
	}

	host, _ := os.Hostname()
	fmt.Fprintf(out, "loadbench: %s/%s, %d CPUs (GOMAXPROCS %d), %s; host %s\n",
		runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version(), host)
	fmt.Fprintf(out, "%d connections, %s warmup + %s measured per server and path, every request distinct and signed; bot store: %s\n\n",
		c.conns, c.warmup, c.duration, store)

	type row struct {
		server string
		path   Path
		res    Result
	}
	var rows []row
	nonce := strings.ToUpper(rand.Text()[:8])
	servers := []string{"bare", "bot"}
	if c.bolt != "" {
		servers = append(servers, "bolt")
	}
	for _, server := range servers {
		proc, err := startServer(ctx, server, dsn, dir, c.bolt, c.cpuProfile)
		if err != nil {
			return err
		}
		for _, p := range c.paths {
			res, err := runLoad(ctx, loadOptions{addr: proc.addr, path: p, nonce: nonce + string(p[0]),
				conns: c.conns, warmup: c.warmup, duration: c.duration, maxReqs: c.maxReqs})
			if err != nil {
				proc.stop()
				return fmt.Errorf("%s %s: %w", server, p, err)
			}
			rows = append(rows, row{server, p, res})
		}
		if err := proc.stop(); err != nil {
			return fmt.Errorf("%s: %w", server, err)
		}
		if server == "bot" {
			for _, p := range c.paths {
				n, err := countRecorded(context.Background(), dsn, nonce+string(p[0]))
				if err != nil {
					return fmt.Errorf("count recorded work: %w", err)
				}
				for i := range rows {
					if rows[i].server == "bot" && rows[i].path == p {
						// Warmup requests were recorded too: at least every
						// measured ack must be.
						if n < rows[i].res.OK {
							return fmt.Errorf("bot %s: %d acks but only %d jobs recorded", p, rows[i].res.OK, n)
						}
					}
				}
			}
		}
	}

	ceiling, bolt := map[Path]float64{}, map[Path]float64{}
	for _, r := range rows {
		switch r.server {
		case "bare":
			ceiling[r.path] = r.res.Throughput()
		case "bolt":
			bolt[r.path] = r.res.Throughput()
		}
	}
	names := map[string]string{
		"bare": "net/http + HMAC (ceiling)",
		"bot":  "bot, " + strings.SplitN(store, " ", 2)[0],
		"bolt": "Bolt JS (ack only)",
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "server\tpath\tacks/s\tp50 ms\tp99 ms\tof ceiling\tx Bolt\tfailed\t")
	for _, r := range rows {
		vsBolt := "-"
		if b := bolt[r.path]; b > 0 {
			vsBolt = fmt.Sprintf("%.2f", r.res.Throughput()/b)
		}
		fmt.Fprintf(tw, "%s\t%s\t%.0f\t%.2f\t%.2f\t%.1f%%\t%s\t%d\t\n", names[r.server], r.path, r.res.Throughput(),
			ms(r.res.P50), ms(r.res.P99), 100*r.res.Throughput()/ceiling[r.path], vsBolt, r.res.Failed)
	}
	tw.Flush()
	for _, r := range rows {
		if r.res.FirstError != "" {
			fmt.Fprintf(out, "%s %s: first error: %s\n", r.server, r.path, r.res.FirstError)
		}
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// server is a running server process.
type server struct {
	cmd   *exec.Cmd
	stdin io.Closer
	addr  string
}

// startServer starts kind in its own process and waits for its address.
func startServer(ctx context.Context, kind, dsn, dir, boltScript, cpuProfile string) (*server, error) {
	var cmd *exec.Cmd
	if kind == "bolt" {
		cmd = exec.CommandContext(ctx, "node", boltScript)
		cmd.Env = append(os.Environ(), "SLACK_SIGNING_SECRET="+benchSecret, "SLACK_BOT_TOKEN=xoxb-loadbench")
	} else {
		self, err := os.Executable()
		if err != nil {
			return nil, err
		}
		args := []string{"-serve", kind, "-database", dsn, "-log", filepath.Join(dir, kind+".log")}
		if kind == "bot" && cpuProfile != "" {
			args = append(args, "-cpuprofile", cpuProfile)
		}
		cmd = exec.CommandContext(ctx, self, args...)
	}
	stdin, stdout, err := startPiped(cmd, kind+" server")
	if err != nil {
		return nil, err
	}
	lines := bufio.NewScanner(stdout)
	addrCh := make(chan string, 1)
	go func() {
		defer close(addrCh)
		for lines.Scan() {
			if addr, ok := strings.CutPrefix(lines.Text(), "listening "); ok {
				addrCh <- addr
				break
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	select {
	case addr, ok := <-addrCh:
		if ok {
			return &server{cmd: cmd, stdin: stdin, addr: addr}, nil
		}
	case <-time.After(30 * time.Second):
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	return nil, fmt.Errorf("%s server did not start", kind)
}

// startPiped starts cmd with its stdin and stdout piped to the caller and
// its stderr on loadbench's own.
func startPiped(cmd *exec.Cmd, what string) (io.WriteCloser, io.ReadCloser, error) {
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("start %s: %w", what, err)
	}
	return stdin, stdout, nil
}

// stop asks the server to exit (stdin closed, then SIGINT) and waits.
func (s *server) stop() error {
	s.stdin.Close()
	_ = s.cmd.Process.Signal(os.Interrupt)
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case err := <-done:
		var exit *exec.ExitError
		if errors.As(err, &exit) && !exit.Exited() {
			return nil // ended by our signal
		}
		return err
	case <-time.After(15 * time.Second):
		_ = s.cmd.Process.Kill()
		return errors.New("server did not stop; killed")
	}
}
