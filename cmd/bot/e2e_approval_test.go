package main

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/deepagents-slack/slackbot"
	"github.com/deepagents-slack/slackbot/internal/agents/agentstest"
	"github.com/deepagents-slack/slackbot/internal/bottest"
	"github.com/deepagents-slack/slackbot/internal/slackpost/slackfake"
)

// interruptStyles are the runtimes' three ways of writing a HITL request.
var interruptStyles = []struct {
	name string
	opts []agentstest.Option
}{
	{"snake_case", nil},
	{"camelCase", []agentstest.Option{agentstest.CamelCaseInterrupts()}},
	{"legacy arguments", []agentstest.Option{agentstest.LegacyArguments()}},
}

const prefsPath = "/memories/team-prefs.md"

// rememberTea writes one memory file, then answers.
func rememberTea() agentstest.Script {
	return agentstest.Scripted(
		agentstest.Text("I'll remember that."),
		agentstest.MemoryWrite(prefsPath, "# Prefs\n\n- the team drinks <tea> & coffee\n"),
		agentstest.Text("Saved to memory: the team drinks tea."),
	)
}

// TestApprovalApproveResumes: in every casing, the card shows the memory
// write; approving it resumes the run exactly once with the same thread and
// agent, the answer arrives, the card shows the decision without buttons,
// and the file is written on the runtime.
func TestApprovalApproveResumes(t *testing.T) {
	for _, st := range interruptStyles {
		t.Run(st.name, func(t *testing.T) {
			e := newTestEnv(t, rememberTea(), nil, st.opts)
			root, card := e.startForCard(userAnna, chGeneral, "remember that we drink tea")

			for _, want := range []string{"memory", "`" + prefsPath + "`", "the team drinks &lt;tea&gt; &amp; coffee", "Run started by <@" + userAnna + ">"} {
				if !strings.Contains(card.Rendered, want) {
					t.Errorf("card %q lacks %q", card.Rendered, want)
				}
			}
			if !reflect.DeepEqual(card.Buttons, []string{"Approve", "Reject"}) {
				t.Errorf("card buttons %v, want Approve and Reject", card.Buttons)
			}
			if th, _ := e.Runtime.Thread(threadIDFor(chGeneral, root)); len(th.Memories) != 0 {
				t.Fatalf("memory written before approval: %v", th.Memories)
			}

			e.clickCard(userAnna, chGeneral, card, "approve")
			e.waitAnswer(chGeneral, root, "Saved to memory: the team drinks tea.")

			decided := e.cardAfterDecision(chGeneral, card.TS)
			if len(decided.Buttons) != 0 || !strings.Contains(decided.Rendered, "Approved by <@"+userAnna+">") {
				t.Errorf("decided card: buttons %v, text %q", decided.Buttons, decided.Rendered)
			}
			th, _ := e.Runtime.Thread(threadIDFor(chGeneral, root))
			if th.Memories[prefsPath] == "" || th.Interrupted != nil {
				t.Errorf("runtime thread after approval: memories %v, interrupted %v", th.Memories, th.Interrupted)
			}
			e.checkResumeBody(chGeneral, root, []map[string]any{{"type": "approve"}})
			checkStoredDecision(t, e, card, userAnna, `[{"type":"approve"}]`)
		})
	}
}

// TestApprovalRejectResumes: a rejection resumes the run with a reject
// decision; nothing is written and the agent's reply arrives.
func TestApprovalRejectResumes(t *testing.T) {
	for _, st := range interruptStyles {
		t.Run(st.name, func(t *testing.T) {
			e := newTestEnv(t, rememberTea(), nil, st.opts)
			root, card := e.startForCard(userAnna, chGeneral, "remember that we drink tea")
			e.clickCard(userAnna, chGeneral, card, "reject")
			e.waitAnswer(chGeneral, root, "Understood, I did not do that.")

			if got := bottest.AnswerText(e.Slack, chGeneral, root); strings.Contains(got, "Saved to memory") {
				t.Errorf("the rejected run went on: %q", got)
			}
			decided := e.cardAfterDecision(chGeneral, card.TS)
			if len(decided.Buttons) != 0 || !strings.Contains(decided.Rendered, "Rejected by <@"+userAnna+">") {
				t.Errorf("decided card: buttons %v, text %q", decided.Buttons, decided.Rendered)
			}
			if th, _ := e.Runtime.Thread(threadIDFor(chGeneral, root)); len(th.Memories) != 0 {
				t.Errorf("rejected write happened: %v", th.Memories)
			}
			e.checkResumeBody(chGeneral, root, []map[string]any{{"type": "reject"}})
		})
	}
}

// TestApprovalWhoMayDecide: by default the person who started the run and
// ops decide; APPROVER_USERS widens that; anyone else is refused and
// nothing resumes.
func TestApprovalWhoMayDecide(t *testing.T) {
	tests := []struct {
		name      string
		approvers []string
		clicker   string
		allowed   bool
	}{
		{"someone else is refused", nil, userBen, false},
		{"an approver may decide", []string{userBen}, userBen, true},
		{"ops may decide", nil, userOmar, true},
		{"the starter may decide", nil, userAnna, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEnv(t, rememberTea(), func(c *Config) {
				for _, u := range tc.approvers {
					c.Policy.ApproverUsers[u] = true
				}
			}, nil)
			root, card := e.startForCard(userAnna, chGeneral, "remember that we drink tea")
			e.clickCard(tc.clicker, chGeneral, card, "approve")
			if tc.allowed {
				e.waitAnswer(chGeneral, root, "Saved to memory")
				if n := len(e.resumeBodies()); n != 1 {
					t.Errorf("%d resume requests, want 1", n)
				}
				return
			}
			eph := e.waitEphemeral(tc.clicker, "Only <@"+userAnna+">")
			if eph.Channel != chGeneral {
				t.Errorf("refusal sent to %s, want %s", eph.Channel, chGeneral)
			}
			// The refusal is sent after the click was handled: nothing was
			// recorded and the card still waits for a decision.
			if n := len(e.resumeBodies()); n != 0 {
				t.Errorf("%d resume requests after a refused click", n)
			}
			if m, _ := e.Slack.Message(chGeneral, card.TS); len(m.Buttons) == 0 || m.Updates != 0 {
				t.Errorf("refused click changed the card: %+v", m)
			}
			if c := e.storedCard(card); c.Decided() {
				t.Errorf("refused click decided the card: %+v", c)
			}
			// The starter can still decide.
			e.clickCard(userAnna, chGeneral, card, "approve")
			e.waitAnswer(chGeneral, root, "Saved to memory")
		})
	}
}

// TestApprovalResumesOnce: double clicks, two people clicking at once and a
// click after the run moved on resume the run exactly once; the late
// clickers are told who decided.
func TestApprovalResumesOnce(t *testing.T) {
	t.Run("double click", func(t *testing.T) {
		e := newTestEnv(t, rememberTea(), nil, nil)
		root, card := e.startForCard(userAnna, chGeneral, "remember that we drink tea")
		e.clickCard(userAnna, chGeneral, card, "approve")
		e.clickCard(userAnna, chGeneral, card, "approve")
		e.waitAnswer(chGeneral, root, "Saved to memory")
		e.waitEphemeral(userAnna, "Already decided by <@"+userAnna+">")
		if n := len(e.resumeBodies()); n != 1 {
			t.Errorf("%d resume requests, want 1", n)
		}
	})
	t.Run("two people click at once", func(t *testing.T) {
		for _, kinds := range [][2]string{{"approve", "approve"}, {"approve", "reject"}} {
			t.Run(kinds[0]+"+"+kinds[1], func(t *testing.T) {
				e := newTestEnv(t, rememberTea(), nil, nil)
				root, card := e.startForCard(userAnna, chGeneral, "remember that we drink tea")
				var wg sync.WaitGroup
				start := make(chan struct{})
				for i, user := range []string{userAnna, userOmar} {
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-start
						if code, err := e.Click(user, chGeneral, card.TS, card.ThreadTS, "approval:"+kinds[i], approvalCardID(card)); err != nil || code != 200 {
							t.Errorf("click by %s: %d %v", user, code, err)
						}
					}()
				}
				close(start)
				wg.Wait()
				if err := e.WaitFor(e.ctx(), func(f *slackfake.Server) bool { return e.ThreadDone(chGeneral, root) }); err != nil {
					t.Fatalf("thread not done: %v\n%s", err, e.Slack.Transcript(chGeneral))
				}
				stored := e.storedCard(card)
				loser := map[string]string{userAnna: userOmar, userOmar: userAnna}[stored.DecidedBy]
				if loser == "" {
					t.Fatalf("card decided by %q", stored.DecidedBy)
				}
				e.waitEphemeral(loser, "Already decided by <@"+stored.DecidedBy+">")
				bodies := e.resumeBodies()
				if len(bodies) != 1 {
					t.Fatalf("%d resume requests, want 1", len(bodies))
				}
				runs := 0
				for _, r := range e.Runtime.Runs() {
					if r.Resume != nil {
						runs++
					}
				}
				if runs != 1 {
					t.Errorf("%d resume runs, want 1", runs)
				}
			})
		}
	})
	t.Run("click the moment the card appears", func(t *testing.T) {
		// The click races the worker that posted the card and is still
		// saving it and parking the job: the run resumes once and the card
		// shows the decision either way.
		e := newTestEnv(t, rememberTea(), nil, nil)
		// Each card is a new top-level message, about one a second on
		// Slack's posting tier: -short races fewer of them.
		cards := 10
		if testing.Short() {
			cards = 3
		}
		for i := range cards {
			before := bottest.LastRoot(e.Slack, chGeneral)
			if code, _, err := e.Slash(userAnna, chGeneral, fmt.Sprintf("remember tea %d", i)); err != nil || code != 200 {
				t.Fatalf("slash: %d %v", code, err)
			}
			var card slackfake.Message
			err := e.Slack.WaitFor(e.ctx(), func(f *slackfake.Server) bool {
				root := bottest.LastRoot(f, chGeneral)
				var ok bool
				card, ok = cardIn(f, chGeneral, root)
				return root != before && ok
			})
			if err != nil {
				t.Fatal(err)
			}
			e.clickCard(userAnna, chGeneral, card, "approve")
			e.waitAnswer(chGeneral, card.ThreadTS, "Saved to memory")
			if d := e.cardAfterDecision(chGeneral, card.TS); len(d.Buttons) != 0 || !strings.Contains(d.Rendered, "Approved by") {
				t.Fatalf("card %d after the decision: %v %q", i, d.Buttons, d.Rendered)
			}
		}
		if n := len(e.resumeBodies()); n != cards {
			t.Errorf("%d resume requests for %d cards", n, cards)
		}
	})
	t.Run("click after the run moved on", func(t *testing.T) {
		e := newTestEnv(t, rememberTea(), nil, nil)
		root, card := e.startForCard(userAnna, chGeneral, "remember that we drink tea")
		e.clickCard(userOmar, chGeneral, card, "approve")
		e.waitAnswer(chGeneral, root, "Saved to memory")
		e.clickCard(userAnna, chGeneral, card, "reject")
		eph := e.waitEphemeral(userAnna, "Already decided by <@"+userOmar+">")
		stored := e.storedCard(card)
		if !strings.Contains(eph.Text, fmt.Sprintf("<!date^%d^", stored.DecidedAt.Unix())) {
			t.Errorf("late clicker not told when: %q", eph.Text)
		}
		if n := len(e.resumeBodies()); n != 1 {
			t.Errorf("%d resume requests, want 1", n)
		}
	})
}

// TestApprovalHeadlessNoCard: a headless channel's thread skips
// memory-write protection, so the write completes without a card.
func TestApprovalHeadlessNoCard(t *testing.T) {
	for _, st := range interruptStyles[:2] {
		t.Run(st.name, func(t *testing.T) {
			e := newTestEnv(t, rememberTea(), nil, st.opts)
			root := e.ask(userAnna, chHeadless, "remember that we drink tea")
			if got := bottest.AnswerText(e.Slack, chHeadless, root); !strings.Contains(got, "Saved to memory") {
				t.Errorf("answer %q", got)
			}
			for _, m := range e.Slack.Messages(chHeadless) {
				if len(m.Buttons) > 0 || strings.Contains(m.Rendered, "Approval") {
					t.Errorf("headless channel shows a card: %q", m.Rendered)
				}
			}
			th, _ := e.Runtime.Thread(threadIDFor(chHeadless, root))
			if !th.Options.SkipMemoryWriteProtection || th.Memories[prefsPath] == "" {
				t.Errorf("runtime thread: options %+v memories %v", th.Options, th.Memories)
			}
			if n := len(e.Runtime.RunRequests()); n != 1 {
				t.Errorf("%d run requests, want 1", n)
			}
		})
	}
}

// threeRequests is one interrupt with three action requests, each with its
// own allowed decisions.
func threeRequests() agentstest.Script {
	return agentstest.Scripted(
		agentstest.Approvals(
			agentstest.MemoryWrite(prefsPath, "- tea\n"),
			agentstest.Approval("send_email", map[string]any{"to": "ops@example.com", "subject": "tea"}, "approve", "edit", "reject"),
			agentstest.Approval("deploy", map[string]any{"env": "prod"}),
		),
		agentstest.Text("All three done."),
	)
}

// TestApprovalMultiRequest: one interrupt with several action requests
// gets one decision per request, in order, from the review modal or from
// "Approve all".
func TestApprovalMultiRequest(t *testing.T) {
	t.Run("review modal decides each request", func(t *testing.T) {
		for _, st := range interruptStyles {
			t.Run(st.name, func(t *testing.T) {
				e := newTestEnv(t, threeRequests(), nil, st.opts)
				root, card := e.startForCard(userAnna, chGeneral, "do three things")
				for _, want := range []string{"*1.* *Write* `" + prefsPath + "`", "*2.* *Tool* `send_email`", "ops@example.com", "*3.* *Tool* `deploy`"} {
					if !strings.Contains(card.Rendered, want) {
						t.Errorf("card %q lacks %q", card.Rendered, want)
					}
				}
				if !reflect.DeepEqual(card.Buttons, []string{"Approve all", "Reject all", "Review each…"}) {
					t.Errorf("card buttons %v", card.Buttons)
				}

				view := e.openReview(userAnna, chGeneral, card)
				// Each request offers the decisions its own review config allows.
				wantOptions := map[string][]string{
					"decision-0": {"approve", "reject"},
					"decision-1": {"approve", "edit", "reject"},
					"decision-2": {"approve", "reject"},
				}
				if got := view.radioOptions(); !reflect.DeepEqual(got, wantOptions) {
					t.Errorf("modal options %v, want %v", got, wantOptions)
				}
				code, body := e.submitView(userAnna, view, map[string]string{
					"decision-0": "approve",
					"decision-1": "edit",
					"args-1":     `{"to": "lead@example.com", "subject": "tea (edited)"}`,
					"decision-2": "reject",
					"message-2":  "not on a Friday",
				})
				if code != 200 || body != "" {
					t.Fatalf("view submission answered %d %q", code, body)
				}
				e.waitAnswer(chGeneral, root, "Understood, I did not do that.")
				e.checkResumeBody(chGeneral, root, []map[string]any{
					{"type": "approve"},
					{"type": "edit", "edited_action": map[string]any{"name": "send_email", "args": map[string]any{"to": "lead@example.com", "subject": "tea (edited)"}}},
					{"type": "reject", "message": "not on a Friday"},
				})
				th, _ := e.Runtime.Thread(threadIDFor(chGeneral, root))
				wantExecuted := []agentstest.Action{
					{Name: "write_file", Args: map[string]any{"file_path": prefsPath, "content": "- tea\n"}},
					{Name: "send_email", Args: map[string]any{"to": "lead@example.com", "subject": "tea (edited)"}},
				}
				if !reflect.DeepEqual(th.Executed, wantExecuted) || th.Memories[prefsPath] != "- tea\n" {
					t.Errorf("runtime ran %+v, memories %v", th.Executed, th.Memories)
				}
				decided := e.cardAfterDecision(chGeneral, card.TS)
				if len(decided.Buttons) != 0 || !strings.Contains(decided.Rendered, "#1 :white_check_mark: Approved, #2 :pencil2: Approved with edits, #3 :no_entry_sign: Rejected: “not on a Friday” by <@"+userAnna+">") {
					t.Errorf("decided card: %v %q", decided.Buttons, decided.Rendered)
				}
			})
		}
	})
	t.Run("approve all", func(t *testing.T) {
		e := newTestEnv(t, threeRequests(), nil, []agentstest.Option{agentstest.CamelCaseInterrupts()})
		root, card := e.startForCard(userAnna, chGeneral, "do three things")
		e.clickCard(userAnna, chGeneral, card, "approve")
		e.waitAnswer(chGeneral, root, "All three done.")
		e.checkResumeBody(chGeneral, root, []map[string]any{{"type": "approve"}, {"type": "approve"}, {"type": "approve"}})
		th, _ := e.Runtime.Thread(threadIDFor(chGeneral, root))
		if len(th.Executed) != 3 || th.Memories[prefsPath] == "" {
			t.Errorf("runtime ran %+v", th.Executed)
		}
	})
	t.Run("modal refuses a bad edit and a stale card", func(t *testing.T) {
		e := newTestEnv(t, threeRequests(), nil, nil)
		root, card := e.startForCard(userAnna, chGeneral, "do three things")
		view := e.openReview(userAnna, chGeneral, card)
		code, body := e.submitView(userAnna, view, map[string]string{"decision-1": "edit", "args-1": "not json"})
		if code != 200 || !strings.Contains(body, `"response_action":"errors"`) || !strings.Contains(body, "args-1") {
			t.Fatalf("bad edit answered %d %q, want errors on args-1", code, body)
		}
		if n := len(e.resumeBodies()); n != 0 {
			t.Fatalf("a bad edit resumed the run")
		}
		e.clickCard(userAnna, chGeneral, card, "reject")
		e.waitAnswer(chGeneral, root, "Understood, I did not do that.")
		// The modal was still open when the card was decided from the thread.
		code, body = e.submitView(userAnna, view, nil)
		if code != 200 || !strings.Contains(body, "no longer be decided") {
			t.Errorf("stale modal answered %d %q", code, body)
		}
		e.waitEphemeral(userAnna, "Already decided by")
		if n := len(e.resumeBodies()); n != 1 {
			t.Errorf("%d resume requests, want 1", n)
		}
	})
}

// TestApprovalEditThroughModal: a tool call that allows edits is decided
// in the modal; the edited arguments are what runs on the runtime.
func TestApprovalEditThroughModal(t *testing.T) {
	script := agentstest.Scripted(
		agentstest.Approval("create_ticket", map[string]any{"title": "Tea machine broken", "priority": "low"}, "approve", "edit", "reject"),
		agentstest.Text("Ticket created."),
	)
	for _, st := range interruptStyles {
		t.Run(st.name, func(t *testing.T) {
			e := newTestEnv(t, script, nil, st.opts)
			root, card := e.startForCard(userAnna, chGeneral, "open a ticket")
			if !strings.Contains(card.Rendered, "*Tool* `create_ticket`") || !strings.Contains(card.Rendered, "Tea machine broken") {
				t.Errorf("card %q", card.Rendered)
			}
			if !reflect.DeepEqual(card.Buttons, []string{"Approve", "Reject", "Edit or respond…"}) {
				t.Errorf("card buttons %v", card.Buttons)
			}
			view := e.openReview(userAnna, chGeneral, card)
			if args := view.initialValue("args-0"); !strings.Contains(args, `"priority": "low"`) {
				t.Errorf("modal does not prefill the arguments: %q", args)
			}
			code, body := e.submitView(userAnna, view, map[string]string{
				"decision-0": "edit",
				"args-0":     `{"title": "Tea machine broken", "priority": "high"}`,
			})
			if code != 200 || body != "" {
				t.Fatalf("view submission answered %d %q", code, body)
			}
			e.waitAnswer(chGeneral, root, "Ticket created.")
			edited := map[string]any{"title": "Tea machine broken", "priority": "high"}
			e.checkResumeBody(chGeneral, root, []map[string]any{
				{"type": "edit", "edited_action": map[string]any{"name": "create_ticket", "args": edited}},
			})
			th, _ := e.Runtime.Thread(threadIDFor(chGeneral, root))
			if want := []agentstest.Action{{Name: "create_ticket", Args: edited}}; !reflect.DeepEqual(th.Executed, want) {
				t.Errorf("runtime ran %+v, want %+v", th.Executed, want)
			}
			if d := e.cardAfterDecision(chGeneral, card.TS); !strings.Contains(d.Rendered, "Approved with edits by <@"+userAnna+">") {
				t.Errorf("decided card %q", d.Rendered)
			}
		})
	}
}

// TestApprovalCardSurvivesRestart: a card left undecided while the bot
// restarts (same database, same runtime) still resumes the run.
func TestApprovalCardSurvivesRestart(t *testing.T) {
	runtime := agentstest.NewServer(agentstest.CamelCaseInterrupts())
	t.Cleanup(runtime.Close)
	runtime.AddAgent(agentMain, rememberTea())
	dir := t.TempDir()

	first := startEnv(t, envSetup{runtime: runtime, dir: dir})
	root, card := first.startForCard(userAnna, chGeneral, "remember that we drink tea")
	// The card is left undecided: its job is parked, nothing runs.
	jobID := first.storedCard(card).JobID
	err := first.WaitFor(first.ctx(), func(*slackfake.Server) bool {
		j, err := first.svc.store.Job(first.ctx(), jobID)
		return err == nil && j.State == slackbot.JobPaused
	})
	if err != nil {
		t.Fatalf("job %s never paused: %v", jobID, err)
	}
	first.stop()

	// The new process talks to a new Slack fake: Slack keeps the card, the
	// fake does not, so the card's update is checked on the calls it makes.
	second := startEnv(t, envSetup{runtime: runtime, dir: dir})
	// A fake started in the same second numbers its messages from the same
	// ts as the first; move past the old ones as real Slack would be.
	for range first.Slack.Messages(chGeneral) {
		second.Slack.UserMessage(chOther, userBen, "filler", "")
	}
	second.clickCard(userAnna, chGeneral, card, "approve")
	second.waitAnswer(chGeneral, root, "Saved to memory")
	second.checkResumeBody(chGeneral, root, []map[string]any{{"type": "approve"}})
	if th, _ := runtime.Thread(threadIDFor(chGeneral, root)); th.Memories[prefsPath] == "" {
		t.Errorf("memory not written after the restart: %v", th.Memories)
	}
	var updated bool
	for _, c := range second.Slack.CallsTo("chat.update") {
		if c.Params["ts"] == card.TS && strings.Contains(c.Params["blocks"], "Approved by") && strings.Contains(c.Params["blocks"], userAnna) &&
			!strings.Contains(c.Params["blocks"], `"type":"actions"`) {
			updated = true
		}
	}
	if !updated {
		t.Errorf("the old card %s was not updated with the decision", card.TS)
	}
}

// --- helpers ---

// startForCard sends a slash command and waits for the approval card in
// its thread; it returns the thread's root and the card.
func (e *testEnv) startForCard(user, channel, text string) (string, slackfake.Message) {
	e.t.Helper()
	before := bottest.LastRoot(e.Slack, channel)
	if code, body, err := e.Slash(user, channel, text); err != nil || code != 200 || body != "" {
		e.t.Fatalf("slash command: %d %q %v", code, body, err)
	}
	var root string
	var card slackfake.Message
	err := e.WaitFor(e.ctx(), func(f *slackfake.Server) bool {
		root = bottest.LastRoot(f, channel)
		if root == before {
			return false
		}
		var ok bool
		card, ok = cardIn(f, channel, root)
		return ok
	})
	if err != nil {
		e.t.Fatalf("no approval card: %v\n%s", err, e.Slack.Transcript(channel))
	}
	return root, card
}

// cardIn finds the undecided approval card in a thread.
func cardIn(f *slackfake.Server, channel, root string) (slackfake.Message, bool) {
	for _, m := range f.Thread(channel, root) {
		if m.IsBot() && approvalCardID(m) != "" {
			return m, true
		}
	}
	return slackfake.Message{}, false
}

// approvalCardID is the card id the card's buttons carry.
func approvalCardID(m slackfake.Message) string {
	var blocks []struct {
		Elements []struct {
			ActionID string `json:"action_id"`
			Value    string `json:"value"`
		} `json:"elements"`
	}
	_ = json.Unmarshal(m.Blocks, &blocks)
	for _, b := range blocks {
		for _, el := range b.Elements {
			if strings.HasPrefix(el.ActionID, "approval:") {
				return el.Value
			}
		}
	}
	return ""
}

// clickCard presses the card's button for kind (approve, reject, review).
func (e *testEnv) clickCard(user, channel string, card slackfake.Message, kind string) {
	e.t.Helper()
	code, err := e.Click(user, channel, card.TS, card.ThreadTS, "approval:"+kind, approvalCardID(card))
	if err != nil || code != 200 {
		e.t.Fatalf("click %s by %s: %d %v", kind, user, code, err)
	}
}

func (e *testEnv) storedCard(card slackfake.Message) slackbot.Card {
	e.t.Helper()
	c, err := e.svc.store.Card(e.ctx(), approvalCardID(card))
	if err != nil {
		e.t.Fatalf("card %s: %v", approvalCardID(card), err)
	}
	return c
}

// waitAnswer waits until the bot is done in the thread and its replies
// contain want.
func (e *testEnv) waitAnswer(channel, root, want string) {
	e.t.Helper()
	err := e.WaitFor(e.ctx(), func(f *slackfake.Server) bool {
		return e.ThreadDone(channel, root) && strings.Contains(bottest.AnswerText(f, channel, root), want)
	})
	if err != nil {
		e.t.Fatalf("no answer %q: %v\n%s", want, err, e.Slack.Transcript(channel))
	}
}

// cardAfterDecision waits for the card's update after a decision.
func (e *testEnv) cardAfterDecision(channel, ts string) slackfake.Message {
	e.t.Helper()
	var m slackfake.Message
	err := e.WaitFor(e.ctx(), func(f *slackfake.Server) bool {
		m, _ = f.Message(channel, ts)
		return m.Updates > 0
	})
	if err != nil {
		e.t.Fatalf("card %s not updated: %v\n%s", ts, err, e.Slack.Transcript(channel))
	}
	return m
}

// waitEphemeral waits for an ephemeral message to user containing want.
func (e *testEnv) waitEphemeral(user, want string) slackfake.Ephemeral {
	e.t.Helper()
	var found slackfake.Ephemeral
	err := e.WaitFor(e.ctx(), func(f *slackfake.Server) bool {
		for _, eph := range f.Ephemerals() {
			if eph.User == user && strings.Contains(eph.Text, want) {
				found = eph
				return true
			}
		}
		return false
	})
	if err != nil {
		e.t.Fatalf("no ephemeral %q to %s: %v (have %+v)", want, user, err, e.Slack.Ephemerals())
	}
	return found
}

// resumeBodies are the run requests that carry command.resume.
func (e *testEnv) resumeBodies() []map[string]any {
	var out []map[string]any
	for _, b := range e.runBodies() {
		if _, ok := b["command"]; ok {
			out = append(out, b)
		}
	}
	return out
}

// checkResumeBody checks the only resume request: a run streamed on the
// conversation's thread like its first run, with command.resume =
// {decisions} and, as the Managed stream route requires one message, only
// the no-op system message as input.
func (e *testEnv) checkResumeBody(channel, root string, decisions []map[string]any) {
	e.t.Helper()
	var paths []string
	var resumes []map[string]any
	for _, r := range e.Runtime.Requests() {
		var b map[string]any
		if !r.StartsRun() || json.Unmarshal(r.Body, &b) != nil {
			continue
		}
		if _, ok := b["command"]; ok {
			resumes = append(resumes, b)
			paths = append(paths, r.Path)
		}
	}
	if len(resumes) != 1 {
		e.t.Fatalf("%d resume requests, want 1", len(resumes))
	}
	got := resumes[0]
	first := e.runBodies()[0]
	noOp := map[string]any{"messages": []any{map[string]any{"role": "system", "content": ""}}}
	if in, ok := got["input"]; ok && !reflect.DeepEqual(in, noOp) {
		e.t.Errorf("resume request carries input %v, want none or the no-op message", in)
	}
	var want []any
	for _, d := range decisions {
		want = append(want, d)
	}
	if cmd := got["command"]; !reflect.DeepEqual(cmd, map[string]any{"resume": map[string]any{"decisions": want}}) {
		raw, _ := json.Marshal(cmd)
		e.t.Errorf("command = %s, want decisions %v", raw, decisions)
	}
	if wantPath := "/threads/" + threadIDFor(channel, root) + "/runs/stream"; got["agent_id"] != agentMain || paths[0] != wantPath {
		e.t.Errorf("resume went to %s for agent %v, want %s for %s", paths[0], got["agent_id"], wantPath, agentMain)
	}
	for _, k := range []string{"multitask_strategy", "stream_mode", "stream_subgraphs", "stream_resumable", "on_disconnect"} {
		if !reflect.DeepEqual(got[k], first[k]) {
			e.t.Errorf("resume %s = %v, want %v as in the first run", k, got[k], first[k])
		}
	}
}

func checkStoredDecision(t *testing.T, e *testEnv, card slackfake.Message, by, decision string) {
	t.Helper()
	c := e.storedCard(card)
	if c.DecidedBy != by || string(c.Decision) != decision || c.DecidedAt.IsZero() {
		t.Errorf("stored decision by %q at %v: %s", c.DecidedBy, c.DecidedAt, c.Decision)
	}
}

// openedView is a modal the bot opened with views.open.
type openedView struct {
	ID              string `json:"id"`
	CallbackID      string `json:"callback_id"`
	PrivateMetadata string `json:"private_metadata"`
	Blocks          []struct {
		Type     string `json:"type"`
		BlockID  string `json:"block_id"`
		Optional bool   `json:"optional"`
		Element  struct {
			Type          string `json:"type"`
			ActionID      string `json:"action_id"`
			InitialValue  string `json:"initial_value"`
			InitialOption *struct {
				Value string `json:"value"`
			} `json:"initial_option"`
			Options []struct {
				Value string `json:"value"`
			} `json:"options"`
		} `json:"element"`
	} `json:"blocks"`
}

func (v openedView) radioOptions() map[string][]string {
	out := map[string][]string{}
	for _, b := range v.Blocks {
		if b.Element.Type == "radio_buttons" {
			for _, o := range b.Element.Options {
				out[b.BlockID] = append(out[b.BlockID], o.Value)
			}
		}
	}
	return out
}

func (v openedView) initialValue(blockID string) string {
	for _, b := range v.Blocks {
		if b.BlockID == blockID {
			return b.Element.InitialValue
		}
	}
	return ""
}

// openReview clicks the card's review button and returns the modal the bot
// opened with the click's trigger.
func (e *testEnv) openReview(user, channel string, card slackfake.Message) openedView {
	e.t.Helper()
	before := len(e.Slack.CallsTo("views.open"))
	e.clickCard(user, channel, card, "review")
	var call slackfake.Call
	err := e.WaitFor(e.ctx(), func(f *slackfake.Server) bool {
		calls := f.CallsTo("views.open")
		if len(calls) > before {
			call = calls[len(calls)-1]
			return true
		}
		return false
	})
	if err != nil || !call.OK {
		e.t.Fatalf("no modal opened: %v %+v", err, call)
	}
	if !strings.HasSuffix(call.Params["trigger_id"], ".trigger") {
		e.t.Errorf("views.open trigger_id %q is not the click's", call.Params["trigger_id"])
	}
	var v openedView
	if err := json.Unmarshal([]byte(call.Params["view"]), &v); err != nil {
		e.t.Fatalf("view %q: %v", call.Params["view"], err)
	}
	if v.CallbackID == "" || v.PrivateMetadata != approvalCardID(card) {
		e.t.Errorf("modal callback %q metadata %q, want the card id", v.CallbackID, v.PrivateMetadata)
	}
	return v
}

// submitView posts a view_submission payload signed like Slack's: every
// input block of the modal is in state.values; radio buttons keep their
// initial option unless values names another, text inputs hold values'
// entry or null.
func (e *testEnv) submitView(user string, v openedView, values map[string]string) (int, string) {
	e.t.Helper()
	state := map[string]any{}
	for _, b := range v.Blocks {
		if b.Type != "input" {
			continue
		}
		val, set := values[b.BlockID]
		var el map[string]any
		switch b.Element.Type {
		case "radio_buttons":
			el = map[string]any{"type": "radio_buttons", "selected_option": nil}
			if !set && b.Element.InitialOption != nil {
				val, set = b.Element.InitialOption.Value, true
			}
			if set {
				el["selected_option"] = map[string]any{"value": val, "text": map[string]any{"type": "plain_text", "text": val}}
			}
		default:
			el = map[string]any{"type": b.Element.Type, "value": nil}
			if !set && b.Element.InitialValue != "" {
				val, set = b.Element.InitialValue, true
			}
			if set {
				el["value"] = val
			}
		}
		state[b.BlockID] = map[string]any{b.Element.ActionID: el}
	}
	p := map[string]any{
		"type":       "view_submission",
		"team":       map[string]any{"id": bottest.Team, "domain": "sim"},
		"user":       map[string]any{"id": user, "name": user, "team_id": bottest.Team},
		"api_app_id": "ASIM",
		"trigger_id": fmt.Sprintf("%d.trigger", e.NextID()),
		"view": map[string]any{
			"id": v.ID, "team_id": bottest.Team, "type": "modal", "callback_id": v.CallbackID,
			"private_metadata": v.PrivateMetadata, "state": map[string]any{"values": state},
		},
	}
	code, resp, err := e.Interact(p)
	if err != nil {
		e.t.Fatalf("view submission: %v", err)
	}
	return code, resp
}
