package agents_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/deepagents-slack/slackbot/internal/agents/agentstest"
)

// TestFakeAgentServerContract points the contract checks written against a
// real @langchain/langgraph-api 2.0.0 server (agentserver_contract_test.go)
// at the fake's AgentServer surface, so the fake stays as faithful (and as
// refusing) as the real server.
func TestFakeAgentServerContract(t *testing.T) {
	s := agentstest.NewServer(agentstest.WithSurface(agentstest.AgentServer), agentstest.WithAPIKey(""), agentstest.FailSubgraphStreams())
	defer s.Close()
	s.AddAgent("agent", scriptedModel())
	s.AddAgent("headless", scriptedModel(), agentstest.WithoutApprovalMiddleware())
	checkAgentServerContract(t, s.URL, "agent")
}

// scriptedModel plays testdata/agentserver/src/scripted-model.js: what the
// agent does depends on words of the prompt.
func scriptedModel() agentstest.Script {
	const memoryFile = "/memories/preferences.md"
	return func(turn agentstest.Turn) []agentstest.Step {
		if turn.Resume != nil {
			if turn.Rejected() {
				return []agentstest.Step{agentstest.Text("Memory write result: No, do not save that.")}
			}
			return []agentstest.Step{agentstest.Text("Memory write result: Successfully wrote to '" + memoryFile + "'")}
		}
		prompt := turn.Text()
		words := strings.ToLower(prompt)
		// "slow" streams every chunk 150 ms apart, as the JS model does, so a
		// run lasts long enough to be attached to or cancelled while busy.
		text := func(s string) agentstest.Step {
			if !strings.Contains(words, "slow") {
				return agentstest.Text(chunks(s)...)
			}
			return agentstest.Text(chunks(s)...).Paced(150 * time.Millisecond)
		}
		switch {
		case strings.Contains(words, "fail"):
			return []agentstest.Step{agentstest.Fail("scripted model failure: the prompt asked the agent to fail")}
		case strings.Contains(words, "plan"):
			return []agentstest.Step{
				agentstest.Todos(
					agentstest.Todo{Content: "Read the question", Status: agentstest.TodoCompleted},
					agentstest.Todo{Content: "Draft the answer", Status: agentstest.TodoInProgress},
					agentstest.Todo{Content: "Check the answer", Status: agentstest.TodoPending}),
				agentstest.Text(chunks("Here is the **plan**, done:\n\n1. Read the question\n2. Draft the answer\n3. Check the answer")...),
			}
		case strings.Contains(words, "subagent"):
			return []agentstest.Step{
				agentstest.Subagent("general-purpose", "Look up the capital of France and report it in one sentence.",
					agentstest.Text("The capital of France is **Paris**.")),
				agentstest.Text("The subagent reported: The capital of France is **Paris**."),
			}
		case strings.Contains(words, "remember"):
			return []agentstest.Step{
				agentstest.MemoryWrite(memoryFile, "The user prefers short answers.\n"),
				agentstest.Text("Memory write result: Successfully wrote to '" + memoryFile + "'"),
			}
		case strings.Contains(words, "long"):
			var b strings.Builder
			b.WriteString("# A long answer\n\n")
			for i := 1; i <= 40; i++ {
				fmt.Fprintf(&b, "## Section %d\n\nParagraph %d of the long answer, with **bold**, _italics_ and `code`.\n\n- point %d.a\n- point %d.b\n\n", i, i, i, i)
			}
			b.WriteString("The end.")
			return []agentstest.Step{text(b.String())}
		}
		return []agentstest.Step{text("**Short answer.** You said: " + prompt)}
	}
}

// chunks splits s into 24-character chunks, as the scripted model streams.
func chunks(s string) []string {
	var out []string
	for len(s) > 24 {
		out = append(out, s[:24])
		s = s[24:]
	}
	return append(out, s)
}
