package main

import (
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deepagents-slack/slackbot"
	"github.com/deepagents-slack/slackbot/internal/agents/agentstest"
	"github.com/deepagents-slack/slackbot/internal/bottest"
)

// Fault tests of the run start: what comes before it (POST /threads, GET
// /threads/{id}), the start itself and its stream's first event.

// TestRuntimeDownAtRunStartIsRetried: the runtime drops every connection
// when the message arrives, so POST /threads fails before any run start
// is sent. That start provably did not happen: the job is tried again
// after a backoff (not failed at once), and once the runtime is back the
// answer arrives once. No reply ever shows the runtime's address.
func TestRuntimeDownAtRunStartIsRetried(t *testing.T) {
	stores(t, func(t *testing.T, useDB func(*Config)) {
		e := newTestEnv(t, answerWith(0), func(c *Config) {
			useDB(c)
			c.retryBase = 300 * time.Millisecond // room to bring the runtime back
		}, nil)
		f := e.World
		e.Runtime.SetDown(true)
		cv := e.askStuck(chGeneral, "q-down")
		e.waitUntilDone("a second attempt, or the job's end", func() bool {
			j := e.ledgerJob(chGeneral, cv.root)
			return j.Attempts >= 2 || j.Final()
		})
		if j := e.ledgerJob(chGeneral, cv.root); j.Final() {
			t.Fatalf("job %s after %d attempt(s) with the runtime down; want it retried\n%s", j.State, j.Attempts, e.Slack.Transcript(chGeneral))
		}
		e.Runtime.SetDown(false)
		e.waitUntilDone("the job is done", func() bool { return e.ledgerJob(chGeneral, cv.root).Final() })
		e.waitReplies(chGeneral, cv.root, 1)
		checkExactlyOnce(t, f, chGeneral, []conversation{cv})
		if j := e.ledgerJob(chGeneral, cv.root); j.State != slackbot.JobDone {
			t.Errorf("job = %s; want done", j.State)
		}
		if got := e.Slack.Transcript(chGeneral); strings.Contains(got, "127.0.0.1") || strings.Contains(got, "http://") {
			t.Errorf("the thread shows the runtime's address:\n%s", got)
		}
	})
}

// TestRuntimeDownAtRunStartGivesUp: the runtime stays down. The job ends
// after its last attempt, and the thread says the runtime could not be
// reached, without its address.
func TestRuntimeDownAtRunStartGivesUp(t *testing.T) {
	e := newTestEnv(t, answerWith(0), nil, nil)
	e.Runtime.SetDown(true)
	cv := e.askStuck(chGeneral, "q-down-for-good")
	e.waitUntilDone("the job ends", func() bool { return e.ledgerJob(chGeneral, cv.root).Final() })
	if j := e.ledgerJob(chGeneral, cv.root); j.State != slackbot.JobFailed || j.Attempts < 8 {
		t.Errorf("job = %s after %d attempts; want failed after the last (8)", j.State, j.Attempts)
	}
	got := bottest.AnswerText(e.Slack, chGeneral, cv.root)
	if !strings.Contains(got, "couldn't reach the agent runtime") {
		t.Errorf("the thread does not say the runtime was unreachable:\n%s", e.Slack.Transcript(chGeneral))
	}
	if strings.Contains(got, "127.0.0.1") || strings.Contains(got, "http://") {
		t.Errorf("the thread shows the runtime's address: %q", got)
	}
}

// TestShutdownBeforeRunStartOnManagedSurface: the service stops while its
// POST /threads for a follow-up is under way, before the run start is
// sent. On a runtime without a run list the thread is idle afterwards, so
// a job left "starting" could not be proven unstarted: the follow-up would
// be lost. Nothing was sent, so the job is "accepted" again and the next
// service answers it.
func TestShutdownBeforeRunStartOnManagedSurface(t *testing.T) {
	first := startEnv(t, envSetup{script: answerWith(0)})
	runtime, slack, f := first.Runtime, first.Slack, first.World
	cv := first.askStuck(chGeneral, "q-first")
	first.waitReplies(chGeneral, cv.root, 1)

	release := make(chan struct{})
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	runtime.HoldThreadCreates(release)
	creates := func() int {
		n := 0
		for _, r := range runtime.Requests() {
			if r.Path == "/threads" {
				n++
			}
		}
		return n
	}
	before := creates()
	ts := first.replyStuck(chGeneral, cv.root, "q-follow")
	first.waitUntilDone("the follow-up's POST /threads", func() bool { return creates() > before })
	first.stop()
	once.Do(func() { close(release) })

	second := first
	second.start() // on the same store, Slack and runtime
	follow := conversation{root: cv.root, text: "q-follow"}
	second.waitUntilDone("the follow-up ends", func() bool { return second.ledgerJob(chGeneral, ts).Final() })
	if n, _ := answerCount(f, chGeneral, follow); n != 1 {
		t.Errorf("the follow-up got %d answers; want 1\n%s", n, slack.Transcript(chGeneral))
	}
	if got := bottest.AnswerText(slack, chGeneral, cv.root); strings.Contains(got, "check whether it started") {
		t.Errorf("the bot said it cannot tell whether a run it never sent started:\n%s", slack.Transcript(chGeneral))
	}
	if n := len(runtime.Runs()); n != 2 {
		t.Errorf("%d runs; want 2", n)
	}
}

// TestSilentRunStartStream: on the documented surface (no Content-Location,
// so the run id is in the first event) the run start's stream answers 200
// and then stays silent, keep-alives included. The idle watchdog drops it
// and the run is followed through the completion webhook: with PUBLIC_URL
// the answer arrives once; without, the user is told plainly where it is.
func TestSilentRunStartStream(t *testing.T) {
	for _, withURL := range []bool{true, false} {
		t.Run("PUBLIC_URL="+strconv.FormatBool(withURL), func(t *testing.T) {
			e := startEnv(t, envSetup{
				script:      answerWith(0),
				configure:   func(c *Config) { c.StreamIdleTimeout = 500 * time.Millisecond },
				runtimeOpts: []agentstest.Option{agentstest.WithSurface(agentstest.ManagedDocumented)},
				webhook:     withURL,
			})
			e.Runtime.WithholdRunStartEvents(false)
			cv := e.askStuck(chGeneral, "q-silent-start")
			e.waitUntilDone("the job ends", func() bool { return e.ledgerJob(chGeneral, cv.root).Final() })
			if n := len(e.Runtime.Runs()); n != 1 {
				t.Errorf("%d runs; want 1", n)
			}
			if withURL {
				checkExactlyOnce(t, e.World, chGeneral, []conversation{cv})
				return
			}
			got := bottest.AnswerText(e.Slack, chGeneral, cv.root)
			for _, want := range []string{"couldn't read its answer", "PUBLIC_URL"} {
				if !strings.Contains(got, want) {
					t.Errorf("thread says %q; want it to mention %q", got, want)
				}
			}
		})
	}
}

// TestKeepAliveOnlyRunStartStream: the run start's stream sends nothing but
// keep-alives, so the idle watchdog sees a live stream; MAX_RUN_AGE, which
// counts from the start request, still ends the job and tells the user.
func TestKeepAliveOnlyRunStartStream(t *testing.T) {
	e := newTestEnv(t, answerWith(0), func(c *Config) {
		c.StreamIdleTimeout = 500 * time.Millisecond
		c.MaxRunAge = 2 * time.Second
	}, []agentstest.Option{agentstest.WithSurface(agentstest.ManagedDocumented)})
	e.Runtime.WithholdRunStartEvents(true)
	cv := e.askStuck(chGeneral, "q-keepalive-start")
	e.waitUntilDone("the job ends", func() bool { return e.ledgerJob(chGeneral, cv.root).Final() })
	if got := bottest.AnswerText(e.Slack, chGeneral, cv.root); !strings.Contains(got, "stopped waiting") {
		t.Errorf("the thread does not say the bot stopped waiting:\n%s", e.Slack.Transcript(chGeneral))
	}
	if n := len(e.Runtime.Runs()); n != 1 {
		t.Errorf("%d runs; want 1", n)
	}
}
