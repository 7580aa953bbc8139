package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/deepagents-slack/slackbot"
	"github.com/deepagents-slack/slackbot/internal/slacktext"
)

// Reactions on users' messages.
const (
	reactQueued  = "hourglass_flowing_sand"
	reactWorking = "eyes"
	reactDone    = "white_check_mark"
	reactFailed  = "x"
	reactStopped = "octagonal_sign"
)

// Command answers a slash command. Prompts are recorded as work and acked
// with an empty reply: the root message the worker posts is the answer.
func (r *Relay) Command(ctx context.Context, c slackbot.Command) slackbot.Reply {
	word, rest := splitFirstWord(c.Text)
	testRun := false
	switch strings.ToLower(word) {
	case "", "help":
		return slackbot.Reply{Text: helpText(r.cfg.SlashCommand, r.cfg.Policy, c.ChannelID)}
	case "status":
		return slackbot.Reply{Text: statusText(r.cfg.Policy, c.ChannelID) + r.runtimeStatusText()}
	case "test":
		if !r.cfg.Policy.IsOps(c.UserID) {
			return slackbot.Reply{Text: opsOnlyText}
		}
		if rest == "" {
			return slackbot.Reply{Text: fmt.Sprintf(emptyTestText, r.cfg.SlashCommand)}
		}
		testRun = true
		c.Text = rest
	}
	if !r.cfg.Policy.Allows(c.ChannelID) {
		return slackbot.Reply{Text: notAllowedText}
	}
	id := c.TriggerID
	if id == "" {
		id = uuid.NewString()
	}
	job := slackbot.Job{
		ID:       "cmd:" + id,
		Key:      slackbot.Key{TeamID: c.TeamID, ChannelID: c.ChannelID},
		ThreadID: "cmd:" + id, // no conversation yet: the worker posts its root
		Kind:     kindCommand,
		State:    slackbot.JobAccepted,
		Payload: payload{
			UserID:      c.UserID,
			Text:        readableForAgent(c.Text),
			Echo:        strings.TrimSpace(c.Text),
			ResponseURL: c.ResponseURL,
			TestRun:     testRun,
		}.encode(),
	}
	if _, err := r.cfg.Store.AddJob(ctx, job); err != nil {
		r.log.Error("record slash command", "err", err)
		return slackbot.Reply{Text: "Sorry, I couldn't accept that right now. Please try again in a moment."}
	}
	r.log.Info("slash command accepted", "job", job.ID, "channel", c.ChannelID, "test_run", testRun)
	r.notify()
	return slackbot.Reply{}
}

// Message accepts a mention, a DM or a reply in a thread the bot owns.
// Exactly once: the job id is the message's (channel, ts), inserted
// atomically, so duplicate deliveries of one message — retries, or the
// app_mention and message events Slack sends for one mention — start one run.
func (r *Relay) Message(ctx context.Context, m slackbot.Message) error {
	in := r.inbound(m)
	conv, owned, err := r.conversationOf(ctx, in)
	if err != nil {
		return err
	}
	if !r.forBot(in, conv, owned) {
		return nil
	}
	// Mentioned inside a thread the bot did not start: the first run reads
	// what was said before.
	joined := !owned && !in.topLevel
	if !owned && !in.im && !r.cfg.Policy.Allows(m.ChannelID) {
		return r.refuseOnce(ctx, m)
	}
	prompt := readableForAgent(m.Text)
	if prompt == "" && len(m.Files) == 0 {
		return r.hintOnce(ctx, m)
	}
	conv, bind, queued, err := r.placeInThread(ctx, in, conv, owned, joined)
	if err != nil {
		return err
	}
	job := r.messageJob(in, conv, prompt, queued, joined)
	added, err := r.recordMessage(ctx, in, bind, job)
	if err != nil || !added {
		return err
	}
	in.log.Info("message accepted", "job", job.ID, "thread_id", conv.ThreadID, "new_conversation", !owned, "queued", queued)
	r.acknowledge(in, owned, queued)
	return nil
}

// inboundMessage is a message with what Message derives from it once.
type inboundMessage struct {
	m        slackbot.Message
	log      *slog.Logger
	key      slackbot.Key // the conversation it belongs to
	im       bool         // a DM: every message is for the bot
	topLevel bool         // not a reply in a thread
}

func (r *Relay) inbound(m slackbot.Message) inboundMessage {
	log := r.log.With("event_id", m.EventID, "channel", m.ChannelID, "ts", m.TS)
	if m.RetryNum > 0 {
		log = log.With("retry_num", m.RetryNum, "retry_reason", m.RetryReason)
	}
	in := inboundMessage{m: m, log: log, im: m.ChannelType == "im", topLevel: m.ThreadTS == "" || m.ThreadTS == m.TS}
	in.key = slackbot.Key{TeamID: m.TeamID, ChannelID: m.ChannelID, RootTS: m.TS}
	if !in.topLevel {
		in.key.RootTS = m.ThreadTS
	}
	return in
}

// conversationOf returns the conversation of a message's thread and
// whether there is one (the bot owns the thread).
//
// Only a thread reply can belong to a conversation the bot has: one
// rooted at a top-level message exists only if an earlier delivery of
// that same message (a retry, the app_mention/message twin) was
// accepted, and recordMessage's Record binds a conversation only if new
// and dedupes the job, so such a repeat is still caught. Top-level
// messages skip the lookup: no read on their ack path.
func (r *Relay) conversationOf(ctx context.Context, in inboundMessage) (slackbot.Conversation, bool, error) {
	if in.topLevel {
		return slackbot.Conversation{}, false, nil
	}
	conv, err := r.cfg.Store.Conversation(ctx, in.key)
	switch {
	case err == nil:
		return conv, true, nil
	case errors.Is(err, slackbot.ErrNotFound):
		return conv, false, nil
	}
	return conv, false, fmt.Errorf("look up conversation: %w", err)
}

// forBot reports whether a message asks the bot something: a DM, a
// mention, or a reply in a thread the bot owns.
func (r *Relay) forBot(in inboundMessage, conv slackbot.Conversation, owned bool) bool {
	if !owned && !in.im && !in.m.Mention {
		in.log.Debug("message ignored: not for the bot")
		return false
	}
	if owned && conv.MentionsOnly && !in.m.Mention {
		// A thread the bot joined belongs to its people: only a mention
		// asks the bot something.
		in.log.Debug("message ignored: a thread the bot joined, without a mention")
		return false
	}
	return true
}

// placeInThread returns the message's conversation: an owned thread's, in
// which the message may have to wait (queued), or a new one to bind. A
// thread gets its conversation no later than its first job, so only an
// owned thread can have work still open: that work runs first, this
// message waits its turn, and the user is shown so.
func (r *Relay) placeInThread(ctx context.Context, in inboundMessage, conv slackbot.Conversation, owned, joined bool) (_ slackbot.Conversation, bind *slackbot.Conversation, queued bool, _ error) {
	if owned {
		ahead, err := r.cfg.Store.UnfinishedJobs(ctx, conv.ThreadID)
		if err != nil {
			return conv, nil, false, fmt.Errorf("count open work: %w", err)
		}
		return conv, nil, ahead > 0, nil
	}
	conv = slackbot.Conversation{
		Key:       in.key,
		ThreadID:  slackbot.ThreadID(in.key),
		AgentID:   r.cfg.Policy.AgentFor(in.m.ChannelID),
		Options:   r.cfg.Policy.OptionsFor(in.m.ChannelID, false),
		StartedBy: in.m.UserID,
		CreatedAt: r.cfg.Now().UTC(),
		// In a DM every message is for the bot.
		MentionsOnly: joined && !in.im,
	}
	return conv, &conv, false, nil
}

// messageJob is the prompt job of a message.
func (r *Relay) messageJob(in inboundMessage, conv slackbot.Conversation, prompt string, queued, joined bool) slackbot.Job {
	m := in.m
	return slackbot.Job{
		ID:       "msg:" + m.ChannelID + ":" + m.TS,
		Key:      in.key,
		ThreadID: conv.ThreadID,
		Kind:     kindPrompt,
		State:    slackbot.JobAccepted,
		Payload: payload{
			UserID:        m.UserID,
			Text:          prompt,
			UserTeam:      m.UserTeam,
			MessageTS:     m.TS,
			ChannelType:   m.ChannelType,
			Queued:        queued && r.cfg.Reactions,
			ThreadContext: joined,
			Files:         sharedFiles(m.Files),
		}.encode(),
	}
}

// recordMessage writes, in one write durable before the ack, the
// conversation (if new) and the job. The job's id (channel and ts) is the
// dedupe key: it catches Slack's retries and the same message arriving as
// two events (app_mention and message), and is kept as long as a delivery
// claim would be (Retention), so the event id is not recorded as well. It
// reports whether the job is new: a duplicate delivery adds nothing.
func (r *Relay) recordMessage(ctx context.Context, in inboundMessage, bind *slackbot.Conversation, job slackbot.Job) (bool, error) {
	recorded, err := r.cfg.Store.Record(ctx, slackbot.Record{Conversation: bind, Job: &job})
	if err != nil {
		return false, fmt.Errorf("record message: %w", err)
	}
	if !recorded.JobAdded {
		r.metrics.DuplicateDelivery("message")
		in.log.Info("duplicate delivery ignored")
		return false, nil
	}
	return true, nil
}

// acknowledge shows the user their message was taken (a new DM thread's
// title, the queued reaction) and wakes a worker.
func (r *Relay) acknowledge(in inboundMessage, owned, queued bool) {
	if in.im && !owned {
		r.assistantTitle(in.m.ChannelID, in.key.RootTS, readableForAgent(in.m.Text))
	}
	if queued {
		r.react(in.m.ChannelID, in.m.TS, reactQueued)
	}
	r.notify()
}

// refuseOnce tells a user, once per message, that the bot is not enabled here.
func (r *Relay) refuseOnce(ctx context.Context, m slackbot.Message) error {
	first, err := r.cfg.Store.ClaimDelivery(ctx, "refusal:"+m.ChannelID+":"+m.TS)
	if err != nil {
		return fmt.Errorf("record refusal: %w", err)
	}
	if first {
		r.background(func(ctx context.Context) error {
			return r.cfg.Slack.Ephemeral(ctx, m.ChannelID, m.UserID, notAllowedText)
		})
	}
	return nil
}

// hintOnce answers a bare mention with how to use the bot.
func (r *Relay) hintOnce(ctx context.Context, m slackbot.Message) error {
	first, err := r.cfg.Store.ClaimDelivery(ctx, "hint:"+m.ChannelID+":"+m.TS)
	if err != nil {
		return fmt.Errorf("record hint: %w", err)
	}
	if first {
		r.background(func(ctx context.Context) error {
			return r.cfg.Slack.Ephemeral(ctx, m.ChannelID, m.UserID, "Hi! Mention me with a question or a task, e.g. `@me summarize this thread`.")
		})
	}
	return nil
}

// AssistantThreadStarted remembers a new AI app thread's context channel
// and offers suggested prompts in it.
func (r *Relay) AssistantThreadStarted(ctx context.Context, t slackbot.AssistantThread) error {
	if err := r.rememberContext(ctx, t); err != nil {
		return err
	}
	first, err := r.cfg.Store.ClaimDelivery(ctx, "event:"+t.EventID)
	if err != nil {
		return fmt.Errorf("record assistant thread: %w", err)
	}
	if !first {
		r.metrics.DuplicateDelivery("assistant_thread_started")
		return nil
	}
	r.background(func(ctx context.Context) error {
		return r.cfg.Slack.SetSuggestedPrompts(ctx, t.ChannelID, t.ThreadTS, "Try asking", r.cfg.SuggestedPrompts)
	})
	return nil
}

// react adds a status reaction in the background (reactions are a courtesy:
// a failure is logged, never shown). A message's reaction calls are made in
// the order asked for.
func (r *Relay) react(channel, ts, name string) {
	if !r.cfg.Reactions || ts == "" {
		return
	}
	r.courtesy.do("reactions:"+channel+":"+ts, slog.LevelWarn, func(ctx context.Context) error {
		return r.cfg.Slack.React(ctx, channel, ts, name)
	})
}

func (r *Relay) unreact(channel, ts, name string) {
	if !r.cfg.Reactions || ts == "" {
		return
	}
	r.courtesy.do("reactions:"+channel+":"+ts, slog.LevelWarn, func(ctx context.Context) error {
		return r.cfg.Slack.Unreact(ctx, channel, ts, name)
	})
}

// background runs a short Slack call off the ack path, owned by r.tasks so
// that Close waits for it.
func (r *Relay) background(f func(ctx context.Context) error) {
	err := r.tasks.Go(func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, backgroundTimeout)
		defer cancel()
		if err := f(ctx); err != nil {
			r.log.Warn("slack call", "err", err)
		}
	})
	if err != nil {
		r.log.Warn("slack call dropped: shutting down", "err", err)
	}
}

// backgroundTimeout bounds one background call, retries included.
const backgroundTimeout = 15 * time.Second

func splitFirstWord(s string) (word, rest string) {
	s = strings.TrimSpace(s)
	i := strings.IndexAny(s, " \t\n")
	if i < 0 {
		return s, ""
	}
	return s[:i], strings.TrimSpace(s[i+1:])
}

var slackToken = regexp.MustCompile(`<([@#!]?)([^<>|]+)(?:\|([^<>]*))?>`)

// readableForAgent turns Slack's encoded mentions and links into text the
// agent can read: <#C1|general> -> #general, <@U1|ann> -> @ann, <@U1> ->
// @U1, <https://x|x> -> x (https://x), and unescapes &lt; &gt; &amp;.
func readableForAgent(s string) string {
	s = slackToken.ReplaceAllStringFunc(s, func(tok string) string {
		m := slackToken.FindStringSubmatch(tok)
		sigil, target, label := m[1], m[2], m[3]
		switch sigil {
		case "@", "#":
			if label != "" {
				return sigil + label
			}
			return sigil + target
		case "!":
			if label != "" {
				return label
			}
			return "@" + strings.TrimPrefix(target, "subteam^")
		}
		if label != "" && label != target && !strings.HasSuffix(target, "/"+label) {
			return label + " (" + target + ")"
		}
		return strings.TrimPrefix(target, "mailto:")
	})
	return slacktext.Unescape(strings.TrimSpace(s))
}

// startConversation records, in one write, a conversation in the thread of
// a root message the bot posted (a slash command's, a test run's) and the
// prompt job that opens it, so no crash can leave the thread bound with no
// job to answer it. A repeat writes nothing new: a retried job's ids are the
// same, and the first binding of the thread wins.
func (r *Relay) startConversation(ctx context.Context, key slackbot.Key, agent, jobID string, p payload) (threadID string, err error) {
	conv := slackbot.Conversation{
		Key:       key,
		ThreadID:  slackbot.ThreadID(key),
		AgentID:   agent,
		Options:   r.cfg.Policy.OptionsFor(key.ChannelID, p.TestRun),
		StartedBy: p.UserID,
		CreatedAt: r.cfg.Now().UTC(),
	}
	job := slackbot.Job{
		ID:       jobID,
		Key:      key,
		ThreadID: conv.ThreadID,
		Kind:     kindPrompt,
		State:    slackbot.JobAccepted,
		Payload:  p.encode(),
	}
	if _, err := r.cfg.Store.Record(ctx, slackbot.Record{Conversation: &conv, Job: &job}); err != nil {
		return "", fmt.Errorf("record conversation and prompt: %w", err)
	}
	return conv.ThreadID, nil
}
