package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/deepagents-slack/slackbot"
	"github.com/deepagents-slack/slackbot/internal/agents"
	"github.com/deepagents-slack/slackbot/internal/agents/agentstest"
	"github.com/deepagents-slack/slackbot/internal/bottest"
)

// Channels, users and agents of the demo workspace.
const (
	demoGeneral  = "CGENERAL01"
	demoOpsTest  = "COPSTEST01"
	demoBroken   = "CBROKEN001"
	demoNotes    = "CNOTES0001"
	demoAlerts   = "CALERTS001"
	demoReports  = "CREPORTS01"
	demoDM       = "DANNA00001"
	demoAnna     = "UANNA00001"
	demoOmar     = "UOMAR00001"
	demoBen      = "UBEN000001"
	demoAgent    = "6f1c2a4e-3b7d-4c8e-9a10-2b3c4d5e6f70"
	demoMissing  = "deadbeef-0000-4000-8000-000000000404"
	demoDeadline = 60 * time.Second
)

// demoScript is a deep agent that plans, researches with a subagent and
// answers in Markdown; on later turns it answers follow-ups; asked to
// remember something it writes to its memory.
func demoScript() agentstest.Script {
	return func(t agentstest.Turn) []agentstest.Step {
		text := strings.ToLower(t.Text())
		switch {
		case t.Resume != nil && t.Rejected():
			return []agentstest.Step{agentstest.Text("Understood — I did not save that.")}
		case t.Resume != nil:
			return []agentstest.Step{agentstest.Text("Saved. I'll ", "keep that ", "in mind ", "from now on.")}
		case strings.Contains(text, "remember") && strings.Contains(text, "release notes"):
			// A memory write and a tool call at once: the card offers the
			// review modal.
			return []agentstest.Step{
				agentstest.Approvals(
					agentstest.MemoryWrite("/memories/team-preferences.md", "# Team preferences\n\n- Release notes: short bullet points, no emoji.\n"),
					agentstest.Approval("post_message", map[string]any{"channel": "#releases", "text": "From now on, release notes are short bullet points."},
						agents.DecisionApprove, agents.DecisionEdit, agents.DecisionReject),
				),
				agentstest.Text("Noted."),
			}
		case strings.Contains(text, "remember"):
			return []agentstest.Step{
				agentstest.MemoryWrite("/memories/team-preferences.md", "# Team preferences\n\n- Release notes: short bullet points, no emoji.\n"),
				agentstest.Text("Noted."),
			}
		case strings.Contains(text, "weekly report"):
			return []agentstest.Step{
				agentstest.WriteFile("/outputs/weekly-report.md", "# Weekly report\n\n- Shipped: Slack feedback buttons\n- Next: release naming\n"),
				agentstest.Text("The weekly report is attached: two bullet points, as the team likes them."),
			}
		case strings.Contains(text, "every incident"):
			return []agentstest.Step{agentstest.Text("Collecting incident reports… "), agentstest.Pause(10 * time.Minute), agentstest.Text("(never reached)")}
		case strings.Contains(text, "crash"):
			return []agentstest.Step{agentstest.Text("Let me look at "), agentstest.Fail("tool `logs_search` failed: upstream timeout after 30s")}
		case strings.Contains(t.Text(), "[File ") || len(t.Input) > 0 && len(t.Input[0].Blocks) > 0:
			return []agentstest.Step{agentstest.Text(demoFilesAnswer(t))}
		case t.Index > 0:
			return []agentstest.Step{agentstest.Text("Following up on ", "our thread: ", "*"+strings.TrimSpace(t.Text())+"* — ", "yes, the plan still holds.")}
		}
		return []agentstest.Step{
			agentstest.Todos(
				agentstest.Todo{Content: "Read the request", Status: agentstest.TodoCompleted},
				agentstest.Todo{Content: "Research options", Status: agentstest.TodoInProgress},
				agentstest.Todo{Content: "Write the answer", Status: agentstest.TodoPending},
			),
			agentstest.Subagent("researcher", "Find naming conventions", agentstest.Text("Looking at past releases…")),
			agentstest.Todos(
				agentstest.Todo{Content: "Read the request", Status: agentstest.TodoCompleted},
				agentstest.Todo{Content: "Research options", Status: agentstest.TodoCompleted},
				agentstest.Todo{Content: "Write the answer", Status: agentstest.TodoCompleted},
			),
			agentstest.Text("## Answer\n\n", "Here is what I found for **", t.Text(), "**:\n\n",
				"1. Keep names *short*\n", "2. See [the guide](https://example.com/guide)\n\n",
				"| option | score |\n|---|---|\n| aurora | 9 |\n| basalt | 7 |\n\n",
				"```go\nfmt.Println(\"hello\")\n```\n"),
		}
	}
}

// demoPNG is a 1×1 PNG: the screenshot a user shares in the demo.
var demoPNG = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89" +
	"\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x01\x01\x01\x00\x18\xdd\x8d\xb4\x00\x00\x00\x00IEND\xaeB`\x82")

// demoFilesAnswer is the demo agent's answer to a message with files: it
// says what reached it, as a real agent would read it.
func demoFilesAnswer(t agentstest.Turn) string {
	images := 0
	for _, b := range t.Input[0].Blocks {
		if b.Type == "image" {
			images++
		}
	}
	text := t.Text()
	logLine := ""
	if i := strings.Index(text, "ERROR "); i >= 0 {
		logLine = strings.SplitN(text[i:], "\n", 2)[0]
	}
	seen := fmt.Sprintf("I looked at your %d image(s) and your log", images)
	if images == 0 && strings.Contains(text, "an image, not passed to you") {
		seen = "This runtime passes me text only, so I know your screenshot by name; I read your log"
	}
	return fmt.Sprintf("%s. It says `%s`: the API container ran out of memory. Raise its limit above 512Mi or find the leak.", seen, logLine)
}

// demo runs the service against simulated Slack and agent runtime and
// prints the conversations as Slack users would read them.
func demo(ctx context.Context, stdout io.Writer, args []string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*demoDeadline)
	defer cancel()
	dir, err := os.MkdirTemp("", "deepagents-slack-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	verbose := len(args) > 0 && (args[0] == "-v" || args[0] == "--verbose")
	s, err := startDemoSim(ctx, dir, verbose)
	if err != nil {
		return fmt.Errorf("start demo: %w", err)
	}
	defer s.Close()

	p := &printer{w: stdout}
	p.title("Deep Agents in Slack — demo")
	p.line("The bot runs on %s with an embedded SQLite store, a simulated Managed Deep Agents", s.URL)
	p.line("runtime and a simulated Slack. Every step below is a real signed request to the bot.")
	for _, st := range demoSteps(s, p) {
		p.step(st.title)
		if err := st.do(ctx); err != nil {
			p.title("What Slack showed when the demo stopped")
			for _, ch := range s.Slack.Channels() {
				p.block(s.Slack.Transcript(ch))
			}
			return fmt.Errorf("%s: %w", st.title, err)
		}
	}
	return demoOutcome(ctx, s, p)
}

// startDemoSim starts the service in the demo workspace; verbose shows its
// own logs, for the curious.
func startDemoSim(ctx context.Context, dir string, verbose bool) (*sim, error) {
	logTo := io.Discard
	if verbose {
		logTo = os.Stderr
	}
	log := slog.New(slog.NewTextHandler(logTo, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, err := startSim(ctx, dir, log, func(c *Config) {
		c.Policy.DefaultAgent = demoAgent
		c.Policy.ChannelAgents[demoBroken] = demoMissing
		c.Policy.TestRunChannels[demoOpsTest] = true
		c.Policy.HeadlessChannels[demoAlerts] = true
		c.Policy.OpsUsers[demoOmar] = true
	}, bottest.WithAgent(demoAgent, demoScript()))
	if err != nil {
		return nil, err
	}
	for id, name := range map[string]string{demoAnna: "anna", demoOmar: "omar (ops)", demoBen: "ben", s.Slack.BotUserID(): "deep-agent"} {
		s.Slack.SetUserName(id, name)
	}
	return s, nil
}

// demoStep is one thing the demo's users do.
type demoStep struct {
	title string
	do    func(ctx context.Context) error
}

// demoSteps is the demo's script, in order.
func demoSteps(s *sim, p *printer) []demoStep {
	return []demoStep{
		{"1. anna types `/agent Suggest a name for our next release` in #general", func(ctx context.Context) error {
			return s.slashAndWait(ctx, demoAnna, demoGeneral, "Suggest a name for our next release")
		}},
		{"2. anna replies in that thread without mentioning the bot (a follow-up)", func(ctx context.Context) error {
			root := s.Slack.Messages(demoGeneral)[0].TS
			ev := s.UserSays(demoAnna, demoGeneral, "channel", "does the plan still hold?", root)
			return s.deliverAndWait(ctx, "Ev-followup", ev, demoGeneral, 2)
		}},
		{"3. ben @mentions the bot at the top of #general (Slack sends app_mention and message, and retries once)", func(ctx context.Context) error {
			return demoMentionTwice(ctx, s)
		}},
		{"4. anna sends the bot a DM", func(ctx context.Context) error {
			ev := s.UserSays(demoAnna, demoDM, "im", "Draft a two-line status update", "")
			return s.deliverAndWait(ctx, "Ev-dm", ev, demoDM, 1)
		}},
		{"5. omar (ops) posts `/agent test check the nightly pipeline` (test_run: true)", func(ctx context.Context) error {
			return s.slashAndWait(ctx, demoOmar, demoGeneral, "test check the nightly pipeline")
		}},
		{"6. ben tries `/agent test …` but is not in OPS_USERS", func(context.Context) error {
			_, body, err := s.Slash(demoBen, demoGeneral, "test please")
			p.line("   ack (ephemeral to ben): %s", ackText(body))
			return err
		}},
		{"7. anna uses `/agent` in #broken, whose CHANNEL_AGENTS entry names an agent that does not exist", func(ctx context.Context) error {
			return s.slashAndWait(ctx, demoAnna, demoBroken, "hello?")
		}},
		{"8. anna asks about a crash; the agent's tool fails mid-run", func(ctx context.Context) error {
			return s.slashAndWait(ctx, demoAnna, demoGeneral, "why did the deploy crash?")
		}},
		{"9. anna asks the agent to remember something in #notes; she reviews the requests in the modal and approves them on the card", func(ctx context.Context) error {
			return demoApproval(ctx, s, p)
		}},
		{"10. the same request in the headless #alerts channel: the write goes through, no card", func(ctx context.Context) error {
			return s.slashAndWait(ctx, demoAnna, demoAlerts, "remember: page the on-call for sev1 only")
		}},
		{"11. ops' deploy pipeline smoke-tests the agent from the command line, next to the running service", func(ctx context.Context) error {
			return demoTestRun(ctx, s, p)
		}},
		{"12. anna asks for the weekly report; the file the agent wrote comes with the answer, and she rates it 👍", func(ctx context.Context) error {
			return demoFileAndFeedback(ctx, s, p)
		}},
		{"13. ben starts a long job by mistake; anna's Stop is refused (not her run), ben's Stop stops it", func(ctx context.Context) error {
			return demoStop(ctx, s)
		}},
		{"14. ben @mentions the bot in #general with a screenshot and a log file attached (files in)", func(ctx context.Context) error {
			return demoFilesIn(ctx, s)
		}},
	}
}

// demoOutcome waits for the last updates and prints what Slack shows, what
// only their recipients saw, and the runs the bot started.
func demoOutcome(ctx context.Context, s *sim, p *printer) error {
	if err := s.Runtime.WaitIdle(ctx); err != nil {
		return err
	}
	// Let the last live updates and reactions land before printing.
	_ = s.WaitFor(ctx, bottest.Settled)

	p.title("What Slack shows")
	for _, ch := range []string{demoGeneral, demoDM, demoBroken, demoNotes, demoAlerts, demoOpsTest, demoReports} {
		p.block(s.Slack.Transcript(ch))
	}
	p.title("Ephemeral messages (only their recipient sees them)")
	for _, e := range s.Slack.Ephemerals() {
		p.line("to %s in %s: %s", e.User, e.Channel, oneLine(e.Text))
	}
	p.title("Runs the bot started on the agent runtime")
	for _, r := range s.Runtime.Runs() {
		p.line("thread %s  run %s  %-11s test_run=%-5v headless=%v", r.ThreadID, short(r.RunID), r.Status, r.Options.TestRun, r.Options.SkipMemoryWriteProtection)
	}
	root := s.Slack.Messages(demoGeneral)[0]
	key := slackbot.Key{TeamID: bottest.Team, ChannelID: demoGeneral, RootTS: root.TS}
	p.line("")
	p.line("Find a Slack thread's agent thread: uuidv5(URL namespace, %q) = %s", key.String(), slackbot.ThreadID(key))
	return nil
}

// demoTestRun runs `bot test-run` as a pipeline step would: a separate
// command with the service's environment, sharing its store and Slack.
func demoTestRun(ctx context.Context, s *sim, p *printer) error {
	const prompt = "smoke test: name one release"
	p.line("   $ bot test-run --channel %s --timeout 1m %q", demoOpsTest, prompt)
	var out bytes.Buffer
	err := run(ctx, []string{"test-run", "--channel", demoOpsTest, "--timeout", "1m", prompt}, s.Environ(nil), &out)
	for _, line := range strings.Split(strings.TrimRight(out.String(), "\n"), "\n") {
		p.line("   | %s", line)
	}
	if err != nil {
		p.line("   exit status 1: %v", err)
		return err
	}
	p.line("   exit status 0 (the answer is on stdout; its thread is in #%s below)", demoOpsTest)
	return nil
}

func ackText(body string) string {
	var ack struct {
		Text string `json:"text"`
	}
	if json.Unmarshal([]byte(body), &ack) != nil || ack.Text == "" {
		return "(empty ack)"
	}
	return oneLine(ack.Text)
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 160 {
		s = s[:157] + "..."
	}
	return s
}

func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

type printer struct{ w io.Writer }

func (p *printer) title(t string) {
	fmt.Fprintf(p.w, "\n== %s ==\n", t)
}
func (p *printer) step(t string)                { fmt.Fprintf(p.w, "\n%s\n", t) }
func (p *printer) line(format string, a ...any) { fmt.Fprintf(p.w, format+"\n", a...) }
func (p *printer) block(text string)            { fmt.Fprintf(p.w, "\n%s\n", strings.TrimRight(text, "\n")) }
