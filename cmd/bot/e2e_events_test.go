package main

import (
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/deepagents-slack/slackbot/internal/agents/agentstest"
	"github.com/deepagents-slack/slackbot/internal/bottest"
	"github.com/deepagents-slack/slackbot/internal/slackpost/slackfake"
)

// TestEventRetriesStartOneRun: Slack delivers one event four times (the
// original and three retries with X-Slack-Retry-Num/Reason); one run, one
// answer, and the retries show in the metrics.
func TestEventRetriesStartOneRun(t *testing.T) {
	t.Run("sequential retries", func(t *testing.T) {
		e := newTestEnv(t, agentstest.Echo(), nil, nil)
		ev := bottest.AsMention(e.Mention(userAnna, chGeneral, "what broke last night?", ""))
		for retry := range 4 {
			e.deliver("Ev-retried", ev, retry)
		}
		root := ev["ts"].(string)
		replies := e.waitReplies(chGeneral, root, 1)
		if len(replies) != 1 || !strings.Contains(bottest.MarkdownOf(replies[0]), "You said: what broke last night?") {
			t.Fatalf("replies = %+v\n%s", replies, e.Slack.Transcript(chGeneral))
		}
		if n := len(e.Runtime.RunRequests()); n != 1 {
			t.Errorf("%d run requests, want 1", n)
		}
		if got := e.metricSum("slackbot_event_retries_total"); got != 3 {
			t.Errorf("slackbot_event_retries_total = %v, want 3", got)
		}
		if got := e.metricSum("slackbot_duplicate_deliveries_total"); got != 3 {
			t.Errorf("slackbot_duplicate_deliveries_total = %v, want 3", got)
		}
	})
	t.Run("retries racing the original", func(t *testing.T) {
		e := newTestEnv(t, agentstest.Echo(), nil, nil)
		ev := bottest.AsMention(e.Mention(userAnna, chGeneral, "all at once", ""))
		var wg sync.WaitGroup
		for retry := range 4 {
			wg.Go(func() {
				if code, err := e.Event("Ev-racing", ev, retry); err != nil || code != http.StatusOK {
					t.Errorf("delivery %d: %d %v", retry, code, err)
				}
			})
		}
		wg.Wait()
		root := ev["ts"].(string)
		if replies := e.waitReplies(chGeneral, root, 1); len(replies) != 1 {
			t.Errorf("%d replies, want 1", len(replies))
		}
		if n := len(e.Runtime.RunRequests()); n != 1 {
			t.Errorf("%d run requests, want 1", n)
		}
	})
}

// TestMentionAndMessageEventsStartOneRun: Slack sends app_mention and
// message (different event ids) for one mention, in either order.
func TestMentionAndMessageEventsStartOneRun(t *testing.T) {
	for _, mentionFirst := range []bool{true, false} {
		name := "message first"
		if mentionFirst {
			name = "app_mention first"
		}
		t.Run(name, func(t *testing.T) {
			e := newTestEnv(t, agentstest.Echo(), nil, nil)
			msg := e.Mention(userAnna, chGeneral, "top level", "")
			pair := []map[string]any{bottest.AsMention(msg), msg}
			if !mentionFirst {
				slices.Reverse(pair)
			}
			e.deliver("Ev-pair-1", pair[0], 0)
			e.deliver("Ev-pair-2", pair[1], 0)
			root := msg["ts"].(string)
			e.waitReplies(chGeneral, root, 1)

			// The same inside the conversation's thread.
			reply := e.Mention(userBen, chGeneral, "in the thread", root)
			pair = []map[string]any{bottest.AsMention(reply), reply}
			if !mentionFirst {
				slices.Reverse(pair)
			}
			e.deliver("Ev-pair-3", pair[0], 0)
			e.deliver("Ev-pair-4", pair[1], 0)
			replies := e.waitReplies(chGeneral, root, 2)

			if n := len(e.Runtime.RunRequests()); n != 2 {
				t.Errorf("%d run requests, want 2 (one per mention)", n)
			}
			if len(replies) != 2 {
				t.Errorf("%d replies, want 2\n%s", len(replies), e.Slack.Transcript(chGeneral))
			}
		})
	}
}

// TestMessagesThatMustNotStartRuns: bots, the bot itself, edits,
// deletions, joins and other subtypes never start runs or post anything,
// even inside a thread the bot owns or with the bot's mention in them.
func TestMessagesThatMustNotStartRuns(t *testing.T) {
	e := newTestEnv(t, agentstest.Echo(), nil, nil)
	root := e.converse("Ev-owner", userAnna, chGeneral, "start")
	bot := "<@" + botUser + "> "
	ts := func(user string) string { return e.Slack.UserMessage(chGeneral, user, "x", root) }
	msg := func(fields map[string]any) map[string]any {
		ev := map[string]any{"type": "message", "channel": chGeneral, "channel_type": "channel", "thread_ts": root}
		for k, v := range fields {
			ev[k] = v
		}
		if _, ok := ev["ts"]; !ok {
			ev["ts"] = ts(userAnna)
		}
		ev["event_ts"] = ev["ts"]
		return ev
	}
	editedTS := ts(userAnna)
	tests := []struct {
		name string
		ev   map[string]any
	}{
		{"another bot's message", msg(map[string]any{"user": "UOTHERBOT1", "bot_id": "BOTHER0001", "text": bot + "loop?"})},
		{"bot_message subtype", msg(map[string]any{"subtype": "bot_message", "bot_id": "BOTHER0001", "text": bot + "loop?"})},
		{"the bot's own reply", msg(map[string]any{"user": botUser, "bot_id": botID, "text": "You said: start"})},
		{"the bot's own user without bot_id", msg(map[string]any{"user": botUser, "text": "hello"})},
		{"another bot's app_mention", bottest.AsMention(msg(map[string]any{"user": "UOTHERBOT1", "bot_id": "BOTHER0001", "text": bot + "do it"}))},
		{"message_changed", msg(map[string]any{"subtype": "message_changed", "hidden": true,
			"message":          map[string]any{"type": "message", "user": userAnna, "text": bot + "edited", "ts": editedTS, "thread_ts": root},
			"previous_message": map[string]any{"type": "message", "user": userAnna, "text": "x", "ts": editedTS, "thread_ts": root}})},
		{"edited app_mention", bottest.AsMention(msg(map[string]any{"user": userAnna, "text": bot + "edited", "ts": editedTS,
			"edited": map[string]any{"user": userAnna, "ts": ts(userAnna)}}))},
		{"message_deleted", msg(map[string]any{"subtype": "message_deleted", "hidden": true, "deleted_ts": editedTS,
			"previous_message": map[string]any{"type": "message", "user": userAnna, "text": "x", "ts": editedTS}})},
		{"channel_join", msg(map[string]any{"subtype": "channel_join", "user": userBen, "text": "<@" + userBen + "> has joined the channel", "thread_ts": nil})},
		{"channel_topic", msg(map[string]any{"subtype": "channel_topic", "user": userBen, "text": bot + "set the topic", "thread_ts": nil})},
	}
	calls := len(e.Slack.Calls())
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.ev["thread_ts"] == nil {
				delete(tc.ev, "thread_ts")
			}
			e.deliver("Ev-ignored-"+string(rune('a'+i)), tc.ev, 0)
			if e.hasJob(chGeneral, tc.ev["ts"].(string)) {
				t.Errorf("a job was recorded for it")
			}
		})
	}
	// A real follow-up afterwards is the only thing that starts a run.
	e.deliver("Ev-real", e.UserSays(userAnna, chGeneral, "channel", "real follow-up", root), 0)
	e.waitReplies(chGeneral, root, 2)
	bodies := e.runBodies()
	if len(bodies) != 2 || promptOf(bodies[1]) != "real follow-up" {
		t.Fatalf("run prompts: %v, want [start, real follow-up]", prompts(bodies))
	}
	for _, c := range e.Slack.Calls()[calls:] {
		if c.Method == "chat.postEphemeral" || (c.Method == "chat.postMessage" || c.Method == "chat.startStream") && c.Params["thread_ts"] != root {
			t.Errorf("unexpected Slack call %s %v", c.Method, c.Params)
		}
	}
	if n := len(bottest.BotReplies(e.Slack, chGeneral, root)); n != 2 {
		t.Errorf("%d bot replies, want 2", n)
	}
}

func prompts(bodies []map[string]any) []string {
	var out []string
	for _, b := range bodies {
		out = append(out, promptOf(b))
	}
	return out
}

// TestEventsEndpointAcks: url_verification is answered with its challenge;
// event types the bot does not handle, and app_rate_limited, get a 200 so
// Slack does not retry them.
func TestEventsEndpointAcks(t *testing.T) {
	e := newTestEnv(t, agentstest.Echo(), nil, nil)
	t.Run("url_verification", func(t *testing.T) {
		code, body, err := e.Post("/slack/events", "application/json",
			[]byte(`{"token":"unused","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}`), nil)
		if err != nil || code != http.StatusOK || body != "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" {
			t.Errorf("got %d %q %v, want 200 and the challenge", code, body, err)
		}
	})
	inner := []map[string]any{
		{"type": "reaction_added", "user": userAnna, "reaction": "tada", "item": map[string]any{"type": "message", "channel": chGeneral, "ts": "1.1"}, "event_ts": "1.2"},
		{"type": "team_join", "user": map[string]any{"id": userBen}, "event_ts": "1.3"},
		{"type": "assistant_thread_context_changed", "assistant_thread": map[string]any{"channel_id": chDM, "thread_ts": "1.4"}, "event_ts": "1.4"},
		{"type": "a_future_event_slack_go_does_not_know", "event_ts": "1.5"},
	}
	for i, ev := range inner {
		t.Run(ev["type"].(string), func(t *testing.T) {
			e.deliver("Ev-unknown-"+string(rune('a'+i)), ev, 0)
		})
	}
	for _, outer := range []string{
		`{"token":"unused","team_id":"TTEAM0001","minute_rate_limited":1518467820,"api_app_id":"ASIM","type":"app_rate_limited"}`,
		`{"token":"unused","team_id":"TTEAM0001","type":"some_new_outer_type"}`,
	} {
		code, body, err := e.Post("/slack/events", "application/json", []byte(outer), nil)
		if err != nil || code != http.StatusOK {
			t.Errorf("%s: %d %q %v, want 200", outer, code, body, err)
		}
	}
	if got := e.metricSum("slackbot_app_rate_limited_total"); got != 1 {
		t.Errorf("slackbot_app_rate_limited_total = %v, want 1", got)
	}
	if n := len(e.Runtime.RunRequests()); n != 0 {
		t.Errorf("%d run requests, want none", n)
	}
}

// TestThreadFollowUps: a plain reply in a bot-owned thread continues that
// conversation (same thread_id); a reply in a thread the bot does not own
// starts nothing; a mention in such a thread starts a conversation rooted
// at the thread.
func TestThreadFollowUps(t *testing.T) {
	e := newTestEnv(t, agentstest.Echo(), nil, nil)
	root := e.converse("Ev-start", userAnna, chGeneral, "first question")

	follow := e.UserSays(userBen, chGeneral, "channel", "and a follow-up", root)
	e.deliver("Ev-follow", follow, 0)
	e.waitReplies(chGeneral, root, 2)

	// Someone else's thread: a plain reply is not for the bot.
	other := e.UserSays(userBen, chGeneral, "channel", "lunch?", "")
	e.deliver("Ev-other-root", other, 0)
	otherRoot := other["ts"].(string)
	notOurs := e.UserSays(userAnna, chGeneral, "channel", "sure, noon", otherRoot)
	e.deliver("Ev-not-ours", notOurs, 0)
	if e.hasJob(chGeneral, notOurs["ts"].(string)) || e.hasJob(chGeneral, otherRoot) {
		t.Errorf("a job was recorded for a thread the bot does not own")
	}
	// Mentioned in that thread, the bot joins it: the conversation is rooted
	// at the thread, and later mentions there continue it (plain replies
	// stay between people: see TestMentionMidThread).
	joined := e.Mention(userAnna, chGeneral, "summarize this thread", otherRoot)
	e.deliver("Ev-joined", bottest.AsMention(joined), 0)
	e.waitReplies(chGeneral, otherRoot, 1)
	e.deliver("Ev-joined-follow", bottest.AsMention(e.Mention(userBen, chGeneral, "thanks, and the action items?", otherRoot)), 0)
	e.waitReplies(chGeneral, otherRoot, 2)

	bodies := e.runBodies()
	got := prompts(bodies)
	if len(got) != 4 || got[0] != "first question" || got[1] != "and a follow-up" ||
		!strings.HasSuffix(got[2], "\nsummarize this thread") || got[3] != "thanks, and the action items?" {
		t.Fatalf("prompts = %q", got)
	}
	want := []string{threadIDFor(chGeneral, root), threadIDFor(chGeneral, root), threadIDFor(chGeneral, otherRoot), threadIDFor(chGeneral, otherRoot)}
	if got := e.runThreadIDs(); !slices.Equal(got, want) {
		t.Errorf("run thread ids = %v, want %v", got, want)
	}
	// The follow-up is attributed to who wrote it; the thread to who started it.
	md, _ := bodies[1]["metadata"].(map[string]any)
	if md["slack_user_id"] != userBen || md["slack_message_ts"] != follow["ts"] {
		t.Errorf("follow-up run metadata = %v", md)
	}
	if th, _ := e.Runtime.Thread(threadIDFor(chGeneral, root)); th.Metadata["slack_user_id"] != userAnna || th.Metadata["slack_thread_ts"] != root {
		t.Errorf("thread metadata = %v", th.Metadata)
	}
}

// TestQuickFollowUpsAnsweredInOrder: two follow-ups sent while the thread's
// run is going: the second is marked queued until its turn and the answers
// arrive in order.
func TestQuickFollowUpsAnsweredInOrder(t *testing.T) {
	g := newGate()
	e := newTestEnv(t, g.echo(t.Context()), nil, nil)
	root := e.converse("Ev-start", userAnna, chGeneral, "start")

	g.hold("one")
	first := e.UserSays(userAnna, chGeneral, "channel", "one", root)
	e.deliver("Ev-one", first, 0)
	e.waitRuntime("the first follow-up's run", func(r *agentstest.Server) bool { return r.RunsStarted() == 2 })
	second := e.UserSays(userAnna, chGeneral, "channel", "two", root)
	e.deliver("Ev-two", second, 0)
	secondTS := second["ts"].(string)
	e.waitSlack("the queued reaction", func(f *slackfake.Server) bool {
		return slices.Contains(f.Reactions(chGeneral, secondTS), "hourglass_flowing_sand")
	})
	if n := len(e.Runtime.RunRequests()); n != 2 {
		t.Fatalf("%d run requests while the first follow-up runs, want 2 (the second waits its turn)", n)
	}
	g.release("one")

	replies := e.waitReplies(chGeneral, root, 3)
	var texts []string
	for _, r := range replies {
		texts = append(texts, bottest.MarkdownOf(r))
	}
	if len(texts) != 3 || !strings.Contains(texts[1], "You said: one") || !strings.Contains(texts[2], "You said: two") {
		t.Fatalf("answers out of order: %q", texts)
	}
	if got := prompts(e.runBodies()); !slices.Equal(got, []string{"start", "one", "two"}) {
		t.Errorf("runs = %q", got)
	}
	e.waitSlack("final reactions", func(f *slackfake.Server) bool {
		return slices.Equal(f.Reactions(chGeneral, secondTS), []string{"white_check_mark"}) &&
			slices.Equal(f.Reactions(chGeneral, first["ts"].(string)), []string{"white_check_mark"})
	})
	want := []string{"+hourglass_flowing_sand", "-hourglass_flowing_sand", "+eyes", "-eyes", "+white_check_mark"}
	if got := bottest.ReactionLog(e.Slack, chGeneral, secondTS); !slices.Equal(got, want) {
		t.Errorf("reactions on the second follow-up: %q, want %q", got, want)
	}
	if got := bottest.ReactionLog(e.Slack, chGeneral, first["ts"].(string)); !slices.Equal(got, []string{"+eyes", "-eyes", "+white_check_mark"}) {
		t.Errorf("reactions on the first follow-up: %q", got)
	}
}

// TestDMConversation: a top-level DM starts a conversation rooted at it, a
// reply in its thread continues it; the AI app status shows while each run
// is active and is cleared after.
func TestDMConversation(t *testing.T) {
	g := newGate()
	e := newTestEnv(t, g.echo(t.Context()), nil, nil)
	g.hold("draft a status update")
	dm := e.UserSays(userAnna, chDM, "im", "draft a status update", "")
	root := dm["ts"].(string)
	e.deliver("Ev-dm", dm, 0)
	e.waitSlack("the thinking status while the run is active", func(f *slackfake.Server) bool {
		return f.AssistantStatus(chDM, root) == thinking
	})
	g.release("draft a status update")
	e.waitReplies(chDM, root, 1)

	e.deliver("Ev-dm-reply", e.UserSays(userAnna, chDM, "im", "shorter please", root), 0)
	e.waitReplies(chDM, root, 2)
	if got := bottest.AnswerText(e.Slack, chDM, root); !strings.Contains(got, "You said: draft a status update") || !strings.Contains(got, "You said: shorter please") {
		t.Errorf("DM thread = %q", got)
	}
	if ids := e.runThreadIDs(); !slices.Equal(ids, []string{threadIDFor(chDM, root), threadIDFor(chDM, root)}) {
		t.Fatalf("DM runs on threads %q, want two on %s", ids, threadIDFor(chDM, root))
	}
	e.waitSlack("the status cleared", func(f *slackfake.Server) bool {
		return slices.Equal(bottest.StatusLog(f, chDM, root), []string{thinking, "", thinking, ""})
	})
	if s := e.Slack.AssistantStatus(chDM, root); s != "" {
		t.Errorf("status left as %q", s)
	}
}

// TestBotMentionStrippedFromPrompt: the agent gets the user's words without
// the bot's mention, with other mentions and links readable.
func TestBotMentionStrippedFromPrompt(t *testing.T) {
	tests := []struct{ text, want string }{
		{"<@UBOT00001> summarize the incident", "summarize the incident"},
		{"hey <@UBOT00001|deep-agent>, ask <@UBEN000001> about <#CGENERAL01|general>", "hey , ask @UBEN000001 about #general"},
		{"compare <https://example.com/a|the plan> with <#COTHER0001> <@UBOT00001>", "compare the plan (https://example.com/a) with #COTHER0001"},
		{"<!subteam^S123|@oncall> &lt;urgent&gt; <@UBOT00001> check <mailto:a@b.co|a@b.co>", "@oncall <urgent> check a@b.co (mailto:a@b.co)"},
	}
	e := newTestEnv(t, agentstest.Echo(), nil, nil)
	for i, tc := range tests {
		ev := e.UserSays(userAnna, chGeneral, "channel", tc.text, "")
		e.deliver("Ev-strip-"+string(rune('a'+i)), bottest.AsMention(ev), 0)
		e.waitReplies(chGeneral, ev["ts"].(string), 1)
	}
	bodies := e.runBodies()
	if len(bodies) != len(tests) {
		t.Fatalf("%d runs, want %d", len(bodies), len(tests))
	}
	for i, tc := range tests {
		if got := promptOf(bodies[i]); got != tc.want {
			t.Errorf("%q reached the agent as %q, want %q", tc.text, got, tc.want)
		}
	}
}

// TestStatusReactions: the user's message gets eyes when picked up and a
// check mark (or an x for a failed run) when done; with reactions off, none.
func TestStatusReactions(t *testing.T) {
	fails := func(turn agentstest.Turn) []agentstest.Step {
		if strings.Contains(turn.Text(), "break") {
			return []agentstest.Step{agentstest.Fail("tool exploded")}
		}
		return []agentstest.Step{agentstest.Text("done")}
	}
	tests := []struct {
		name      string
		reactions bool
		text      string
		want      []string // reaction calls on the user's message
		final     []string
	}{
		{"answered", true, "fine", []string{"+eyes", "-eyes", "+white_check_mark"}, []string{"white_check_mark"}},
		{"run failed", true, "break it", []string{"+eyes", "-eyes", "+x"}, []string{"x"}},
		{"reactions off", false, "fine", nil, nil},
		{"reactions off, run failed", false, "break it", nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEnv(t, fails, func(c *Config) { c.Reactions = tc.reactions }, nil)
			ev := e.Mention(userAnna, chGeneral, tc.text, "")
			ts := ev["ts"].(string)
			e.deliver("Ev-react", bottest.AsMention(ev), 0)
			e.waitReplies(chGeneral, ts, 1)
			e.waitSlack("the final reactions", func(f *slackfake.Server) bool {
				return slices.Equal(f.Reactions(chGeneral, ts), tc.final) && slices.Equal(bottest.ReactionLog(f, chGeneral, ts), tc.want)
			})
			if !tc.reactions {
				if n := len(e.Slack.CallsTo("reactions.add")) + len(e.Slack.CallsTo("reactions.remove")); n != 0 {
					t.Errorf("%d reaction calls with reactions off", n)
				}
			}
			if bad := bottest.FailedCalls(e.Slack); len(bad) != 0 {
				t.Errorf("Slack refused calls: %q", bad)
			}
		})
	}
}

// TestDeliveriesRememberedAcrossRestart: the service restarts on the same
// SQLite file; Slack's late retry of an event handled before the restart
// (and the other event of the same mention) start nothing.
func TestDeliveriesRememberedAcrossRestart(t *testing.T) {
	runtime := agentstest.NewServer()
	t.Cleanup(runtime.Close)
	runtime.AddAgent(agentMain, agentstest.Echo())
	dir := t.TempDir()
	// Each service gets a Slack fake of its own, so what the second one
	// does shows on its own calls.
	start := func() *testEnv { return startEnv(t, envSetup{runtime: runtime, dir: dir}) }
	first := start()
	msg := first.Mention(userAnna, chGeneral, "before the restart", "")
	mention := bottest.AsMention(msg)
	first.deliver("Ev-old", mention, 0)
	root := msg["ts"].(string)
	first.waitReplies(chGeneral, root, 1)
	first.stop()

	second := start()
	second.deliver("Ev-old", mention, 3)
	second.deliver("Ev-old-message-twin", msg, 1)
	// A new mention is answered: the restarted service works. (Another
	// channel: this Slack fake may reuse the old fake's ts values.)
	root2 := second.converse("Ev-new", userBen, chOther, "after the restart")
	if got := prompts(second.runBodies()); !slices.Equal(got, []string{"before the restart", "after the restart"}) {
		t.Errorf("runs = %q, want one per mention", got)
	}
	for _, c := range second.Slack.Calls() {
		if c.Params["channel"] == chGeneral {
			t.Errorf("the restarted service acted on the old mention: %s %v", c.Method, c.Params)
		}
	}
	if !second.ThreadDone(chOther, root2) {
		t.Errorf("new conversation not done")
	}
}

// TestAssistantThreadStarted: opening the bot as an AI app sets suggested
// prompts once even when Slack delivers the event twice; a message in that
// thread is a conversation rooted at the thread, with the thinking status
// while it runs.
func TestAssistantThreadStarted(t *testing.T) {
	g := newGate()
	e := newTestEnv(t, g.echo(t.Context()), nil, nil)
	threadTS := e.Slack.UserMessage(chDM, botUser, "", "")
	started := map[string]any{
		"type": "assistant_thread_started",
		"assistant_thread": map[string]any{
			"user_id": userAnna, "channel_id": chDM, "thread_ts": threadTS,
			"context": map[string]any{"channel_id": chGeneral, "team_id": bottest.Team},
		},
		"event_ts": threadTS,
	}
	e.deliver("Ev-assistant", started, 0)
	e.deliver("Ev-assistant", started, 1)
	e.waitSlack("suggested prompts", func(f *slackfake.Server) bool {
		return len(f.CallsTo("assistant.threads.setSuggestedPrompts")) > 0
	})

	g.hold("plan my week")
	ask := e.UserSays(userAnna, chDM, "im", "plan my week", threadTS)
	e.deliver("Ev-assistant-ask", ask, 0)
	e.waitSlack("the thinking status", func(f *slackfake.Server) bool { return f.AssistantStatus(chDM, threadTS) == thinking })
	g.release("plan my week")
	e.waitReplies(chDM, threadTS, 1)
	e.waitSlack("the status cleared", func(f *slackfake.Server) bool {
		return slices.Equal(bottest.StatusLog(f, chDM, threadTS), []string{thinking, ""})
	})

	calls := e.Slack.CallsTo("assistant.threads.setSuggestedPrompts")
	if len(calls) != 1 || !calls[0].OK || calls[0].Params["channel_id"] != chDM || calls[0].Params["thread_ts"] != threadTS {
		t.Errorf("setSuggestedPrompts calls = %+v, want one for the thread", calls)
	}
	if ids := e.runThreadIDs(); !slices.Equal(ids, []string{threadIDFor(chDM, threadTS)}) {
		t.Errorf("runs on threads %q, want one in %s", ids, threadIDFor(chDM, threadTS))
	}
}

// TestAssistantStatusInChannelThreads: the AI-app status shows in every
// thread the bot works in, not only DMs, with loading messages, and is
// cleared when the answer is in.
func TestAssistantStatusInChannelThreads(t *testing.T) {
	g := newGate()
	e := newTestEnv(t, g.echo(t.Context()), nil, nil)
	g.hold("check the build")
	ev := bottest.AsMention(e.Mention(userAnna, chGeneral, "check the build", ""))
	root := ev["ts"].(string)
	e.deliver("Ev-status", ev, 0)
	e.waitSlack("the status in the channel thread", func(f *slackfake.Server) bool {
		return f.AssistantStatus(chGeneral, root) == thinking && len(f.AssistantLoadingMessages(chGeneral, root)) > 0
	})
	g.release("check the build")
	e.waitReplies(chGeneral, root, 1)
	e.waitSlack("the status cleared", func(f *slackfake.Server) bool {
		return slices.Equal(bottest.StatusLog(f, chGeneral, root), []string{thinking, ""})
	})
}
