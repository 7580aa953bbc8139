package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/deepagents-slack/slackbot/internal/relay"
)

const (
	defaultTestRunTimeout = 5 * time.Minute
	maxTestRunTimeout     = 24 * time.Hour
)

// testRunRequest is a test run asked for by an ops pipeline.
type testRunRequest struct {
	Channel string
	Agent   string // optional: overrides the channel's agent
	Prompt  string
	Timeout time.Duration
}

func (r testRunRequest) validate() error {
	var problems []string
	if !channelID.MatchString(r.Channel) {
		problems = append(problems, fmt.Sprintf("channel %q is not a Slack channel id (C…)", r.Channel))
	}
	if r.Agent != "" && !agentID.MatchString(r.Agent) {
		problems = append(problems, fmt.Sprintf("agent %q is not a valid agent id", r.Agent))
	}
	if strings.TrimSpace(r.Prompt) == "" {
		problems = append(problems, "the prompt is empty")
	}
	if r.Timeout <= 0 || r.Timeout > maxTestRunTimeout {
		problems = append(problems, fmt.Sprintf("timeout %s must be between 1s and %s", r.Timeout, maxTestRunTimeout))
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// testRunOutput is what `bot test-run --json` prints and POST
// /ops/test-runs answers.
type testRunOutput struct {
	Status    string `json:"status"` // success, error, paused, timeout or interrupted
	ThreadID  string `json:"thread_id"`
	RunID     string `json:"run_id"`
	Answer    string `json:"answer"`
	Error     string `json:"error,omitempty"`
	Permalink string `json:"permalink"`
	Channel   string `json:"channel"`
	ThreadTS  string `json:"thread_ts"`
}

// testRun posts a test run into the channel, exactly as `/agent test`
// would, and follows it until it ends or the timeout passes. The run is
// worked by this process unless a replica of the service leased it first
// (see relay.FollowTestRun).
func (s *service) testRun(ctx context.Context, req testRunRequest, origin string) (testRunOutput, error) {
	ticket, err := s.relay.StartTestRun(ctx, relay.TestRun{
		TeamID:    s.auth.TeamID,
		ChannelID: req.Channel,
		AgentID:   req.Agent,
		Text:      req.Prompt,
		StartedBy: s.auth.UserID,
		Origin:    origin,
	})
	if err != nil {
		return testRunOutput{}, err
	}
	wctx, cancel := context.WithTimeout(ctx, req.Timeout)
	defer cancel()
	res, err := s.relay.FollowTestRun(wctx, ticket)
	if err != nil {
		return testRunOutput{}, err
	}
	return testRunOutput{
		Status:    res.Status,
		ThreadID:  res.ThreadID,
		RunID:     res.RunID,
		Answer:    res.Answer,
		Error:     res.Error,
		Permalink: permalink(s.auth.URL, res.ChannelID, res.RootTS),
		Channel:   res.ChannelID,
		ThreadTS:  res.RootTS,
	}, nil
}

// permalink is a message's link as Slack's "Copy link" shows it:
// <workspace URL>/archives/<channel>/p<ts without its dot>. The workspace
// URL comes from auth.test, so no extra API call is needed.
func permalink(workspaceURL, channel, ts string) string {
	if workspaceURL == "" || channel == "" || ts == "" {
		return ""
	}
	return strings.TrimRight(workspaceURL, "/") + "/archives/" + channel + "/p" + strings.Replace(ts, ".", "", 1)
}

const testRunUsage = `usage: bot test-run --channel C… [--agent ID] [--timeout 5m] [--json] [-v] "prompt"

Posts a test run (test_run: true) into the channel as "/agent test" would,
waits for it to end and prints the answer (or, with --json, the thread id,
run id, status, answer and permalink). Exits non-zero when the run fails,
pauses for an approval or does not end within the timeout. It uses the
service's configuration (the same environment) and store.`

// testRunCmd is `bot test-run`.
func testRunCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("test-run", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var req testRunRequest
	var asJSON, verbose bool
	fs.StringVar(&req.Channel, "channel", "", "channel id to post the test run in (required)")
	fs.StringVar(&req.Agent, "agent", "", "agent id (default: the channel's agent)")
	fs.DurationVar(&req.Timeout, "timeout", defaultTestRunTimeout, "how long to wait for the run to end")
	fs.BoolVar(&asJSON, "json", false, "print the result as JSON")
	fs.BoolVar(&verbose, "v", false, "log what the bot does on stderr")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stdout, testRunUsage)
			return nil
		}
		return fmt.Errorf("test-run: %w\n%s", err, testRunUsage)
	}
	req.Prompt = strings.Join(fs.Args(), " ")
	if err := req.validate(); err != nil {
		return fmt.Errorf("test-run: %w\n%s", err, testRunUsage)
	}
	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	// Its own lease owner, even when it shares REPLICA_NAME with a service.
	cfg.ReplicaName += "/test-run"
	// It serves no HTTP, so it must not take the service's metrics port.
	cfg.MetricsAddr = ""
	level := "warn"
	if verbose {
		level = cfg.LogLevel
	}
	svc, err := newService(ctx, cfg, newLogger(stderr, level))
	if err != nil {
		return err
	}
	defer svc.store.Close()
	defer svc.drainBackground(ctx) // before the store closes

	out, err := svc.testRun(ctx, req, "`bot test-run`")
	if err != nil {
		return fmt.Errorf("test-run: %w", err)
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return err
		}
	} else if out.Status == relay.TestRunSuccess {
		fmt.Fprintln(stdout, out.Answer)
	}
	if out.Status != relay.TestRunSuccess {
		return fmt.Errorf("test run %s: %s (thread: %s)", out.Status, out.Error, out.Permalink)
	}
	return nil
}
