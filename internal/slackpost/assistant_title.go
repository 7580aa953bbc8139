package slackpost

import (
	"context"
	"fmt"

	"github.com/slack-go/slack"
)

// SetAssistantTitle names an AI app thread in the user's history
// (assistant.threads.setTitle).
func (p *Poster) SetAssistantTitle(ctx context.Context, channel, threadTS, title string) error {
	params := slack.AssistantThreadsSetTitleParameters{ChannelID: channel, ThreadTS: threadTS, Title: title}
	err := p.do(ctx, "assistant.threads.setTitle", channel, PriorityNormal, func() error { return p.api.SetAssistantThreadsTitleContext(ctx, params) })
	if err != nil {
		return fmt.Errorf("slack assistant.threads.setTitle: %w", err)
	}
	return nil
}
