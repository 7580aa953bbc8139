package relay

import (
	"strings"
	"testing"
	"time"

	"github.com/deepagents-slack/slackbot"
	"github.com/deepagents-slack/slackbot/internal/agents"
	"github.com/deepagents-slack/slackbot/internal/slackpost"
)

// coreEnv is the relay with fakes of its ports and a SQLite store in a
// temp dir. Jobs are worked one at a time by the test (workNext), not by
// Run's workers, so each step is deterministic.
type coreEnv struct {
	r       *Relay
	store   Store
	runtime *fakeRuntime
	slack   *fakeSlack
	clock   *fakeClock
}

const (
	coreTeam    = "T1"
	coreChannel = "CGENERAL"
	coreStarter = "UANN"
)

func newCoreEnv(t *testing.T, turns ...fakeTurn) *coreEnv {
	t.Helper()
	e := &coreEnv{
		store:   openTestStore(t),
		runtime: newFakeRuntime(turns...),
		slack:   newFakeSlack(),
		clock:   &fakeClock{now: time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)},
	}
	r, err := New(e.store, e.runtime, e.slack,
		WithPolicy(Policy{DefaultAgent: testAgent, AllowedChannels: map[string]bool{coreChannel: true}}),
		WithOwner("unit"),
		WithClock(e.clock.Now),
	)
	if err != nil {
		t.Fatal(err)
	}
	e.r = r
	return e
}

// mention is a top-level mention of the bot by the starter.
func mention(ts, text string) slackbot.Message {
	return slackbot.Message{EventID: "Ev" + ts, TeamID: coreTeam, ChannelID: coreChannel, ChannelType: "channel",
		UserID: coreStarter, Text: text, TS: ts, Mention: true}
}

// workNext leases the next job and works it, as a worker of Run would.
func (e *coreEnv) workNext(t *testing.T) slackbot.Job {
	t.Helper()
	job, err := e.store.LeaseNextJob(t.Context(), "unit", time.Minute)
	if err != nil {
		t.Fatalf("lease next job: %v", err)
	}
	e.r.work(t.Context(), job, time.Now())
	done, err := e.store.Job(t.Context(), job.ID)
	if err != nil {
		t.Fatal(err)
	}
	return done
}

func (e *coreEnv) lastLive(t *testing.T) *fakeLive {
	t.Helper()
	lives := e.slack.liveReplies()
	if len(lives) == 0 {
		t.Fatal("no live reply")
	}
	return lives[len(lives)-1]
}

func TestCoreStartAndFollowUp(t *testing.T) {
	e := newCoreEnv(t, answerTurn("run-1", "Paris."), answerTurn("run-2", "About 2.1 million."))
	ctx := t.Context()

	if err := e.r.Message(ctx, mention("100.000001", "What is the capital of <https://fr.wikipedia.org|France>?")); err != nil {
		t.Fatal(err)
	}
	job := e.workNext(t)
	if job.State != slackbot.JobDone || job.RunID != "run-1" {
		t.Fatalf("first job %s run %q; want done, run-1", job.State, job.RunID)
	}
	key := slackbot.Key{TeamID: coreTeam, ChannelID: coreChannel, RootTS: "100.000001"}
	if job.ThreadID != slackbot.ThreadID(key) {
		t.Errorf("thread id %s, want the conversation's UUIDv5 %s", job.ThreadID, slackbot.ThreadID(key))
	}
	if final, failed := e.lastLive(t).ended(); final != "Paris." || failed != "" {
		t.Errorf("live reply ended with answer %q, failure %q; want the answer", final, failed)
	}
	runs := e.runtime.runCalls()
	if len(runs) != 1 || !strings.Contains(runText(runs[0]), "capital of France (https://fr.wikipedia.org)") {
		t.Fatalf("runs %+v; want one, with the prompt readable for the agent", runs)
	}

	// A reply in the thread continues the conversation without a mention.
	reply := slackbot.Message{EventID: "Ev2", TeamID: coreTeam, ChannelID: coreChannel, ChannelType: "channel",
		UserID: coreStarter, Text: "And its population?", TS: "100.000009", ThreadTS: "100.000001"}
	if err := e.r.Message(ctx, reply); err != nil {
		t.Fatal(err)
	}
	follow := e.workNext(t)
	if follow.State != slackbot.JobDone || follow.ThreadID != job.ThreadID {
		t.Fatalf("follow-up %s on thread %s; want done on %s", follow.State, follow.ThreadID, job.ThreadID)
	}
	if runs := e.runtime.runCalls(); len(runs) != 2 || runs[1].threadID != job.ThreadID {
		t.Fatalf("runs %+v; want the follow-up on the same agent thread", runs)
	}
	if final, _ := e.lastLive(t).ended(); final != "About 2.1 million." {
		t.Errorf("follow-up answer %q", final)
	}

	// A duplicate delivery of the follow-up starts nothing.
	if err := e.r.Message(ctx, reply); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.LeaseNextJob(ctx, "unit", time.Minute); err == nil {
		t.Error("a duplicate delivery left a job to work")
	}
}

// runText is the text of a run's input messages.
func runText(c fakeRunCall) string {
	if c.req.Input == nil {
		return ""
	}
	var b strings.Builder
	for _, m := range c.req.Input.Messages {
		b.WriteString(m.Content)
	}
	return b.String()
}

func TestCoreIgnoresAndRefuses(t *testing.T) {
	tests := []struct {
		name      string
		msg       slackbot.Message
		ephemeral string // what the user is told; "" for nothing
	}{
		{"a channel message not for the bot",
			slackbot.Message{TeamID: coreTeam, ChannelID: coreChannel, ChannelType: "channel", UserID: coreStarter, Text: "lunch?", TS: "1.1"}, ""},
		{"a mention in a channel the bot is not enabled in",
			slackbot.Message{TeamID: coreTeam, ChannelID: "COTHER", ChannelType: "channel", UserID: coreStarter, Text: "hi", TS: "1.2", Mention: true}, "not enabled in this channel"},
		{"a bare mention",
			slackbot.Message{TeamID: coreTeam, ChannelID: coreChannel, ChannelType: "channel", UserID: coreStarter, Text: " ", TS: "1.3", Mention: true}, "Mention me with a question"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newCoreEnv(t)
			if err := e.r.Message(t.Context(), tt.msg); err != nil {
				t.Fatal(err)
			}
			if _, err := e.store.LeaseNextJob(t.Context(), "unit", time.Minute); err == nil {
				t.Error("a job was recorded")
			}
			if tt.ephemeral != "" {
				if got := e.slack.nextEphemeral(t); !strings.Contains(got.text, tt.ephemeral) || got.user != coreStarter {
					t.Errorf("told %+v; want %q", got, tt.ephemeral)
				}
			}
		})
	}
}

func TestCoreFailureReachesTheUser(t *testing.T) {
	tests := []struct {
		name string
		turn fakeTurn
		want string
	}{
		{"the runtime refuses the run",
			fakeTurn{err: &agents.Error{StatusCode: 404, Code: "agent_not_found", Detail: "no agent 42"}},
			"The agent configured for this channel was not found. An admin needs to check `AGENT_ID` / `CHANNEL_AGENTS`. Details: no agent 42"},
		{"the run fails",
			fakeTurn{events: sse("metadata", `{"run_id":"run-9"}`) + sse("error", `{"error":"ToolError","message":"the search tool crashed"}`) + sse("end", "null")},
			"the search tool crashed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newCoreEnv(t, tt.turn)
			if err := e.r.Message(t.Context(), mention("200.000001", "search the web")); err != nil {
				t.Fatal(err)
			}
			job := e.workNext(t)
			if job.State != slackbot.JobFailed {
				t.Fatalf("job %s; want failed", job.State)
			}
			final, failed := e.lastLive(t).ended()
			if final != "" || !strings.Contains(failed, tt.want) {
				t.Errorf("live reply failed with %q (answer %q); want it to say %q", failed, final, tt.want)
			}
			if strings.Contains(failed, "http://") || strings.Contains(failed, "https://") {
				t.Errorf("failure note %q shows an address", failed)
			}
		})
	}
}

func TestCoreApprovalCard(t *testing.T) {
	e := newCoreEnv(t,
		interruptTurn("run-1", "send_email", agents.DecisionApprove, agents.DecisionReject),
		answerTurn("run-2", "Sent."))
	ctx := t.Context()
	if err := e.r.Message(ctx, mention("300.000001", "email Ann the report")); err != nil {
		t.Fatal(err)
	}
	job := e.workNext(t)
	if job.State != slackbot.JobPaused {
		t.Fatalf("job %s; want paused for the approval", job.State)
	}
	posts := e.slack.postsIn(coreChannel)
	if len(posts) != 1 || posts[0].threadTS != "300.000001" || !strings.Contains(posts[0].msg.Text, "Approval needed") || !strings.Contains(posts[0].msg.Text, "send_email") {
		t.Fatalf("posts %+v; want one approval card for send_email in the thread", posts)
	}
	card := posts[0]
	cardID := card.card
	if cardID == "" {
		t.Fatal("the card post names no card")
	}

	// Someone who neither started the run nor approves is refused.
	click := slackbot.Action{TeamID: coreTeam, UserID: "UBOB", ChannelID: coreChannel, MessageTS: card.ts, ActionID: slackpost.ApprovalActionPrefix + agents.DecisionApprove, Value: cardID}
	if err := e.r.Action(ctx, click); err != nil {
		t.Fatal(err)
	}
	if got := e.slack.nextEphemeral(t); got.user != "UBOB" || !strings.Contains(got.text, "Only <@"+coreStarter+">") {
		t.Fatalf("told %+v; want the refusal", got)
	}

	// The starter approves: the card shows the decision and the run resumes.
	click.UserID = coreStarter
	if err := e.r.Action(ctx, click); err != nil {
		t.Fatal(err)
	}
	if u := e.slack.nextUpdate(t); u.ts != card.ts || u.card != cardID || u.decidedBy != coreStarter ||
		len(u.decisions) != 1 || u.decisions[0].Type != agents.DecisionApprove {
		t.Fatalf("card update %+v; want it marked approved", u)
	}
	stored, err := e.store.Card(ctx, cardID)
	if err != nil || stored.DecidedBy != coreStarter || !stored.DecidedAt.Equal(e.clock.Now()) {
		t.Fatalf("card %+v, %v; want decided by the starter at the clock's time", stored, err)
	}
	resumed := e.workNext(t)
	if resumed.State != slackbot.JobDone {
		t.Fatalf("resumed job %s; want done", resumed.State)
	}
	runs := e.runtime.runCalls()
	if len(runs) != 2 || runs[1].req.Command == nil || runs[1].req.Command.Resume == nil ||
		len(runs[1].req.Command.Resume.Decisions) != 1 || runs[1].req.Command.Resume.Decisions[0].Type != agents.DecisionApprove {
		t.Fatalf("runs %+v; want the second to resume with one approval", runs)
	}

	// A second click finds the card decided.
	if err := e.r.Action(ctx, click); err != nil {
		t.Fatal(err)
	}
	if got := e.slack.nextEphemeral(t); !strings.Contains(got.text, "Already decided by <@"+coreStarter+">") {
		t.Errorf("told %+v; want already decided", got)
	}
}

func TestCoreStopPermission(t *testing.T) {
	e := newCoreEnv(t)
	ctx := t.Context()
	if err := e.r.Message(ctx, mention("400.000001", "a long task")); err != nil {
		t.Fatal(err)
	}
	// The job's run is under way (as a worker leaves it mid-run).
	job, err := e.store.LeaseNextJob(ctx, "unit", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	job.State, job.RunID = slackbot.JobRunning, "run-7"
	if err := e.store.UpdateJob(ctx, job); err != nil {
		t.Fatal(err)
	}
	stop := slackbot.Action{TeamID: coreTeam, ChannelID: coreChannel, ActionID: slackpost.StopActionID, Value: job.ID}

	click := func(user, want string) {
		t.Helper()
		stop.UserID = user
		if err := e.r.Action(ctx, stop); err != nil {
			t.Fatal(err)
		}
		if want != "" {
			if got := e.slack.nextEphemeral(t); got.text != want || got.user != user {
				t.Errorf("%s told %+v; want %q", user, got, want)
			}
		}
	}
	click("UBOB", "Only <@"+coreStarter+"> (who started this run), ops users or approvers can stop it.")
	click(coreStarter, "")
	if got := e.runtime.nextCancel(t); got != "run-7" {
		t.Errorf("cancelled %q; want run-7", got)
	}
	click(coreStarter, "<@"+coreStarter+"> already stopped this run.")
	// Neither the refusal nor the repeat starts a cancel: both are decided
	// and answered without one.
	select {
	case id := <-e.runtime.cancels:
		t.Errorf("a second cancel of %s", id)
	default:
	}
	st, err := e.store.StopOf(ctx, job.ID)
	if err != nil || st.StoppedBy != coreStarter || !st.StoppedAt.Equal(e.clock.Now()) {
		t.Errorf("stop %+v, %v; want the starter's, at the clock's time", st, err)
	}
	// Once the worker wrapped the stopped run up, a late repeat of the
	// click is still told who stopped it, not that the run finished.
	job.State = slackbot.JobDone
	if err := e.store.UpdateJob(ctx, job); err != nil {
		t.Fatal(err)
	}
	click(coreStarter, "<@"+coreStarter+"> already stopped this run.")
}

// The review modal decides a card too, and its errors name the modal's blocks.
func TestCoreApprovalReview(t *testing.T) {
	e := newCoreEnv(t,
		interruptTurn("run-1", "send_email", agents.DecisionApprove, agents.DecisionRespond),
		answerTurn("run-2", "Told Ann."))
	ctx := t.Context()
	if err := e.r.Message(ctx, mention("500.000001", "email Ann")); err != nil {
		t.Fatal(err)
	}
	if job := e.workNext(t); job.State != slackbot.JobPaused {
		t.Fatalf("job %s; want paused", job.State)
	}
	card := e.slack.postsIn(coreChannel)[0]
	review := slackbot.Action{TeamID: coreTeam, UserID: coreStarter, ChannelID: coreChannel, MessageTS: card.ts,
		ActionID: slackpost.ApprovalActionPrefix + "review", Value: card.card, TriggerID: "trig-1"}
	if err := e.r.Action(ctx, review); err != nil {
		t.Fatal(err)
	}
	select { // OpenReview is called before Action returns
	case got := <-e.slack.reviews:
		if got != card.card {
			t.Fatalf("review opened for %q; want %q", got, card.card)
		}
	default:
		t.Fatal("no review modal opened")
	}

	submit := func(choice, message string) map[string]string {
		return e.r.ViewSubmission(ctx, slackbot.ViewSubmission{TeamID: coreTeam, UserID: coreStarter,
			CallbackID: slackpost.ReviewCallbackID, PrivateMetadata: card.card,
			Values: map[string]map[string]string{"decision-0": {"choice": choice}, "message-0": {"value": message}}})
	}
	if errs := submit(agents.DecisionRespond, ""); errs["message-0"] == "" {
		t.Errorf("a response without a message was accepted: %v", errs)
	}
	if errs := submit(agents.DecisionRespond, "Ann is away; skip it."); errs != nil {
		t.Fatalf("errors %v", errs)
	}
	if u := e.slack.nextUpdate(t); u.card != card.card || len(u.decisions) != 1 || u.decisions[0].Message != "Ann is away; skip it." {
		t.Fatalf("card update %+v; want the response shown", u)
	}
	if job := e.workNext(t); job.State != slackbot.JobDone {
		t.Fatalf("resumed job %s; want done", job.State)
	}
	if errs := submit(agents.DecisionApprove, ""); errs[slackpost.ReviewDecisionBlock(0)] == "" {
		t.Errorf("a second decision was accepted: %v", errs)
	}
}

func TestCoreSlashCommand(t *testing.T) {
	e := newCoreEnv(t, answerTurn("run-1", "Done."))
	ctx := t.Context()
	cmd := func(channel, text string) slackbot.Reply {
		return e.r.Command(ctx, slackbot.Command{TeamID: coreTeam, ChannelID: channel, UserID: coreStarter,
			Command: "/agent", Text: text, TriggerID: "trig-" + channel + text, ResponseURL: "https://hooks.example/" + channel})
	}
	if got := cmd(coreChannel, "help"); !strings.Contains(got.Text, "How to use /agent") {
		t.Errorf("help = %q", got.Text)
	}
	if got := cmd("COTHER", "do it"); got.Text != notAllowedText {
		t.Errorf("in a channel the bot is not enabled in: %q", got.Text)
	}
	if got := cmd(coreChannel, "test do it"); got.Text != opsOnlyText {
		t.Errorf("a test run by a non-ops user: %q", got.Text)
	}

	// A prompt is acked empty; the worker posts its root message, then
	// answers in that message's thread.
	if got := cmd(coreChannel, "summarize <#C9|news>"); got != (slackbot.Reply{}) {
		t.Fatalf("prompt acked with %+v; want an empty ack", got)
	}
	root := e.workNext(t)
	if root.State != slackbot.JobDone || root.ReplyTS == "" {
		t.Fatalf("command job %s, root ts %q", root.State, root.ReplyTS)
	}
	posts := e.slack.postsIn(coreChannel)
	if len(posts) != 1 || posts[0].ts != root.ReplyTS || posts[0].msg.Text != "<@"+coreStarter+"> asked: summarize <#C9|news>" {
		t.Fatalf("posts %+v; want the root message echoing the prompt as Slack sent it", posts)
	}
	run := e.workNext(t)
	if run.State != slackbot.JobDone || run.Key.RootTS != root.ReplyTS {
		t.Fatalf("prompt job %s in thread %s; want done in %s", run.State, run.Key.RootTS, root.ReplyTS)
	}
	if got := runText(e.runtime.runCalls()[0]); got != "summarize #news" {
		t.Errorf("the agent read %q", got)
	}

	// Where the bot cannot post, the user hears why through response_url.
	e.slack.mu.Lock()
	e.slack.notIn["CLOCKED"] = true
	e.slack.mu.Unlock()
	e.r.cfg.Policy.AllowedChannels["CLOCKED"] = true
	if got := cmd("CLOCKED", "hello"); got != (slackbot.Reply{}) {
		t.Fatalf("ack %+v", got)
	}
	if job := e.workNext(t); job.State != slackbot.JobFailed {
		t.Fatalf("job %s; want failed", job.State)
	}
	if got := e.slack.nextEphemeral(t); got.channel != "https://hooks.example/CLOCKED" || !strings.Contains(got.text, "Invite me with `/invite`") {
		t.Errorf("told %+v; want the invite hint through response_url", got)
	}
}
