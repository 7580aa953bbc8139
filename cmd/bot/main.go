// Command bot runs LangSmith Managed Deep Agents in Slack.
//
//	bot            serve (same as "bot serve")
//	bot serve      run the service, configured by the environment
//	bot demo [-v]  run the whole service against a simulated Slack and agent runtime
//	bot settings   print every setting with its default
//	bot test-run   post a test run into a channel and wait for its answer (for ops pipelines)
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bot:", err)
		os.Exit(1)
	}
}

var errUsage = errors.New("usage: bot [serve|demo|settings|test-run]")

// run is the whole program, minus process plumbing, so tests can drive it.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	cmd := "serve"
	if len(args) > 0 {
		cmd = args[0]
	}
	switch cmd {
	case "serve":
		cfg, err := loadConfig(getenv)
		if err != nil {
			return err
		}
		return serve(ctx, cfg, stdout)
	case "demo":
		return demo(ctx, stdout, args[1:])
	case "settings":
		return printSettings(stdout)
	case "test-run":
		// Its logs go to stderr: stdout is the answer.
		return testRunCmd(ctx, args[1:], getenv, stdout, os.Stderr)
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, errUsage.Error())
		return nil
	}
	return fmt.Errorf("unknown command %q; %w", cmd, errUsage)
}
