package main

import (
	"testing"

	"github.com/deepagents-slack/slackbot/internal/agents"
	"github.com/deepagents-slack/slackbot/internal/agents/agentstest"
	"github.com/deepagents-slack/slackbot/internal/slackpost/slackfake"
)

// TestResumedRunIgnoresPausedRunWebhook: on the documented surface with
// PUBLIC_URL, the paused run's completion webhook (its values still hold
// the interrupt) arrives unclaimed; the user approves and the resumed run's
// stream drops, so only the webhook can tell its end. The resume keeps the
// job and its webhook URL, but the paused run's webhook must not count for
// the resumed run: no second card for the write already approved, and the
// answer arrives.
func TestResumedRunIgnoresPausedRunWebhook(t *testing.T) {
	e := newSurfaceEnv(t, surfaceCase{surface: agentstest.ManagedDocumented, publicURL: true}, rememberTea())
	root, card := e.startForCard(userAnna, chGeneral, "remember that we drink tea")
	// The first run is over and its webhook delivered: it waits in the bot.
	if err := e.Runtime.WaitIdle(e.ctx()); err != nil {
		t.Fatal(err)
	}
	e.Runtime.CutStreamsAfter(1)
	e.clickCard(userAnna, chGeneral, card, "approve")
	e.waitSlack("the resumed job to finish or pause", func(f *slackfake.Server) bool {
		again, ok := cardIn(f, chGeneral, root)
		return ok && approvalCardID(again) != approvalCardID(card) || e.ThreadDone(chGeneral, root)
	})
	if runs := e.Runtime.Runs(); len(runs) != 2 || runs[1].Status != agents.RunSuccess {
		t.Fatalf("runs %+v, want the paused run and its successful resume", runs)
	}
	if again, ok := cardIn(e.Slack, chGeneral, root); ok {
		t.Errorf("a second approval card (%s) for the write already approved:\n%s", approvalCardID(again), e.Slack.Transcript(chGeneral))
	}
	e.answeredOnce(chGeneral, root, "Saved to memory: the team drinks tea.")
}

// TestSecondInterruptGetsItsOwnCard: a runtime that never names its runs
// (no Content-Location, no metadata event). The run pauses, is approved,
// and the resumed run pauses again: the second interrupt gets a card of
// its own and waits for a decision; the first card's decision is never
// applied to it.
func TestSecondInterruptGetsItsOwnCard(t *testing.T) {
	const otherPath = "/memories/team-rituals.md"
	script := agentstest.Scripted(
		agentstest.Text("I'll remember that."),
		agentstest.MemoryWrite(prefsPath, "- the team drinks tea\n"),
		agentstest.Text("And the ritual too."),
		agentstest.MemoryWrite(otherPath, "- tea at four\n"),
		agentstest.Text("Saved both."),
	)
	e := newSurfaceEnv(t, surfaceCase{surface: agentstest.ManagedDocumented,
		extra: []agentstest.Option{agentstest.WithoutRunIDInStream()}}, script)
	root, first := e.startForCard(userAnna, chGeneral, "remember tea and the ritual")
	e.clickCard(userAnna, chGeneral, first, "approve")
	threadID := threadIDFor(chGeneral, root)
	var second slackfake.Message
	e.waitSlack("a second card or the second write", func(f *slackfake.Server) bool {
		if c, ok := cardIn(f, chGeneral, root); ok && approvalCardID(c) != approvalCardID(first) {
			second = c
			return true
		}
		th, _ := e.Runtime.Thread(threadID)
		return th.Memories[otherPath] != ""
	})
	if th, _ := e.Runtime.Thread(threadID); th.Memories[otherPath] != "" {
		t.Fatalf("the second write ran without anyone approving it:\n%s", e.Slack.Transcript(chGeneral))
	}
	if second.TS == "" {
		t.Fatalf("no second card:\n%s", e.Slack.Transcript(chGeneral))
	}
	e.clickCard(userAnna, chGeneral, second, "approve")
	e.waitAnswer(chGeneral, root, "Saved both.")
	th, _ := e.Runtime.Thread(threadID)
	if th.Memories[prefsPath] == "" || th.Memories[otherPath] == "" {
		t.Errorf("memories %v, want both written", th.Memories)
	}
	if n := len(e.Runtime.Runs()); n != 3 {
		t.Errorf("%d runs, want the first and two resumes", n)
	}
}
