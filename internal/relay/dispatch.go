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
	log := r.log.With("event_id", m.EventID, "channel", m.ChannelID, "ts", m.TS)
	if m.RetryNum > 0 {
		log = log.With("retry_num", m.RetryNum, "retry_reason", m.RetryReason)
	}
	im := m.ChannelType == "im"
	topLevel := m.ThreadTS == "" || m.ThreadTS == m.TS
	key := slackbot.Key{TeamID: m.TeamID, ChannelID: m.ChannelID, RootTS: m.TS}
	if !topLevel {
		key.RootTS = m.ThreadTS
	}

	// Only a thread reply can belong to a conversation the bot has: one
	// rooted at a top-level message exists only if an earlier delivery of
	// that same message (a retry, the app_mention/message twin) was
	// accepted, and the Record below binds a conversation only if new and
	// dedupes the job, so such a repeat is still caught. Top-level messages
	// skip the lookup: no read on their ack path.
	var conv slackbot.Conversation
	owned := false
	if !topLevel {
		var err error
		conv, err = r.cfg.Store.Conversation(ctx, key)
		owned = err == nil
		if err != nil && !errors.Is(err, slackbot.ErrNotFound) {
			return fmt.Errorf("look up conversation: %w", err)
		}
	}
	if !owned && !im && !m.Mention {
		log.Debug("message ignored: not for the bot")
		return nil
	}
	if owned && conv.MentionsOnly && !m.Mention {
		// A thread the bot joined belongs to its people: only a mention
		// asks the bot something.
		log.Debug("message ignored: a thread the bot joined, without a mention")
		return nil
	}
	// Mentioned inside a thread the bot did not start: the first run reads
	// what was said before.
	joined := !owned && !topLevel
	if !owned && !im && !r.cfg.Policy.Allows(m.ChannelID) {
		return r.refuseOnce(ctx, m)
	}
	prompt := readableForAgent(m.Text)
	if prompt == "" && len(m.Files) == 0 {
		return r.hintOnce(ctx, m)
	}

	// A thread gets its conversation no later than its first job, so only
	// an owned thread can have work still open: that work runs first, this
	// message waits its turn, and the user is shown so.
	var bind *slackbot.Conversation
	queued := false
	if owned {
		ahead, err := r.cfg.Store.UnfinishedJobs(ctx, conv.ThreadID)
		if err != nil {
			return fmt.Errorf("count open work: %w", err)
		}
		queued = ahead > 0
	} else {
		conv = slackbot.Conversation{
			Key:       key,
			ThreadID:  slackbot.ThreadID(key),
			AgentID:   r.cfg.Policy.AgentFor(m.ChannelID),
			Options:   r.cfg.Policy.OptionsFor(m.ChannelID, false),
			StartedBy: m.UserID,
			CreatedAt: r.cfg.Now().UTC(),
			// In a DM every message is for the bot.
			MentionsOnly: joined && !im,
		}
		bind = &conv
	}
	job := slackbot.Job{
		ID:       "msg:" + m.ChannelID + ":" + m.TS,
		Key:      key,
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
	// One write, durable before the ack: the conversation (if new) and the
	// job. The job's id (channel and ts) is the dedupe key: it catches
	// Slack's retries and the same message arriving as two events
	// (app_mention and message), and is kept as long as a delivery claim
	// would be (Retention), so the event id is not recorded as well.
	recorded, err := r.cfg.Store.Record(ctx, slackbot.Record{Conversation: bind, Job: &job})
	if err != nil {
		return fmt.Errorf("record message: %w", err)
	}
	inserted := recorded.JobAdded
	if !inserted {
		r.metrics.DuplicateDelivery("message")
		log.Info("duplicate delivery ignored")
		return nil
	}
	log.Info("message accepted", "job", job.ID, "thread_id", conv.ThreadID, "new_conversation", !owned, "queued", queued)
	if im && !owned {
		r.assistantTitle(m.ChannelID, key.RootTS, readableForAgent(m.Text))
	}
	if queued {
		r.react(m.ChannelID, m.TS, reactQueued)
	}
	r.notify()
	return nil
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
