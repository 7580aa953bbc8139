package relay

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/deepagents-slack/slackbot"
	"github.com/deepagents-slack/slackbot/internal/agents/agentstest"
	"github.com/deepagents-slack/slackbot/internal/threadmap"
)

// recordOnly refuses to start a conversation in two writes: a crash
// between them would leave a thread bound with no job to answer it.
type recordOnly struct{ threadmap.Store }

var errTwoWrites = errors.New("conversation and prompt job written apart; use Record")

func (recordOnly) BindConversation(context.Context, slackbot.Conversation) (slackbot.Conversation, error) {
	return slackbot.Conversation{}, errTwoWrites
}

func (recordOnly) AddJob(context.Context, slackbot.Job) (bool, error) { return false, errTwoWrites }

// A slash command's conversation and a test run's are each recorded with
// their first prompt job in one write.
func TestConversationStartsInOneWrite(t *testing.T) {
	store := openTestStore(t)
	r, _ := newTestRelay(t, "w", recordOnly{store}, agentstest.Scripted(agentstest.Text("pong")))
	ctx := t.Context()

	t.Run("test run", func(t *testing.T) {
		ticket, err := r.StartTestRun(ctx, TestRun{TeamID: "T1", ChannelID: "COPS1", Text: "ping", StartedBy: "UBOT", Origin: "a test"})
		if err != nil {
			t.Fatal(err)
		}
		key := slackbot.Key{TeamID: "T1", ChannelID: "COPS1", RootTS: ticket.RootTS}
		conv, err := store.Conversation(ctx, key)
		if err != nil || conv.ThreadID != ticket.ThreadID || !conv.Options.TestRun {
			t.Fatalf("conversation %+v, %v; want thread %s, test run", conv, err, ticket.ThreadID)
		}
		job, err := store.Job(ctx, ticket.JobID)
		if err != nil || job.ThreadID != ticket.ThreadID || job.Kind != kindPrompt || job.Key != key {
			t.Fatalf("job %+v, %v", job, err)
		}
	})

	t.Run("slash command", func(t *testing.T) {
		cmd := slackbot.Job{
			ID: "cmd:1", Key: slackbot.Key{TeamID: "T1", ChannelID: "COPS1"}, ThreadID: "cmd:1",
			Kind: kindCommand, State: slackbot.JobAccepted,
			Payload: payload{UserID: "U1", Text: "hello"}.encode(),
		}
		if _, err := store.AddJob(ctx, cmd); err != nil {
			t.Fatal(err)
		}
		leased, err := store.(threadmap.JobLeaser).LeaseJob(ctx, cmd.ID, "w", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		r.work(ctx, leased, time.Now())
		done, err := store.Job(ctx, cmd.ID)
		if err != nil || done.State != slackbot.JobDone || done.ReplyTS == "" {
			t.Fatalf("command job %+v, %v; want done with its root message", done, err)
		}
		key := slackbot.Key{TeamID: "T1", ChannelID: "COPS1", RootTS: done.ReplyTS}
		conv, err := store.Conversation(ctx, key)
		if err != nil || conv.StartedBy != "U1" {
			t.Fatalf("conversation %+v, %v", conv, err)
		}
		prompt, err := store.Job(ctx, "run:"+cmd.ID)
		if err != nil || prompt.ThreadID != conv.ThreadID || prompt.Kind != kindPrompt || prompt.Key != key {
			t.Fatalf("prompt job %+v, %v", prompt, err)
		}
	})
}
