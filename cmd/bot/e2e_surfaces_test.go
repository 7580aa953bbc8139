package main

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/deepagents-slack/slackbot/internal/agents"
	"github.com/deepagents-slack/slackbot/internal/agents/agentstest"
	"github.com/deepagents-slack/slackbot/internal/bottest"
	"github.com/deepagents-slack/slackbot/internal/slackpost/slackfake"
)

// surfaceCase is one real-world runtime set-up the bot must answer on.
// Every fake fails runs that ask for stream_subgraphs, like
// @langchain/langgraph-api 2.0.0 with deepagents, so a bot that asks for
// them by default fails every scenario.
type surfaceCase struct {
	name      string
	surface   agentstest.Surface
	runtime   agents.Dialect
	publicURL bool
	extra     []agentstest.Option
}

var surfaceCases = []surfaceCase{
	{name: "documented routes with PUBLIC_URL", surface: agentstest.ManagedDocumented, publicURL: true},
	{name: "documented routes without PUBLIC_URL", surface: agentstest.ManagedDocumented},
	{name: "managed proxying agent server routes", surface: agentstest.ManagedProxy},
	{name: "agent server", surface: agentstest.AgentServer, runtime: agents.AgentServer},
}

// newSurfaceEnv starts the service against the fake playing sc, with script
// answering for agentMain.
func newSurfaceEnv(t *testing.T, sc surfaceCase, script agentstest.Script) *testEnv {
	t.Helper()
	e := startEnv(t, envSetup{
		script:      script,
		configure:   func(c *Config) { c.Runtime = sc.runtime },
		runtimeOpts: append([]agentstest.Option{agentstest.WithSurface(sc.surface), agentstest.FailSubgraphStreams()}, sc.extra...),
		webhook:     sc.publicURL,
	})
	t.Cleanup(func() {
		for _, r := range e.Runtime.Runs() {
			if r.StreamSubgraphs {
				t.Errorf("run %s asked for stream_subgraphs without STREAM_SUBGRAPHS", r.RunID)
			}
		}
	})
	return e
}

// answeredOnce requires exactly one bot reply in the thread to contain want.
func (e *testEnv) answeredOnce(channel, root, want string) {
	e.t.Helper()
	n := 0
	for _, m := range bottest.BotReplies(e.Slack, channel, root) {
		if strings.Contains(bottest.MarkdownOf(m), want) {
			n++
		}
	}
	if n != 1 {
		e.t.Errorf("%d replies contain %q, want exactly 1\n%s", n, want, e.Slack.Transcript(channel))
	}
}

// TestScenariosOnEverySurface runs the main scenarios against each runtime
// surface: every answer arrives once, live progress shows while the run
// streams, approvals get cards, failures are told.
func TestScenariosOnEverySurface(t *testing.T) {
	for _, sc := range surfaceCases {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			t.Run("slash command streams live", func(t *testing.T) {
				const final = "Here is the summary you asked for."
				e := newSurfaceEnv(t, sc, agentstest.Scripted(
					agentstest.Text("Reading ", "the ", "thread… "), agentstest.Pause(1500*time.Millisecond), agentstest.Text(final)))
				root := e.ask(userAnna, chGeneral, "summarize")
				e.answeredOnce(chGeneral, root, final)
				reply := bottest.BotReplies(e.Slack, chGeneral, root)[0]
				sawPartial := false
				for _, s := range shownAnswers(replyWrites(e.Slack.Calls(), chGeneral, root, reply.TS)) {
					sawPartial = sawPartial || strings.Contains(s, "Reading the thread") && !strings.Contains(s, final)
				}
				if !sawPartial {
					t.Errorf("no live progress was shown before the answer")
				}
			})
			t.Run("mention", func(t *testing.T) {
				e := newSurfaceEnv(t, sc, agentstest.Echo())
				root := e.converse("Ev-mention", userAnna, chGeneral, "what changed today?")
				e.answeredOnce(chGeneral, root, "You said: what changed today?")
			})
			t.Run("DM", func(t *testing.T) {
				e := newSurfaceEnv(t, sc, agentstest.Echo())
				ev := e.UserSays(userAnna, chDM, "im", "draft a status update", "")
				e.deliver("Ev-dm", ev, 0)
				root := ev["ts"].(string)
				e.waitReplies(chDM, root, 1)
				e.answeredOnce(chDM, root, "You said: draft a status update")
			})
			t.Run("follow-up", func(t *testing.T) {
				e := newSurfaceEnv(t, sc, agentstest.Echo())
				root := e.ask(userAnna, chGeneral, "first question")
				e.deliver("Ev-follow", e.UserSays(userBen, chGeneral, "channel", "and a follow-up", root), 0)
				e.waitReplies(chGeneral, root, 2)
				e.answeredOnce(chGeneral, root, "You said: first question")
				e.answeredOnce(chGeneral, root, "You said: and a follow-up")
				if ids := e.runThreadIDs(); len(ids) != 2 || ids[0] != ids[1] || ids[0] != threadIDFor(chGeneral, root) {
					t.Errorf("runs on threads %v, want both on %s", ids, threadIDFor(chGeneral, root))
				}
			})
			t.Run("long answer", func(t *testing.T) {
				var b strings.Builder
				for i := 0; b.Len() < 20000; i++ {
					if i%5 == 2 {
						b.WriteString("```\ncode line " + strconv.Itoa(i) + "\nmore code\n```\n\n")
						continue
					}
					b.WriteString("Paragraph " + strconv.Itoa(i) + " with **bold** words and more words to fill it.\n\n")
				}
				answer := b.String()
				e := newSurfaceEnv(t, sc, agentstest.Scripted(agentstest.Text(answer)))
				root := e.ask(userAnna, chGeneral, "write a lot")
				var got strings.Builder
				for _, m := range bottest.BotReplies(e.Slack, chGeneral, root) {
					got.WriteString(bottest.MarkdownOf(m))
				}
				normalize := func(s string) string { return strings.Join(strings.Fields(s), " ") }
				if normalize(got.String()) != normalize(answer) {
					t.Errorf("answer changed on the way: got %d chars, want %d", got.Len(), len(answer))
				}
			})
			t.Run("plan and subagent", func(t *testing.T) {
				todo := func(s string) agentstest.Step {
					return agentstest.Todos(agentstest.Todo{Content: "Compare the weeks", Status: s})
				}
				e := newSurfaceEnv(t, sc, agentstest.Scripted(
					todo(agentstest.TodoInProgress),
					agentstest.Subagent("analyst", "Compare this week with last week",
						agentstest.Pause(1500*time.Millisecond), agentstest.Text("Up 12%.")),
					todo(agentstest.TodoCompleted),
					agentstest.Text("Traffic grew 12%."),
				))
				root := e.ask(userAnna, chGeneral, "weekly report")
				e.answeredOnce(chGeneral, root, "Traffic grew 12%.")
				reply := bottest.BotReplies(e.Slack, chGeneral, root)[0]
				sawSubagent := false
				for _, c := range replyWrites(e.Slack.Calls(), chGeneral, root, reply.TS) {
					// chat.update shows it in a context line, the stream as a task card.
					activity := strings.Join(callBlocks(c).contexts, "\n")
					for _, ch := range streamChunksOf(t, c) {
						activity += "\n" + ch["title"]
					}
					sawSubagent = sawSubagent || strings.Contains(activity, "analyst") && strings.Contains(activity, "Compare this week with last week")
				}
				if !sawSubagent {
					t.Errorf("the live message never showed the subagent line from the task call")
				}
				if plan := strings.Join(parseBlocks(string(reply.Blocks)).sections, "\n"); !strings.Contains(plan, ":white_check_mark:") {
					t.Errorf("final plan %q, want the completed todo", plan)
				}
			})
			t.Run("memory-write approval", func(t *testing.T) {
				e := newSurfaceEnv(t, sc, rememberTea())
				root, card := e.startForCard(userAnna, chGeneral, "remember that we drink tea")
				if th, _ := e.Runtime.Thread(threadIDFor(chGeneral, root)); len(th.Memories) != 0 {
					t.Fatalf("memory written before approval: %v", th.Memories)
				}
				e.clickCard(userAnna, chGeneral, card, "approve")
				e.waitAnswer(chGeneral, root, "Saved to memory: the team drinks tea.")
				e.answeredOnce(chGeneral, root, "Saved to memory: the team drinks tea.")
				if th, _ := e.Runtime.Thread(threadIDFor(chGeneral, root)); th.Memories[prefsPath] == "" {
					t.Errorf("memory not written after approval")
				}
			})
			t.Run("headless channel", func(t *testing.T) {
				e := newSurfaceEnv(t, sc, rememberTea())
				if sc.runtime == agents.AgentServer {
					// No thread options there: the flag travels in the run's
					// context and configurable, and a graph that still
					// interrupts gets a card, never an automatic approval.
					root, card := e.startForCard(userAnna, chHeadless, "remember that we drink tea")
					run := e.Runtime.Runs()[0]
					configurable, _ := run.Config["configurable"].(map[string]any)
					if run.Context["skip_memory_write_protection"] != true || configurable["skip_memory_write_protection"] != true {
						t.Errorf("run context %v config %v, want skip_memory_write_protection in both", run.Context, run.Config)
					}
					if th, _ := e.Runtime.Thread(threadIDFor(chHeadless, root)); len(th.Memories) != 0 {
						t.Fatalf("memory written without a decision")
					}
					e.clickCard(userAnna, chHeadless, card, "approve")
					e.waitAnswer(chHeadless, root, "Saved to memory")
					return
				}
				root := e.ask(userAnna, chHeadless, "remember that we drink tea")
				e.answeredOnce(chHeadless, root, "Saved to memory: the team drinks tea.")
				if _, ok := cardIn(e.Slack, chHeadless, root); ok {
					t.Errorf("a headless channel got an approval card")
				}
				th, _ := e.Runtime.Thread(threadIDFor(chHeadless, root))
				if !th.Options.SkipMemoryWriteProtection || th.Memories[prefsPath] == "" {
					t.Errorf("thread options %+v memories %v", th.Options, th.Memories)
				}
			})
			t.Run("test run", func(t *testing.T) {
				e := newSurfaceEnv(t, sc, agentstest.Echo())
				root := e.ask(userOmar, chGeneral, "test check the pipeline")
				e.answeredOnce(chGeneral, root, "You said: check the pipeline")
				th, _ := e.Runtime.Thread(threadIDFor(chGeneral, root))
				if sc.runtime == agents.AgentServer {
					if run := e.Runtime.Runs()[0]; run.Metadata["test_run"] != true || th.Metadata["test_run"] != true {
						t.Errorf("run metadata %v thread metadata %v, want test_run in both", run.Metadata, th.Metadata)
					}
				} else if !th.Options.TestRun {
					t.Errorf("thread options %+v, want test_run", th.Options)
				}
			})
			t.Run("failing run", func(t *testing.T) {
				e := newSurfaceEnv(t, sc, agentstest.Scripted(agentstest.Text("Looking… "), agentstest.Fail("tool exploded")))
				root := e.ask(userAnna, chGeneral, "go")
				e.answeredOnce(chGeneral, root, "The run failed: tool exploded")
			})
		})
	}
}

// TestStreamSubgraphsOnlyWhenConfigured: with STREAM_SUBGRAPHS=true the run
// asks for subgraph events (and on a runtime that fails such runs, the user
// is told the runtime's message).
func TestStreamSubgraphsOnlyWhenConfigured(t *testing.T) {
	e := newTestEnv(t, agentstest.Echo(), func(c *Config) { c.StreamSubgraphs = true },
		[]agentstest.Option{agentstest.WithSurface(agentstest.ManagedProxy), agentstest.FailSubgraphStreams()})
	root := e.ask(userAnna, chGeneral, "hello")
	if runs := e.Runtime.Runs(); len(runs) != 1 || !runs[0].StreamSubgraphs {
		t.Fatalf("runs %+v, want one asking for stream_subgraphs", runs)
	}
	e.answeredOnce(chGeneral, root, "Cannot read properties of undefined (reading 'map')")
}

// TestStreamDropOnDocumentedSurface: the documented surface has no run join,
// so a dropped stream can only be recovered through the completion webhook;
// the run was started with on_disconnect "continue", so it finishes. With
// PUBLIC_URL the answer arrives once; without, the user is told plainly
// where the answer is and what setting brings it back.
func TestStreamDropOnDocumentedSurface(t *testing.T) {
	const answer = "The incident was caused by a bad deploy."
	script := agentstest.Scripted(agentstest.Text("Checking… "), agentstest.Pause(800*time.Millisecond), agentstest.Text(answer))
	for _, withURL := range []bool{true, false} {
		t.Run("PUBLIC_URL="+strconv.FormatBool(withURL), func(t *testing.T) {
			e := newSurfaceEnv(t, surfaceCase{surface: agentstest.ManagedDocumented, publicURL: withURL}, script)
			e.Runtime.CutStreamsAfter(3)
			root := e.ask(userAnna, chGeneral, "what happened?")
			if runs := e.Runtime.Runs(); len(runs) != 1 || runs[0].Status != agents.RunSuccess {
				t.Fatalf("runs %+v, want one that finished despite the dropped stream", runs)
			}
			if withURL {
				e.answeredOnce(chGeneral, root, answer)
				return
			}
			got := e.Slack.Transcript(chGeneral)
			for _, want := range []string{"couldn't read its answer", threadIDFor(chGeneral, root), "PUBLIC_URL"} {
				if !strings.Contains(got, want) {
					t.Errorf("thread says %q, want it to mention %q", got, want)
				}
			}
			if strings.Contains(got, "without a written answer") {
				t.Errorf("the bot claimed the agent wrote nothing: %q", got)
			}
		})
	}
}

// TestOlderThreadCreation: a Managed API whose POST /threads ignores our
// thread_id (its earlier revision). First runs fall back to the seed POST
// /threads/runs and, with PUBLIC_URL, get their answer from the completion
// webhook's values; follow-ups stream. Without PUBLIC_URL the user and
// /agent status are told what to set.
func TestOlderThreadCreation(t *testing.T) {
	older := []agentstest.Option{agentstest.WithoutThreadIDOnCreate()}
	t.Run("with PUBLIC_URL", func(t *testing.T) {
		e := newSurfaceEnv(t, surfaceCase{surface: agentstest.ManagedDocumented, publicURL: true, extra: older}, agentstest.Echo())
		root := e.ask(userAnna, chGeneral, "first question")
		e.answeredOnce(chGeneral, root, "You said: first question")
		e.deliver("Ev-older-follow", e.UserSays(userAnna, chGeneral, "channel", "and a follow-up", root), 0)
		e.waitReplies(chGeneral, root, 2)
		e.answeredOnce(chGeneral, root, "You said: and a follow-up")
		second := e.ask(userBen, chGeneral, "another conversation")
		e.answeredOnce(chGeneral, second, "You said: another conversation")
		var routes []string
		for _, r := range e.Runtime.Runs() {
			routes = append(routes, strings.Replace(r.Route, r.ThreadID, "{id}", 1))
		}
		want := []string{"/threads/runs", "/threads/{id}/runs/stream", "/threads/runs"}
		if strings.Join(routes, " ") != strings.Join(want, " ") {
			t.Errorf("run routes %v, want %v", routes, want)
		}
		if id := e.Runtime.Runs()[0].ThreadID; id != threadIDFor(chGeneral, root) {
			t.Errorf("first run on thread %s, want our id %s", id, threadIDFor(chGeneral, root))
		}
	})
	t.Run("without PUBLIC_URL", func(t *testing.T) {
		e := newSurfaceEnv(t, surfaceCase{surface: agentstest.ManagedDocumented, extra: older}, agentstest.Echo())
		root := e.ask(userAnna, chGeneral, "first question")
		got := bottest.AnswerText(e.Slack, chGeneral, root)
		if !strings.Contains(got, "couldn't read its answer") || !strings.Contains(got, "PUBLIC_URL") || strings.Contains(got, "without a written answer") {
			t.Errorf("thread says %q, want an honest note naming PUBLIC_URL", got)
		}
		status := e.slash(userAnna, chGeneral, "status")
		if !strings.Contains(status, "PUBLIC_URL") || !strings.Contains(status, "cannot come back") {
			t.Errorf("/agent status = %q, want it to name PUBLIC_URL", status)
		}
	})
}

// TestTakeoverOnDocumentedSurface: the bot stops while it streams a run on
// a runtime with no run join and no thread values; the run goes on
// (on_disconnect "continue"). The service that takes the job over cannot
// read the run: with PUBLIC_URL the completion webhook brings the answer,
// once, into the reply already posted; without it the reply says plainly
// what happened and where the answer is. Never "without a written answer".
func TestTakeoverOnDocumentedSurface(t *testing.T) {
	const answer = "The deploy at 14:02 caused the incident."
	for _, withURL := range []bool{true, false} {
		t.Run("PUBLIC_URL="+strconv.FormatBool(withURL), func(t *testing.T) {
			first := startEnv(t, envSetup{
				script:      agentstest.Scripted(agentstest.Text("Checking… "), agentstest.Pause(1500*time.Millisecond), agentstest.Text(answer)),
				runtimeOpts: []agentstest.Option{agentstest.WithSurface(agentstest.ManagedDocumented)},
				webhook:     withURL,
			})
			runtime, slack := first.Runtime, first.Slack
			first.slash(userAnna, chGeneral, "what happened?")
			first.waitRuntime("the run to start", func(r *agentstest.Server) bool {
				runs := r.Runs()
				return len(runs) == 1 && runs[0].Status == agents.RunRunning
			})
			first.stop()
			second := first
			second.start() // on the same store, Slack and runtime
			root := bottest.LastRoot(slack, chGeneral)
			second.waitSlack("the taken-over job to finish", func(*slackfake.Server) bool { return second.ThreadDone(chGeneral, root) })
			if runs := runtime.Runs(); len(runs) != 1 || runs[0].Status != agents.RunSuccess {
				t.Fatalf("runs %+v, want the one run, finished despite the bot leaving its stream", runs)
			}
			got := slack.Transcript(chGeneral)
			if strings.Contains(got, "without a written answer") {
				t.Errorf("the bot claimed the agent wrote nothing:\n%s", got)
			}
			if withURL {
				second.answeredOnce(chGeneral, root, answer)
				return
			}
			for _, want := range []string{"couldn't read its answer", threadIDFor(chGeneral, root), "PUBLIC_URL"} {
				if !strings.Contains(got, want) {
					t.Errorf("thread should mention %q:\n%s", want, got)
				}
			}
		})
	}
}
