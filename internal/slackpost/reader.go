package slackpost

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/slack-go/slack"
)

// repliesPageSize is how many messages one conversations.replies call asks
// for: Slack recommends no more than 200 (docs.slack.dev/reference/methods/conversations.replies).
const repliesPageSize = 200

// maxRepliesPages bounds how many pages one thread read may take, so a huge
// thread cannot keep a worker busy: 50 pages are 10,000 messages.
const maxRepliesPages = 50

// ThreadMessage is one message of a thread as the bot reads it.
type ThreadMessage struct {
	TS       string
	User     string
	BotID    string
	Username string // a bot's display name
	Text     string // as Slack sent it (escaped mrkdwn)
	Files    []File
}

// File is a file shared in Slack, as a message or event describes it.
type File struct {
	ID                 string
	Name               string
	Title              string
	Mimetype           string
	Filetype           string
	Size               int64
	URLPrivateDownload string
	URLPrivate         string
}

// ThreadReplies reads the whole thread rooted at threadTS in channel with
// conversations.replies, following cursors, parent first. Slack lists the
// parent on every page; it is kept once.
func (p *Poster) ThreadReplies(ctx context.Context, channel, threadTS string) ([]ThreadMessage, error) {
	var out []ThreadMessage
	seen := map[string]bool{}
	cursor := ""
	for page := 0; page < maxRepliesPages; page++ {
		var msgs []slack.Message
		var next string
		err := p.do(ctx, "conversations.replies", channel, PriorityNormal, func() (err error) {
			msgs, _, next, err = p.api.GetConversationRepliesContext(ctx, &slack.GetConversationRepliesParameters{
				ChannelID: channel, Timestamp: threadTS, Cursor: cursor, Limit: repliesPageSize,
			})
			return err
		})
		if err != nil {
			return out, fmt.Errorf("slack conversations.replies: %w", err)
		}
		for _, m := range msgs {
			if seen[m.Timestamp] {
				continue
			}
			seen[m.Timestamp] = true
			out = append(out, threadMessage(m))
		}
		if next == "" {
			return out, nil
		}
		cursor = next
	}
	p.log.Warn("thread longer than the bot reads; keeping its first pages", "channel", channel, "pages", maxRepliesPages)
	return out, nil
}

func threadMessage(m slack.Message) ThreadMessage {
	t := ThreadMessage{TS: m.Timestamp, User: m.User, BotID: m.BotID, Username: m.Username, Text: m.Text}
	for _, f := range m.Files {
		t.Files = append(t.Files, File{
			ID: f.ID, Name: f.Name, Title: f.Title, Mimetype: f.Mimetype, Filetype: f.Filetype,
			Size: int64(f.Size), URLPrivateDownload: f.URLPrivateDownload, URLPrivate: f.URLPrivate,
		})
	}
	return t
}

// ErrFileTooLarge is returned by Download when a file holds more than the
// limit asked for.
var ErrFileTooLarge = errors.New("slackpost: file larger than the limit")

// Download fetches a shared file's content with the bot token
// (Authorization: Bearer, as Slack requires for url_private; needs
// files:read), reading at most limit bytes. slack-go sends the token only to
// Slack's https hosts or the API URL's host.
func (p *Poster) Download(ctx context.Context, f File, limit int64) ([]byte, error) {
	url := f.URLPrivateDownload
	if url == "" {
		url = f.URLPrivate
	}
	if url == "" {
		return nil, fmt.Errorf("slack file %s: no download URL", f.ID)
	}
	w := &limitedBuffer{limit: limit}
	err := p.do(ctx, "files.download", "", PriorityNormal, func() error {
		w.buf.Reset()
		return p.api.GetFileContext(ctx, url, w)
	})
	if errors.Is(err, ErrFileTooLarge) {
		return nil, ErrFileTooLarge
	}
	if err != nil {
		return nil, fmt.Errorf("slack file %s download: %w", f.ID, err)
	}
	return w.buf.Bytes(), nil
}

// limitedBuffer keeps up to limit bytes and fails the write that would pass it.
type limitedBuffer struct {
	buf   bytes.Buffer
	limit int64
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if int64(b.buf.Len()+len(p)) > b.limit {
		return 0, ErrFileTooLarge
	}
	return b.buf.Write(p)
}

var _ io.Writer = (*limitedBuffer)(nil)
