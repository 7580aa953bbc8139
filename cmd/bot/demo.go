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
	"github.com/deepagents-slack/slackbot/internal/slackpost/slackfake"
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

	runtime := agentstest.NewServer()
	defer runtime.Close()
	runtime.AddAgent(demoAgent, demoScript())

	logTo := io.Discard
	if len(args) > 0 && (args[0] == "-v" || args[0] == "--verbose") {
		logTo = os.Stderr // the service's own logs, for the curious
	}
	quiet := slog.New(slog.NewTextHandler(logTo, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, err := startSim(ctx, dir, quiet, runtime, func(c *Config) {
		c.Policy.DefaultAgent = demoAgent
		c.Policy.ChannelAgents[demoBroken] = demoMissing
		c.Policy.TestRunChannels[demoOpsTest] = true
		c.Policy.HeadlessChannels[demoAlerts] = true
		c.Policy.OpsUsers[demoOmar] = true
	})
	if err != nil {
		return fmt.Errorf("start demo: %w", err)
	}
	defer s.Close()
	for id, name := range map[string]string{demoAnna: "anna", demoOmar: "omar (ops)", demoBen: "ben", s.Slack.BotUserID(): "deep-agent"} {
		s.Slack.SetUserName(id, name)
	}

	p := &printer{w: stdout}
	p.title("Deep Agents in Slack — demo")
	p.line("The bot runs on %s with an embedded SQLite store, a simulated Managed Deep Agents", s.URL)
	p.line("runtime and a simulated Slack. Every step below is a real signed request to the bot.")

	steps := []struct {
		title string
		do    func() error
	}{
		{"1. anna types `/agent Suggest a name for our next release` in #general", func() error {
			return s.slashAndWait(ctx, demoAnna, demoGeneral, "Suggest a name for our next release")
		}},
		{"2. anna replies in that thread without mentioning the bot (a follow-up)", func() error {
			root := s.Slack.Messages(demoGeneral)[0].TS
			ev := s.UserSays(demoAnna, demoGeneral, "channel", "does the plan still hold?", root)
			return s.deliverAndWait(ctx, "Ev-followup", ev, demoGeneral, 2)
		}},
		{"3. ben @mentions the bot at the top of #general (Slack sends app_mention and message, and retries once)", func() error {
			ev := s.UserSays(demoBen, demoGeneral, "channel", "<@"+s.Slack.BotUserID()+"> what changed since last week?", "")
			if _, err := s.Event("Ev-mention-a", AsMention(ev), 0); err != nil {
				return err
			}
			if _, err := s.Event("Ev-mention-a", AsMention(ev), 1); err != nil {
				return err
			}
			return s.deliverAndWait(ctx, "Ev-mention-b", ev, demoGeneral, 1)
		}},
		{"4. anna sends the bot a DM", func() error {
			ev := s.UserSays(demoAnna, demoDM, "im", "Draft a two-line status update", "")
			return s.deliverAndWait(ctx, "Ev-dm", ev, demoDM, 1)
		}},
		{"5. omar (ops) posts `/agent test check the nightly pipeline` (test_run: true)", func() error {
			return s.slashAndWait(ctx, demoOmar, demoGeneral, "test check the nightly pipeline")
		}},
		{"6. ben tries `/agent test …` but is not in OPS_USERS", func() error {
			_, body, err := s.Slash(demoBen, demoGeneral, "test please")
			p.line("   ack (ephemeral to ben): %s", ackText(body))
			return err
		}},
		{"7. anna uses `/agent` in #broken, whose CHANNEL_AGENTS entry names an agent that does not exist", func() error {
			return s.slashAndWait(ctx, demoAnna, demoBroken, "hello?")
		}},
		{"8. anna asks about a crash; the agent's tool fails mid-run", func() error {
			return s.slashAndWait(ctx, demoAnna, demoGeneral, "why did the deploy crash?")
		}},
		{"9. anna asks the agent to remember something in #notes; she reviews the requests in the modal and approves them on the card", func() error {
			if _, _, err := s.Slash(demoAnna, demoNotes, "remember: release notes are short bullet points"); err != nil {
				return err
			}
			if err := s.WaitFor(ctx, func(f *slackfake.Server) bool { _, ok := s.findButtons(demoNotes); return ok }); err != nil {
				return fmt.Errorf("no approval card appeared: %w\n%s", err, s.Slack.Transcript(demoNotes))
			}
			card, _ := s.findButtons(demoNotes)
			// Anna first opens the review modal ("Review each…") to read the requests in full.
			if _, err := s.Click(demoAnna, demoNotes, card.TS, card.ThreadTS, "approval:review", cardValue(s, card)); err != nil {
				return err
			}
			if err := s.WaitFor(ctx, func(f *slackfake.Server) bool { return len(f.Views()) > 0 }); err != nil {
				return fmt.Errorf("the review modal did not open: %w", err)
			}
			v := s.Slack.Views()[0]
			p.line("   modal opened for anna: [%s]  %s  [%s] [%s]", v.Title, oneLine(v.Rendered), v.Close, v.Submit)
			if _, err := s.Click(demoBen, demoNotes, card.TS, card.ThreadTS, "approval:approve", cardValue(s, card)); err != nil {
				return err
			}
			if _, err := s.Click(demoAnna, demoNotes, card.TS, card.ThreadTS, "approval:approve", cardValue(s, card)); err != nil {
				return err
			}
			return s.WaitFor(ctx, func(f *slackfake.Server) bool { return s.ThreadDone(demoNotes, card.ThreadTS) })
		}},
		{"10. the same request in the headless #alerts channel: the write goes through, no card", func() error {
			return s.slashAndWait(ctx, demoAnna, demoAlerts, "remember: page the on-call for sev1 only")
		}},
		{"11. ops' deploy pipeline smoke-tests the agent from the command line, next to the running service", func() error {
			return demoTestRun(ctx, s, p)
		}},
		{"12. anna asks for the weekly report; the file the agent wrote comes with the answer, and she rates it 👍", func() error {
			return demoFileAndFeedback(ctx, s, p, runtime)
		}},
		{"13. ben starts a long job by mistake; anna's Stop is refused (not her run), ben's Stop stops it", func() error {
			return demoStop(ctx, s, p)
		}},
		{"14. ben @mentions the bot in #general with a screenshot and a log file attached (files in)", func() error {
			shot := s.Slack.AddFile("error-dialog.png", "image/png", demoPNG)
			log := s.Slack.AddFile("api-7.log", "text/plain", []byte("12:03:55 ERROR OOMKilled: container api exceeded 512Mi\n"))
			ev := s.UserShares(demoBen, demoGeneral, "channel", "<@"+s.Slack.BotUserID()+"> what is going on here?", "", shot, log)
			return s.deliverAndWait(ctx, "Ev-files", AsMention(ev), demoGeneral, 1)
		}},
	}
	for _, st := range steps {
		p.step(st.title)
		if err := st.do(); err != nil {
			p.title("What Slack showed when the demo stopped")
			for _, ch := range s.Slack.Channels() {
				p.block(s.Slack.Transcript(ch))
			}
			return fmt.Errorf("%s: %w", st.title, err)
		}
	}
	if err := runtime.WaitIdle(ctx); err != nil {
		return err
	}
	// Let the last live updates and reactions land before printing.
	_ = s.WaitFor(ctx, func(f *slackfake.Server) bool { return settled(f) })

	p.title("What Slack shows")
	for _, ch := range []string{demoGeneral, demoDM, demoBroken, demoNotes, demoAlerts, demoOpsTest, demoReports} {
		p.block(s.Slack.Transcript(ch))
	}
	p.title("Ephemeral messages (only their recipient sees them)")
	for _, e := range s.Slack.Ephemerals() {
		p.line("to %s in %s: %s", e.User, e.Channel, oneLine(e.Text))
	}
	p.title("Runs the bot started on the agent runtime")
	for _, r := range runtime.Runs() {
		p.line("thread %s  run %s  %-11s test_run=%-5v headless=%v", r.ThreadID, short(r.RunID), r.Status, r.Options.TestRun, r.Options.SkipMemoryWriteProtection)
	}
	root := s.Slack.Messages(demoGeneral)[0]
	key := slackbot.Key{TeamID: simTeam, ChannelID: demoGeneral, RootTS: root.TS}
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

// slashAndWait sends a slash command and waits for its thread to get a
// final answer, failure note or approval card.
func (s *sim) slashAndWait(ctx context.Context, user, channel, text string) error {
	_, err := s.SlashThread(ctx, user, channel, text)
	return err
}

// SlashThread sends a slash command and returns the root of the thread it
// started once the bot finished its work there.
func (s *sim) SlashThread(ctx context.Context, user, channel, text string) (string, error) {
	before := lastRoot(s.Slack, channel)
	code, body, err := s.Slash(user, channel, text)
	if err != nil {
		return "", err
	}
	if code != 200 || body != "" {
		return "", fmt.Errorf("slash command answered %d %q, want an empty ack", code, body)
	}
	var root string
	err = s.WaitFor(ctx, func(f *slackfake.Server) bool {
		root = lastRoot(f, channel)
		return root != before && s.ThreadDone(channel, root)
	})
	return root, err
}

// lastRoot is the ts of the newest top-level message in channel.
func lastRoot(f *slackfake.Server, channel string) string {
	ts := ""
	for _, m := range f.Messages(channel) {
		if m.ThreadTS == "" || m.ThreadTS == m.TS {
			ts = m.TS
		}
	}
	return ts
}

// deliverAndWait delivers a message event and waits until the thread it
// belongs to has `answers` settled bot replies.
func (s *sim) deliverAndWait(ctx context.Context, eventID string, ev map[string]any, channel string, answers int) error {
	if _, err := s.Event(eventID, ev, 0); err != nil {
		return err
	}
	root, _ := ev["thread_ts"].(string)
	if root == "" {
		root = ev["ts"].(string)
	}
	return s.WaitFor(ctx, func(f *slackfake.Server) bool {
		n := 0
		for _, m := range f.Thread(channel, root) {
			if m.IsBot() && !m.Streaming && !isPlaceholder(m) {
				n++
			}
		}
		return n >= answers && s.ThreadDone(channel, root)
	})
}

// threadSettled: every bot reply in the thread is final (not a placeholder,
// not streaming) and there is at least one.
func threadSettled(f *slackfake.Server, channel, root string) bool {
	bots := 0
	for _, m := range f.Thread(channel, root) {
		if !m.IsBot() || m.TS == root {
			continue
		}
		bots++
		if m.Streaming || isPlaceholder(m) {
			return false
		}
	}
	return bots > 0
}

func settled(f *slackfake.Server) bool {
	for _, ch := range f.Channels() {
		for _, m := range f.Messages(ch) {
			if m.IsBot() && (m.Streaming || isPlaceholder(m)) {
				return false
			}
		}
	}
	return true
}

func isPlaceholder(m slackfake.Message) bool {
	return strings.Contains(m.Rendered, "Working on it") || strings.Contains(m.Rendered, "Resuming…")
}

func (s *sim) findButtons(channel string) (slackfake.Message, bool) {
	for _, m := range s.Slack.Messages(channel) {
		if len(m.Buttons) > 0 {
			return m, true
		}
	}
	return slackfake.Message{}, false
}

// cardValue reads the card id the buttons carry.
func cardValue(s *sim, m slackfake.Message) string {
	return buttonValue(m.Blocks, "approval:approve")
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
