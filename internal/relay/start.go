package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/deepagents-slack/slackbot"
	"github.com/deepagents-slack/slackbot/internal/agents"
)

// unknownRunID stands for a streamed run whose id the runtime did not tell
// (no Content-Location, no metadata event): it cannot be joined, but the
// job must not look unstarted either.
const unknownRunID = "-"

// startedRun is a run just started: its id and, when it was started
// streaming, its open event stream (nil for a background run).
type startedRun struct {
	runID  string
	stream *agents.Stream
}

// prepareRun does what comes before a run start, all of it safe to
// repeat: for a new prompt, it makes sure of the conversation's thread with
// POST /threads {thread_id (our UUIDv5), if_exists: do_nothing, metadata[,
// agent_id, options]} and reports whether the run must instead create the
// thread through the seed route (a Managed Deep Agents API whose POST
// /threads does not take our thread_id, an earlier revision).
func (r *Relay) prepareRun(ctx context.Context, conv slackbot.Conversation, p payload) (seed bool, err error) {
	if p.Resume != nil {
		return false, nil
	}
	return r.needsSeed(ctx, conv)
}

// startRun starts the run of a prompt or resume job the best way the
// runtime allows (see prepareRun for seed):
//
//   - The run streams through POST /threads/{id}/runs/stream with
//     on_disconnect "continue": live on every surface, and a connection the
//     bot loses does not cancel the run.
//   - With seed, a conversation's first run goes through the seed POST
//     /threads/runs, a background run, which is followed by a join, the
//     completion webhook or the thread's values, whichever the runtime has.
//
// input is the run's input (nil for a resume).
//
// A stream whose run id the runtime did not name in Content-Location tells
// it in its first (metadata) event. That read is watched like every stream
// read: when the runtime stays silent for StreamIdleTimeout the stream is
// dropped and the run, whose id is then unknown, is followed through the
// webhook and the thread.
func (r *Relay) startRun(ctx context.Context, log *slog.Logger, conv slackbot.Conversation, job slackbot.Job, p payload, seed bool, input *agents.Input) (startedRun, error) {
	rt := r.cfg.Agents
	p.contextChannel = r.contextChannel(ctx, log, conv.Key, p)
	if seed {
		log.Info("starting with the seed POST /threads/runs: this runtime does not create threads with our thread_id")
		run, err := rt.CreateThreadRun(ctx, r.seedRequest(conv, job, p, input))
		if err != nil {
			return startedRun{}, err
		}
		return startedRun{runID: run.RunID}, nil
	}
	stream, err := rt.StreamRun(ctx, conv.ThreadID, r.streamRequest(conv, job, p, input))
	if err != nil {
		return startedRun{}, err
	}
	id := stream.RunID()
	if id == "" {
		stopWatch := r.watchStream(stream)
		id = stream.PeekRunID()
		if stopWatch() {
			log.Warn("run stream silent from its start; following the run through the webhook and the thread", "idle_timeout", r.cfg.StreamIdleTimeout)
			stream.Close()
			return startedRun{runID: unknownRunID}, nil
		}
	}
	if id == "" {
		id = unknownRunID
	}
	return startedRun{runID: id, stream: stream}, nil
}

// needsSeed makes sure the conversation's thread exists and reports
// whether it could not be created with our id, so the run must create it
// through the seed route.
func (r *Relay) needsSeed(ctx context.Context, conv slackbot.Conversation) (bool, error) {
	rt := r.cfg.Agents
	if rt.Dialect() == agents.Managed && rt.Capabilities().ThreadIDOnCreate == agents.No {
		// POST /threads would make a thread with another id each time.
		return r.threadMissing(ctx, conv.ThreadID)
	}
	_, err := rt.CreateThread(ctx, r.threadRequest(conv))
	if errors.Is(err, agents.ErrThreadIDNotHonoured) && rt.Dialect() == agents.Managed {
		if _, problem := r.RuntimeStatus(); problem != "" {
			r.log.Error("agent runtime cannot bring first answers back", "fix", problem)
		} else {
			r.log.Warn("POST /threads does not create threads with the thread_id asked for; first runs use POST /threads/runs")
		}
		return r.threadMissing(ctx, conv.ThreadID)
	}
	return false, err
}

func (r *Relay) threadMissing(ctx context.Context, threadID string) (bool, error) {
	_, err := r.cfg.Agents.GetThread(ctx, threadID)
	if agents.ErrorStatus(err) == http.StatusNotFound {
		return true, nil
	}
	return false, err
}

// threadRequest is the POST /threads body of a conversation. On an Agent
// Server there are no thread options: test_run and headless go into the
// metadata instead.
func (r *Relay) threadRequest(conv slackbot.Conversation) *agents.CreateThreadRequest {
	meta := map[string]any{
		"slack_team_id":    conv.Key.TeamID,
		"slack_channel_id": conv.Key.ChannelID,
		"slack_thread_ts":  conv.Key.RootTS,
		"slack_user_id":    conv.StartedBy,
	}
	req := &agents.CreateThreadRequest{
		AgentID: conv.AgentID, ThreadID: conv.ThreadID, IfExists: agents.IfExistsDoNothing, Metadata: meta,
	}
	if r.cfg.Agents.Dialect() == agents.AgentServer {
		meta["test_run"] = conv.Options.TestRun
		meta["skip_memory_write_protection"] = conv.Options.SkipMemoryWriteProtection
		return req
	}
	req.Options = &agents.ThreadOptions{
		TestRun:                   conv.Options.TestRun,
		SkipMemoryWriteProtection: conv.Options.SkipMemoryWriteProtection,
	}
	return req
}

// streamModes are what the bot reads: values for the final state and
// interrupts, messages-tuple for text as it streams, updates for tool calls.
var streamModes = []string{"values", "messages-tuple", "updates"}

// streamRequest is the POST /threads/{id}/runs/stream body of a job.
func (r *Relay) streamRequest(conv slackbot.Conversation, job slackbot.Job, p payload, input *agents.Input) *agents.RunRequest {
	req := &agents.RunRequest{
		Agent:             conv.AgentID,
		Metadata:          r.runMetadata(conv, p),
		MultitaskStrategy: "enqueue",
		StreamMode:        streamModes,
		StreamSubgraphs:   r.cfg.StreamSubgraphs,
		StreamResumable:   true,
		OnDisconnect:      agents.OnDisconnectContinue,
		Webhook:           r.webhookFor(webhookKey(job)),
	}
	if p.Resume != nil {
		req.Command = &agents.Command{Resume: p.Resume}
	} else {
		req.Input = input
	}
	if r.cfg.Agents.Dialect() == agents.AgentServer {
		req.Metadata["test_run"] = conv.Options.TestRun
		if conv.Options.SkipMemoryWriteProtection {
			// The flag is a Managed Deep Agents thread option; a graph on
			// an Agent Server can read it from the run's context or
			// configurable. Headless channels should still point at a graph
			// without approval middleware: an interrupt that comes anyway
			// gets an approval card, never an automatic approval.
			req.Context = map[string]any{"skip_memory_write_protection": true}
			req.Config = &agents.RunConfig{Configurable: map[string]any{"skip_memory_write_protection": true}}
		}
	}
	return req
}

// seedRequest builds the POST /threads/runs body for a job (Managed only).
func (r *Relay) seedRequest(conv slackbot.Conversation, job slackbot.Job, p payload, input *agents.Input) *agents.CreateRunRequest {
	th := r.threadRequest(conv)
	meta := map[string]string{}
	for k, v := range th.Metadata {
		meta[k] = fmt.Sprint(v)
	}
	runMeta := map[string]string{}
	for k, v := range r.runMetadata(conv, p) {
		runMeta[k] = fmt.Sprint(v)
	}
	req := &agents.CreateRunRequest{
		AgentID: conv.AgentID,
		Thread: &agents.ThreadSpec{
			ThreadID: conv.ThreadID, IfExists: agents.IfExistsDoNothing, Metadata: meta, Options: th.Options,
		},
		Metadata:          runMeta,
		MultitaskStrategy: "enqueue",
		StreamMode:        streamModes,
		StreamSubgraphs:   r.cfg.StreamSubgraphs,
		StreamResumable:   true,
		Webhook:           r.webhookFor(webhookKey(job)),
	}
	if p.Resume != nil {
		req.Command = &agents.Command{Resume: p.Resume}
	} else {
		req.Input = input
	}
	return req
}

func (r *Relay) runMetadata(conv slackbot.Conversation, p payload) map[string]any {
	messageTS := p.MessageTS
	if messageTS == "" {
		messageTS = conv.Key.RootTS
	}
	// slack_message_ts (and for a resume slack_card_id) identifies the run
	// when its start's answer is lost: see findStartedRun.
	meta := map[string]any{"slack_user_id": p.UserID, "slack_message_ts": messageTS}
	if p.Resume != nil {
		meta["slack_card_id"] = p.CardID
	}
	if p.contextChannel != "" {
		meta["slack_context_channel"] = p.contextChannel
	}
	return meta
}

// webhookFor is the completion webhook a run carries: only when the bot
// has a public URL and may need it, i.e. the runtime was not seen to offer
// both a run join and thread values.
func (r *Relay) webhookFor(key string) string {
	if r.cfg.WebhookURL == "" {
		return ""
	}
	c := r.cfg.Agents.Capabilities()
	if c.JoinStream == agents.Yes && c.ThreadState == agents.Yes {
		return ""
	}
	return r.webhookURL(key)
}

// canFollowBackgroundRuns reports whether a run the bot is not streaming
// (a seed run, or one whose stream dropped) can still bring its answer
// back: by joining it, through the completion webhook, or by reading the
// thread's values. Unknown counts as possible until tried.
func (r *Relay) canFollowBackgroundRuns() bool {
	c := r.cfg.Agents.Capabilities()
	return r.cfg.WebhookURL != "" || c.JoinStream != agents.No || c.ThreadState != agents.No
}

// RuntimeStatus describes the agent runtime and what the bot learned of it,
// for `/agent status` and start-up logs. Problems names the setting that
// fixes a configuration that cannot bring answers back.
func (r *Relay) RuntimeStatus() (text string, problem string) {
	rt := r.cfg.Agents
	c := rt.Capabilities()
	webhook := "off (set `PUBLIC_URL` to enable)"
	if r.cfg.WebhookURL != "" {
		webhook = "on"
	}
	text = fmt.Sprintf("*Runtime*: `%s` · run join: %s · thread values: %s · threads with our id: %s · completion webhook: %s · subgraph events: %s",
		rt.Dialect(), c.JoinStream, c.ThreadState, c.ThreadIDOnCreate, webhook, strconv.FormatBool(r.cfg.StreamSubgraphs))
	if rt.Dialect() == agents.Managed && c.ThreadIDOnCreate == agents.No && !r.canFollowBackgroundRuns() {
		problem = "This runtime does not create threads with the bot's thread ids and offers no run join or thread values, " +
			"so the answer to a conversation's first message cannot come back. Set `PUBLIC_URL` to the bot's public https URL " +
			"so the runtime's completion webhook can deliver it (over HTTP; Socket Mode has no webhook: use a runtime whose " +
			"POST /threads takes thread_id)."
	}
	return text, problem
}

// runtimeStatusText is the runtime part of `/agent status`.
func (r *Relay) runtimeStatusText() string {
	text, problem := r.RuntimeStatus()
	text = "\n" + text
	if problem != "" {
		text += "\n:warning: " + problem
	}
	return text
}
