package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/deepagents-slack/slackbot/internal/agents"
	"github.com/deepagents-slack/slackbot/internal/agents/agentstest"
	"github.com/deepagents-slack/slackbot/internal/bottest"
)

// TestRealAgentServerScenarios runs the bot, wired as in production with
// AGENT_RUNTIME=agent-server, against a real LangGraph JS Agent Server
// serving the scripted deepagents graphs of
// internal/agents/testdata/agentserver. It runs when AGENT_SERVER_URL is set:
//
//	internal/agents/testdata/agentserver/run.sh 2124 &
//	AGENT_SERVER_URL=http://127.0.0.1:2124 go test -race -run TestRealAgentServerScenarios ./cmd/bot/
func TestRealAgentServerScenarios(t *testing.T) {
	url := os.Getenv("AGENT_SERVER_URL")
	if url == "" {
		t.Skip("AGENT_SERVER_URL is not set: start internal/agents/testdata/agentserver/run.sh <port> to run this test")
	}
	// The bot names a conversation's thread uuidv5(team, channel, root ts)
	// and the Slack fake's ts restart from the clock's second on every run,
	// so with fixed channels a run started within the same second as an
	// earlier one on the same server would continue that run's threads.
	// Channels unique to this run keep every thread fresh.
	chGeneral, chHeadless := freshChannel(t, "CRG"), freshChannel(t, "CRH")

	// startSim takes a fake runtime; point the bot at the real server instead.
	placeholder := agentstest.NewServer(agentstest.WithSurface(agentstest.AgentServer))
	t.Cleanup(placeholder.Close)
	placeholder.URL = strings.TrimRight(url, "/")
	e := startEnv(t, envSetup{runtime: placeholder, configure: func(c *Config) {
		c.Runtime = agents.AgentServer
		c.APIKey = ""
		c.Policy.DefaultAgent = "agent"
		c.Policy.ChannelAgents[chHeadless] = "headless"
		c.Policy.HeadlessChannels[chHeadless] = true
		c.Policy.OpsUsers[userOmar] = true
	}})

	t.Run("slash command", func(t *testing.T) {
		root := e.ask(userAnna, chGeneral, "hello there")
		e.answeredOnce(chGeneral, root, "You said: hello there")
		// A fresh thread: the server holds this conversation's run only.
		if runs := serverRuns(t, placeholder.URL, threadIDFor(chGeneral, root)); runs != 1 {
			t.Errorf("the server's thread for %s/%s has %d runs, want 1", chGeneral, root, runs)
		}
	})
	t.Run("follow-up", func(t *testing.T) {
		root := e.ask(userAnna, chGeneral, "first question")
		e.deliver("Ev-real-follow", e.UserSays(userBen, chGeneral, "channel", "and a follow-up", root), 0)
		e.waitReplies(chGeneral, root, 2)
		e.answeredOnce(chGeneral, root, "You said: and a follow-up")
	})
	t.Run("long answer", func(t *testing.T) {
		root := e.ask(userAnna, chGeneral, "a long answer please")
		if got := bottest.AnswerText(e.Slack, chGeneral, root); !strings.Contains(got, "Section 40") || !strings.Contains(got, "The end.") {
			t.Errorf("long answer incomplete: %d chars", len(got))
		}
	})
	t.Run("plan and subagent", func(t *testing.T) {
		root := e.ask(userAnna, chGeneral, "make a plan")
		e.answeredOnce(chGeneral, root, "Here is the **plan**, done")
		root = e.ask(userAnna, chGeneral, "use a subagent")
		e.answeredOnce(chGeneral, root, "The subagent reported")
		reply := bottest.BotReplies(e.Slack, chGeneral, root)[0]
		saw := false
		for _, c := range replyWrites(e.Slack.Calls(), chGeneral, root, reply.TS) {
			activity := strings.Join(callBlocks(c).contexts, "\n")
			saw = saw || strings.Contains(activity, "general-purpose")
		}
		t.Logf("subagent line shown live: %v (the scripted subagent is quick)", saw)
	})
	t.Run("memory-write approval", func(t *testing.T) {
		root, card := e.startForCard(userAnna, chGeneral, "remember that I like short answers")
		e.clickCard(userAnna, chGeneral, card, "approve")
		e.waitAnswer(chGeneral, root, "Memory write result: Successfully wrote")
	})
	t.Run("headless graph", func(t *testing.T) {
		root := e.ask(userAnna, chHeadless, "remember this")
		e.answeredOnce(chHeadless, root, "Successfully wrote")
	})
	t.Run("test run", func(t *testing.T) {
		root := e.ask(userOmar, chGeneral, "test check the pipeline")
		e.answeredOnce(chGeneral, root, "You said: check the pipeline")
	})
	t.Run("failing run", func(t *testing.T) {
		root := e.ask(userAnna, chGeneral, "please fail")
		e.answeredOnce(chGeneral, root, "scripted model failure")
	})
}

// freshChannel is a Slack channel id no earlier run used.
func freshChannel(t *testing.T, prefix string) string {
	t.Helper()
	var b [5]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return prefix + strings.ToUpper(hex.EncodeToString(b[:]))
}

// serverRuns counts the runs the Agent Server at baseURL holds for a thread.
func serverRuns(t *testing.T, baseURL, threadID string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, baseURL+"/threads/"+threadID+"/runs", nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET runs of thread %s: %v", threadID, err)
	}
	defer res.Body.Close()
	var runs []json.RawMessage
	if err := json.NewDecoder(res.Body).Decode(&runs); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET runs of thread %s: status %d, %v", threadID, res.StatusCode, err)
	}
	return len(runs)
}
