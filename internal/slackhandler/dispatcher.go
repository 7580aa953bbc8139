// Package slackhandler is the bot's Slack HTTP edge: it verifies every request
// Slack sends, parses slash commands, Events API deliveries and interactivity
// payloads, acks within Slack's three seconds, and hands the work to a
// Dispatcher.
package slackhandler

import (
	"context"

	"github.com/deepagents-slack/slackbot"
)

// Dispatcher accepts verified Slack work, translated into the domain's
// types (package slackbot). Each method must return quickly
// (well under Slack's three seconds): record the work, do it elsewhere.
type Dispatcher interface {
	Command(ctx context.Context, c slackbot.Command) slackbot.Reply
	Message(ctx context.Context, m slackbot.Message) error
	AssistantThreadStarted(ctx context.Context, t slackbot.AssistantThread) error
	AssistantThreadContextChanged(ctx context.Context, t slackbot.AssistantThread) error
	AgentSessionStopped(ctx context.Context, s slackbot.SessionStop) error
	Action(ctx context.Context, a slackbot.Action) error
	// ViewSubmission returns per-block errors to show in the modal, or nil to close it.
	ViewSubmission(ctx context.Context, v slackbot.ViewSubmission) map[string]string
}
