package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deepagents-slack/slackbot"
	"github.com/deepagents-slack/slackbot/internal/agents"
	"github.com/deepagents-slack/slackbot/internal/agents/agentstest"
	"github.com/deepagents-slack/slackbot/internal/bottest"
	"github.com/deepagents-slack/slackbot/internal/slackpost/slackfake"
	"github.com/deepagents-slack/slackbot/internal/threadmap"
)

// The fault tests of "nothing stuck, nothing lost": every job ends, an
// ambiguous run start is followed rather than failed or repeated, a lease
// belongs to one worker, silent streams and skewed clocks stall nothing.

// stores are the databases a fault test runs on: SQLite always,
// PostgreSQL when TEST_DATABASE_URL is set.
func stores(t *testing.T, test func(t *testing.T, useDB func(*Config))) {
	t.Run("sqlite", func(t *testing.T) { test(t, func(*Config) {}) })
	t.Run("postgres", func(t *testing.T) {
		dsn := postgresSchemaDSN(t)
		test(t, func(c *Config) { c.DatabaseURL = dsn })
	})
}

// askStuck delivers a new top-level mention in channel and returns it.
func (e *testEnv) askStuck(channel, text string) conversation {
	e.t.Helper()
	full := "<@" + e.Slack.BotUserID() + "> " + text
	ts := e.Slack.UserMessage(channel, userAnna, full, "")
	ev := map[string]any{"type": "app_mention", "channel": channel, "user": userAnna, "text": full, "ts": ts, "event_ts": ts}
	cv := conversation{root: ts, text: text, eventID: fmt.Sprintf("Ev-%s-%d", channel, e.NextID()), event: ev}
	if code, err := e.Event(cv.eventID, ev, 0); err != nil || code != http.StatusOK {
		e.t.Fatalf("event: %d %v", code, err)
	}
	return cv
}

// replyStuck delivers a user's reply in an existing conversation's thread.
func (e *testEnv) replyStuck(channel, root, text string) string {
	e.t.Helper()
	ev := e.UserSays(userAnna, channel, "channel", text, root)
	if code, err := e.Event(fmt.Sprintf("Ev-reply-%d", e.NextID()), ev, 0); err != nil || code != http.StatusOK {
		e.t.Fatalf("event: %d %v", code, err)
	}
	return ev["ts"].(string)
}

func (e *testEnv) ledgerJob(channel, ts string) slackbot.Job {
	e.t.Helper()
	j, err := e.svc.store.Job(e.ctx(), "msg:"+channel+":"+ts)
	if err != nil {
		e.t.Fatalf("job of %s/%s: %v", channel, ts, err)
	}
	return j
}

func (e *testEnv) metricOf(name string, labels ...string) float64 {
	e.t.Helper()
	resp, err := http.Get(e.URL + "/metrics")
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	v, err := bottest.MetricValue(string(body), name, labels...)
	if err != nil {
		e.t.Fatal(err)
	}
	return v
}

// metricNow is the metric's value, or -1 while it is not exposed.
func (e *testEnv) metricNow(name string, labels ...string) float64 {
	resp, err := http.Get(e.URL + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	v, err := bottest.MetricValue(string(body), name, labels...)
	if err != nil {
		return -1
	}
	return v
}

func (e *testEnv) waitUntilDone(what string, cond func() bool) {
	e.t.Helper()
	if err := bottest.Wait(e.ctx(), cond); err != nil {
		e.t.Fatalf("%s: %v\n%s", what, err, e.Slack.Transcript(chGeneral))
	}
}

// TestArchivedChannelMidRunEndsTheJob: the channel is archived while the
// run is going. Slack refuses every write there with is_archived, a
// permanent error: the job ends on its first attempt, counted as given up
// (nobody can be told in an archived channel), and a message in another
// channel is served as usual.
func TestArchivedChannelMidRunEndsTheJob(t *testing.T) {
	stores(t, func(t *testing.T, useDB func(*Config)) {
		e := newTestEnv(t, answerWith(time.Second), useDB, nil)
		cv := e.askStuck(chGeneral, "q-archived")
		e.waitUntilDone("run start", func() bool { return e.Runtime.RunsStarted() == 1 })
		e.Slack.Archived(chGeneral)

		e.waitUntilDone("the job ends", func() bool { return e.ledgerJob(chGeneral, cv.root).Final() })
		j := e.ledgerJob(chGeneral, cv.root)
		if j.State != slackbot.JobFailed || j.Attempts != 1 {
			t.Errorf("job = %s after %d attempts; want failed on the first", j.State, j.Attempts)
		}
		if !strings.Contains(j.Error, "is_archived") {
			t.Errorf("job error %q does not name is_archived", j.Error)
		}
		e.waitUntilDone("the job is counted as given up, told nowhere", func() bool {
			return e.metricNow("slackbot_jobs_gave_up_total", `reason="permanent"`, `told="none"`) == 1
		})

		other := e.askStuck(chOther, "q-elsewhere")
		e.waitReplies(chOther, other.root, 1)
		if n, _ := answerCount(e.World, chOther, other); n != 1 {
			t.Errorf("the next conversation got %d answers; want 1\n%s", n, e.Slack.Transcript(chOther))
		}
	})
}

// TestArchivedChannelMidRunToldViaResponseURL: the same for a conversation
// started with the slash command: the thread is closed, but the command's
// response_url still reaches the person who asked.
func TestArchivedChannelMidRunToldViaResponseURL(t *testing.T) {
	e := newTestEnv(t, answerWith(time.Second), nil, nil)
	e.slash(userAnna, chGeneral, "q-archived-command")
	e.waitUntilDone("run start", func() bool { return e.Runtime.RunsStarted() == 1 })
	e.Slack.Archived(chGeneral)
	e.waitUntilDone("the user is told", func() bool {
		for _, m := range e.Slack.Ephemerals() {
			if m.User == userAnna && m.ResponseID != "" && strings.Contains(m.Text, "archived") {
				return true
			}
		}
		return false
	})
	e.waitUntilDone("the job is counted as given up, told via response_url", func() bool {
		return e.metricNow("slackbot_jobs_gave_up_total", `reason="permanent"`, `told="response_url"`) == 1
	})
}

// TestRefusedAnswerToldInThread: Slack refuses every update of the bot's
// reply with msg_too_long. The job ends on its first attempt and the user
// learns why in a new message in the thread.
func TestRefusedAnswerToldInThread(t *testing.T) {
	e := newTestEnv(t, answerWith(0), nil, nil, slackfake.WithoutStreaming())
	for range 50 {
		e.Slack.FailNext("chat.update", "msg_too_long")
	}
	cv := e.askStuck(chGeneral, "q-refused")
	e.waitUntilDone("the job ends", func() bool { return e.ledgerJob(chGeneral, cv.root).Final() })
	if j := e.ledgerJob(chGeneral, cv.root); j.State != slackbot.JobFailed || j.Attempts != 1 {
		t.Fatalf("job = %s after %d attempts; want failed on the first", j.State, j.Attempts)
	}
	if !strings.Contains(bottest.AnswerText(e.Slack, chGeneral, cv.root), "msg_too_long") {
		t.Errorf("the thread does not say Slack refused the reply:\n%s", e.Slack.Transcript(chGeneral))
	}
	e.waitUntilDone("the job is counted as given up, told in the thread", func() bool {
		return e.metricNow("slackbot_jobs_gave_up_total", `reason="permanent"`, `told="thread"`) == 1
	})
}

// TestRefusedApprovalCardEndsTheJob: Slack refuses the approval card
// (invalid_blocks). Retrying cannot fix the card, so the job ends on its
// first attempt and the thread says why, instead of the run waiting for a
// decision nobody can make.
func TestRefusedApprovalCardEndsTheJob(t *testing.T) {
	e := newTestEnv(t, rememberTea(), nil, nil)
	e.Slack.FailNext("chat.postMessage", "invalid_blocks")
	cv := e.askStuck(chGeneral, "remember the tea")
	e.waitUntilDone("the job ends", func() bool { return e.ledgerJob(chGeneral, cv.root).Final() })
	if j := e.ledgerJob(chGeneral, cv.root); j.State != slackbot.JobFailed || j.Attempts != 1 {
		t.Fatalf("job = %s after %d attempts; want failed on the first", j.State, j.Attempts)
	}
	if got := bottest.AnswerText(e.Slack, chGeneral, cv.root); !strings.Contains(got, "invalid_blocks") {
		t.Errorf("the thread does not say Slack refused the card:\n%s", e.Slack.Transcript(chGeneral))
	}
}

// TestDroppedRunStartAnswerIsFollowed: the runtime (an Agent Server) starts
// the run and the connection drops before its answer. The job stays
// "starting", the next attempt finds the run in the thread's run list by
// its slack_message_ts and follows it: the answer arrives once and one run
// exists.
func TestDroppedRunStartAnswerIsFollowed(t *testing.T) {
	stores(t, func(t *testing.T, useDB func(*Config)) {
		e := newTestEnv(t, answerWith(300*time.Millisecond), func(c *Config) {
			useDB(c)
			c.Runtime = agents.AgentServer
		}, []agentstest.Option{agentstest.WithSurface(agentstest.AgentServer)})
		f := e.World
		e.Runtime.DropRunStartAnswers(1)
		cv := e.askStuck(chGeneral, "q-dropped")
		e.waitReplies(chGeneral, cv.root, 1)
		if answers, others := answerCount(f, chGeneral, cv); answers != 1 || others != 0 {
			t.Errorf("%d answers and %d other replies; want the answer once\n%s", answers, others, e.Slack.Transcript(chGeneral))
		}
		if n := len(e.Runtime.Runs()); n != 1 {
			t.Errorf("%d runs exist; want 1", n)
		}
		if j := e.ledgerJob(chGeneral, cv.root); j.State != slackbot.JobDone || j.Attempts != 2 {
			t.Errorf("job = %s after %d attempts; want done on the second", j.State, j.Attempts)
		}
	})
}

// TestDroppedRunStartOnManagedSurface: the same on a runtime that cannot
// list a thread's runs (the Managed Deep Agents API, here proxying run
// joins). While the run is going its busy thread proves it started, so it
// is followed to its answer. (Had the run already ended, nothing could
// prove it ran: the bot would say so rather than risk running the prompt
// twice.)
func TestDroppedRunStartOnManagedSurface(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	e := newTestEnv(t, func(turn agentstest.Turn) []agentstest.Step {
		select { // the run stays busy until the bot has come back for it
		case <-release:
		case <-time.After(30 * time.Second):
		}
		return answerWith(time.Second)(turn)
	}, nil, nil)
	f := e.World
	e.Runtime.DropRunStartAnswers(1)
	cv := e.askStuck(chGeneral, "q-dropped")
	e.waitUntilDone("a second attempt", func() bool { return e.ledgerJob(chGeneral, cv.root).Attempts >= 2 })
	once.Do(func() { close(release) })
	e.waitReplies(chGeneral, cv.root, 1)
	checkExactlyOnce(t, f, chGeneral, []conversation{cv})
}

// TestSilentStreamStillAnswers: every run stream goes silent (no event, no
// keep-alive) after two events. The idle watchdog drops it, the worker
// rejoins after the last event, and the answer arrives once.
func TestSilentStreamStillAnswers(t *testing.T) {
	e := newTestEnv(t, answerWith(100*time.Millisecond), func(c *Config) {
		c.StreamIdleTimeout = 500 * time.Millisecond
	}, nil)
	f := e.World
	e.Runtime.StallStreamsAfter(2)
	cv := e.askStuck(chGeneral, "q-silent")
	e.waitReplies(chGeneral, cv.root, 1)
	checkExactlyOnce(t, f, chGeneral, []conversation{cv})
}

// TestMaxRunAgeMovesOn: a run that outlives MAX_RUN_AGE is left to itself:
// the user is told in the thread and the conversation's next message is
// answered (its run waits on the runtime for the slow one, as runs of one
// thread do, then answers).
func TestMaxRunAgeMovesOn(t *testing.T) {
	e := newTestEnv(t, func(turn agentstest.Turn) []agentstest.Step {
		if strings.HasSuffix(turn.Text(), "slow") {
			return []agentstest.Step{agentstest.Pause(3 * time.Second), agentstest.Text("too late")}
		}
		return answerWith(0)(turn)
	}, func(c *Config) { c.MaxRunAge = 2 * time.Second }, nil)
	f := e.World
	cv := e.askStuck(chGeneral, "slow")
	e.waitUntilDone("the slow job ends", func() bool { return e.ledgerJob(chGeneral, cv.root).Final() })
	if got := bottest.AnswerText(e.Slack, chGeneral, cv.root); !strings.Contains(got, "stopped waiting") {
		t.Errorf("the thread does not say the bot stopped waiting:\n%s", e.Slack.Transcript(chGeneral))
	}
	next := conversation{root: cv.root, text: "q-after"}
	e.replyStuck(chGeneral, cv.root, "q-after")
	e.waitUntilDone("the next message is answered", func() bool { n, _ := answerCount(f, chGeneral, next); return n == 1 })
}

// renewOutage makes the database refuse lease renewals of the first lease
// it sees, as if the worker holding it had lost its connection, while
// every other call (of the other worker included) goes through.
type renewOutage struct {
	threadmap.Store
	mu     sync.Mutex
	victim string
}

func (s *renewOutage) LeaseNextJob(ctx context.Context, owner string, ttl time.Duration) (slackbot.Job, error) {
	j, err := s.Store.LeaseNextJob(ctx, owner, ttl)
	if err == nil {
		s.mu.Lock()
		if s.victim == "" {
			s.victim = j.LeaseOwner
		}
		s.mu.Unlock()
	}
	return j, err
}

func (s *renewOutage) RenewLease(ctx context.Context, jobID, owner string, ttl time.Duration) error {
	s.mu.Lock()
	down := owner == s.victim
	s.mu.Unlock()
	if down {
		return errors.New("database unreachable")
	}
	return s.Store.RenewLease(ctx, jobID, owner, ttl)
}

// TestTwoWorkersOfOneReplicaAfterLeaseExpiry: the goroutine following a
// run cannot renew its lease; it expires and the replica's dispatcher
// leases the job again into another goroutine (the fallback poll finds the
// expired lease). The first one stops touching the job before that, so the
// answer (long enough to take several messages) is posted once, from one
// run.
func TestTwoWorkersOfOneReplicaAfterLeaseExpiry(t *testing.T) {
	var long strings.Builder
	for i := 0; long.Len() < 60000; i++ {
		fmt.Fprintf(&long, "Paragraph %d of the long answer.\n\n", i)
	}
	answer := long.String()
	stores(t, func(t *testing.T, useDB func(*Config)) {
		var outage *renewOutage
		e := newTestEnv(t, agentstest.Scripted(agentstest.Text("Working… "), agentstest.Pause(3*time.Second), agentstest.Text(answer)), func(c *Config) {
			useDB(c)
			c.LeaseTTL = time.Second
			c.pollInterval = 50 * time.Millisecond
			c.wrapStore = func(s threadmap.Store) threadmap.Store {
				outage = &renewOutage{Store: s}
				return outage
			}
		}, nil)
		cv := e.askStuck(chGeneral, "q-lease")
		replies := e.waitReplies(chGeneral, cv.root, 2)
		var got strings.Builder
		for _, m := range replies {
			got.WriteString(bottest.MarkdownOf(m))
		}
		if normalizeSpace(got.String()) != normalizeSpace("Working… "+answer) && normalizeSpace(got.String()) != normalizeSpace(answer) {
			t.Errorf("the thread shows %d chars in %d messages; want the answer (%d chars) once\n%s",
				got.Len(), len(replies), len(answer), e.Slack.Transcript(chGeneral))
		}
		if n := len(e.Runtime.Runs()); n != 1 {
			t.Errorf("%d runs; want 1", n)
		}
		j := e.ledgerJob(chGeneral, cv.root)
		if j.Attempts < 2 || j.State != slackbot.JobDone {
			t.Errorf("job %s after %d attempts; want done after a takeover by a second goroutine", j.State, j.Attempts)
		}
		if owner, _, _ := strings.Cut(outage.victim, "/"); owner != e.Config.ReplicaName {
			t.Errorf("first lease owner %q; want the replica's name and a token", outage.victim)
		}
	})
}

// TestRepeatedContinueAfterCrash: a worker died after it sent the start of
// a follow-up whose text repeats the previous prompt ("continue"), before
// the run started. The next worker must not take the earlier run for it:
// the follow-up is answered, not dropped. (On an Agent Server, whose run
// list proves the start did not happen; see TestUnprovableStartOnManagedSurface.)
func TestRepeatedContinueAfterCrash(t *testing.T) {
	e := newTestEnv(t, func(turn agentstest.Turn) []agentstest.Step {
		return []agentstest.Step{agentstest.Text(fmt.Sprintf("Answer number %d.", turn.Index+1))}
	}, func(c *Config) { c.Runtime = agents.AgentServer }, []agentstest.Option{agentstest.WithSurface(agentstest.AgentServer)})
	cv := e.askStuck(chGeneral, "continue")
	e.waitReplies(chGeneral, cv.root, 1)

	// The ledger as the dead worker left the follow-up: start sent, no run.
	key := slackbot.Key{TeamID: bottest.Team, ChannelID: chGeneral, RootTS: cv.root}
	ts := e.Slack.UserMessage(chGeneral, userAnna, "continue", cv.root)
	_, err := e.svc.store.AddJob(e.ctx(), slackbot.Job{
		ID: "msg:" + chGeneral + ":" + ts, Key: key, ThreadID: slackbot.ThreadID(key),
		Kind: "prompt", State: slackbot.JobStarting,
		Payload: []byte(fmt.Sprintf(`{"user_id":%q,"text":"continue","message_ts":%q}`, userAnna, ts)),
	})
	if err != nil {
		t.Fatal(err)
	}
	e.waitUntilDone("the follow-up is answered", func() bool {
		return e.ledgerJob(chGeneral, ts).Final() && strings.Contains(bottest.AnswerText(e.Slack, chGeneral, cv.root), "Answer number 2.")
	})
	if j := e.ledgerJob(chGeneral, ts); j.State != slackbot.JobDone {
		t.Errorf("follow-up job = %s; want done", j.State)
	}
	if n := len(e.Runtime.Runs()); n != 2 {
		t.Errorf("%d runs; want 2 (the prompt and its repetition)", n)
	}
}

// TestClockSkewOnPostgres: two replicas whose clocks are 30 s apart (each
// way) share PostgreSQL. The idle one polls all along, yet never takes a
// job from the other while that one keeps its lease: every job is done on
// its first attempt and every answer is posted once.
func TestClockSkewOnPostgres(t *testing.T) {
	for _, skew := range []time.Duration{30 * time.Second, -30 * time.Second} {
		t.Run(fmt.Sprintf("idle replica %+v", skew), func(t *testing.T) {
			dsn := postgresSchemaDSN(t)
			replica := func(name string, skew time.Duration) func(*Config) {
				return func(c *Config) {
					c.DatabaseURL = dsn
					c.ReplicaName = name
					c.LeaseTTL = 2 * time.Second
					c.pollInterval = 50 * time.Millisecond
					c.storeOptions = []threadmap.Option{threadmap.WithProcessClock(func() time.Time { return time.Now().Add(skew) })}
				}
			}
			busy := newTestEnv(t, answerWith(3*time.Second), replica("busy", -skew), nil)
			f := busy.World
			convs := []conversation{busy.askStuck(chGeneral, "q-skew-1"), busy.askStuck(chGeneral, "q-skew-2")}
			busy.waitUntilDone("both runs followed by the busy replica", func() bool {
				return busy.ledgerJob(chGeneral, convs[0].root).State == slackbot.JobRunning &&
					busy.ledgerJob(chGeneral, convs[1].root).State == slackbot.JobRunning
			})
			// The other replica comes up now and polls for work all along.
			idle := newTestEnv(t, answerWith(0), replica("idle", skew), nil)
			for _, cv := range convs {
				busy.waitReplies(chGeneral, cv.root, 1)
			}
			checkExactlyOnce(t, f, chGeneral, convs)
			for _, cv := range convs {
				if j := busy.ledgerJob(chGeneral, cv.root); j.Attempts != 1 {
					t.Errorf("job %s took %d attempts; want 1 (no takeover)", j.ID, j.Attempts)
				}
			}
			if got := idle.metricOf("slackbot_lease_takeovers_total"); got != 0 {
				t.Errorf("the idle replica took over %v jobs; want none", got)
			}
			if n := len(idle.Runtime.Runs()); n != 0 {
				t.Errorf("the idle replica started %d runs; want none", n)
			}
		})
	}
}

// TestUnprovableStartOnManagedSurface: the same crash on a runtime without
// a run list, whose thread is idle again: nothing proves whether the
// follow-up's run started. The bot neither starts it a second time nor
// posts the earlier answer for it: it says it cannot tell.
func TestUnprovableStartOnManagedSurface(t *testing.T) {
	e := newTestEnv(t, func(turn agentstest.Turn) []agentstest.Step {
		return []agentstest.Step{agentstest.Text(fmt.Sprintf("Answer number %d.", turn.Index+1))}
	}, nil, nil)
	cv := e.askStuck(chGeneral, "continue")
	e.waitReplies(chGeneral, cv.root, 1)
	key := slackbot.Key{TeamID: bottest.Team, ChannelID: chGeneral, RootTS: cv.root}
	ts := e.Slack.UserMessage(chGeneral, userAnna, "continue", cv.root)
	_, err := e.svc.store.AddJob(e.ctx(), slackbot.Job{
		ID: "msg:" + chGeneral + ":" + ts, Key: key, ThreadID: slackbot.ThreadID(key),
		Kind: "prompt", State: slackbot.JobStarting,
		Payload: []byte(fmt.Sprintf(`{"user_id":%q,"text":"continue","message_ts":%q}`, userAnna, ts)),
	})
	if err != nil {
		t.Fatal(err)
	}
	e.waitUntilDone("the follow-up ends", func() bool { return e.ledgerJob(chGeneral, ts).Final() })
	got := bottest.AnswerText(e.Slack, chGeneral, cv.root)
	if !strings.Contains(got, "doesn't let me check whether it started") || strings.Count(got, "Answer number 1.") != 1 {
		t.Errorf("thread = %q; want the first answer once and a note that the bot cannot tell", got)
	}
	if n := len(e.Runtime.Runs()); n != 1 {
		t.Errorf("%d runs; want 1 (the follow-up not started blindly)", n)
	}
}
