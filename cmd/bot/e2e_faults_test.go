package main

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deepagents-slack/slackbot"
	"github.com/deepagents-slack/slackbot/internal/agents"
	"github.com/deepagents-slack/slackbot/internal/agents/agentstest"
	"github.com/deepagents-slack/slackbot/internal/bottest"
	"github.com/deepagents-slack/slackbot/internal/slackpost/slackfake"
)

// TestRuntimeFaultsNeverTwoAnswers: the runtime answers 502 to a share of
// run starts and cuts every run stream after a few events. Every user still
// gets one reply, the answer or a clear error, never two, and no run starts
// twice.
func TestRuntimeFaultsNeverTwoAnswers(t *testing.T) {
	e := newTestEnv(t, answerWith(200*time.Millisecond), nil, nil)
	f := e.World
	e.Runtime.CutStreamsAfter(3)

	// The fake's 502 is the runtime rejecting the request upstream, which a
	// retry cannot fix: the start fails at once with a clear error.
	e.Runtime.FailRunStarts(1, 502)
	doomed := mentions(f, chGeneral, 1)[0]
	doomed.eventID = "Ev-doomed"
	if code, err := e.Event(doomed.eventID, doomed.event, 0); err != nil || code != 200 {
		t.Fatalf("event: %d %v", code, err)
	}
	e.waitReplies(chGeneral, doomed.root, 1)

	// A 503 means nothing started: the start is retried and succeeds.
	e.Runtime.FailRunStarts(2, 503)
	recovered := mentions(f, chGeneral, 1)[0]
	recovered.eventID = "Ev-recovered"
	if code, err := e.Event(recovered.eventID, recovered.event, 0); err != nil || code != 200 {
		t.Fatalf("event: %d %v", code, err)
	}
	e.waitReplies(chGeneral, recovered.root, 1)
	if n, _ := answerCount(f, chGeneral, recovered); n != 1 {
		t.Errorf("after two 503s the answer was posted %d times; want once\n%s", n, e.Slack.Transcript(chGeneral))
	}

	// Then 20 conversations at once, 10 of whose starts fail.
	e.Runtime.FailRunStarts(10, 502)
	convs := mentions(f, chGeneral, 20)
	for i := range convs {
		convs[i].eventID = fmt.Sprintf("Ev-fault-%d", i)
		for retry := range 2 {
			if code, err := e.Event(convs[i].eventID, convs[i].event, retry); err != nil || code != 200 {
				t.Fatalf("event: %d %v", code, err)
			}
		}
	}
	answered, failed := 0, 0
	for _, cv := range append(convs, doomed) {
		replies := e.waitReplies(chGeneral, cv.root, 1)
		if len(replies) != 1 {
			t.Errorf("%s got %d replies; want 1\n%s", cv.text, len(replies), e.Slack.Transcript(chGeneral))
			continue
		}
		got := normalizeSpace(bottest.MarkdownOf(replies[0]))
		switch {
		case strings.Contains(got, "The answer to "+cv.text+" is 42."):
			answered++
		case strings.Contains(got, "⚠️") && strings.Contains(got, "failed upstream"):
			failed++
		default:
			t.Errorf("%s: reply %q is neither the answer nor a clear error", cv.text, got)
		}
	}
	if strings.Contains(bottest.AnswerText(e.Slack, chGeneral, doomed.root), "42") {
		t.Errorf("the conversation whose every start failed shows an answer")
	}
	if answered != 10 || failed != 11 {
		t.Errorf("%d answered and %d failed; want 10 and 11", answered, failed)
	}
	starts := map[string]int{}
	for _, r := range e.Runtime.Runs() {
		starts[r.ThreadID]++
	}
	for id, n := range starts {
		if n != 1 {
			t.Errorf("thread %s ran %d times; want at most once", id, n)
		}
	}
	if len(starts) != answered+1 { // and the recovered one
		t.Errorf("%d runs for %d answers", len(starts), answered)
	}
	t.Logf("%d answered, %d told the runtime failed", answered, failed)
}

// TestTakeoverOfUnrecordedRunStart: a worker died after it sent a run start
// and before it saved the run id. The worker that takes the job over must
// not start the run again when it exists, and must start it when it does not.
func TestTakeoverOfUnrecordedRunStart(t *testing.T) {
	for _, started := range []bool{true, false} {
		t.Run(fmt.Sprintf("run started=%v", started), func(t *testing.T) {
			// The run started before the crash stays busy until the new
			// worker has leased the job (and two seconds more, while it looks
			// at the thread): this runtime cannot list a
			// thread's runs, so only a busy thread proves the run started
			// (had it ended already, the bot would rightly say it cannot tell).
			release := make(chan struct{})
			var once sync.Once
			releaseRun := func() { once.Do(func() { close(release) }) }
			t.Cleanup(releaseRun)
			e := newTestEnv(t, func(turn agentstest.Turn) []agentstest.Step {
				select {
				case <-release:
				case <-time.After(30 * time.Second):
				}
				return answerWith(2 * time.Second)(turn)
			}, nil, nil)
			f := e.World
			cv := mentions(f, chGeneral, 1)[0]
			key := slackbot.Key{TeamID: bottest.Team, ChannelID: chGeneral, RootTS: cv.root}
			conv, err := e.svc.store.BindConversation(e.ctx(), slackbot.Conversation{
				Key: key, AgentID: agentMain, StartedBy: userAnna,
			})
			if err != nil {
				t.Fatal(err)
			}
			if started {
				client, err := agents.New(e.Runtime.URL, bottest.APIKey)
				if err != nil {
					t.Fatal(err)
				}
				_, err = client.CreateThreadRun(e.ctx(), &agents.CreateRunRequest{
					AgentID:           agentMain,
					Thread:            &agents.ThreadSpec{ThreadID: conv.ThreadID, IfExists: agents.IfExistsDoNothing},
					Input:             &agents.Input{Messages: []agents.Message{{Role: agents.RoleUser, Content: cv.text}}},
					Metadata:          map[string]string{"slack_message_ts": cv.root},
					MultitaskStrategy: "enqueue",
					StreamResumable:   true,
				})
				if err != nil {
					t.Fatal(err)
				}
			}
			// The ledger as the dead worker left it: start sent, no run id.
			_, err = e.svc.store.AddJob(e.ctx(), slackbot.Job{
				ID: "msg:" + chGeneral + ":" + cv.root, Key: key, ThreadID: conv.ThreadID,
				Kind: "prompt", State: slackbot.JobStarting,
				Payload: []byte(fmt.Sprintf(`{"user_id":%q,"text":%q,"message_ts":%q}`, userAnna, cv.text, cv.root)),
			})
			if err != nil {
				t.Fatal(err)
			}
			if started {
				// Leased: the worker is about to look at the thread, and
				// the released run stays busy for two more seconds.
				e.waitUntilDone("the job taken over", func() bool {
					return e.ledgerJob(chGeneral, cv.root).Attempts >= 1
				})
			}
			releaseRun()
			err = e.WaitFor(e.ctx(), func(*slackfake.Server) bool {
				n, _ := answerCount(f, chGeneral, cv)
				return n > 0 && e.ThreadDone(chGeneral, cv.root)
			})
			if err != nil {
				t.Fatalf("no answer: %v\n%s", err, e.Slack.Transcript(chGeneral))
			}
			checkExactlyOnce(t, f, chGeneral, []conversation{cv})
		})
	}
}
