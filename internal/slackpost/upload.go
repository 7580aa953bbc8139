package slackpost

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/slack-go/slack"
)

// Upload is a file reserved and uploaded to Slack but not shown yet
// (Share shows it).
type Upload struct {
	ID    string
	Title string
}

// PrepareUpload runs the first two steps of Slack's external upload flow:
// files.getUploadURLExternal, then the bytes to the URL it gives. The file
// is shown nowhere until Share.
func (p *Poster) PrepareUpload(ctx context.Context, name string, content []byte) (Upload, error) {
	if name == "" || len(content) == 0 {
		return Upload{}, errors.New("slack upload: a name and content are required")
	}
	var res *slack.GetUploadURLExternalResponse
	err := p.do(ctx, "files.getUploadURLExternal", "", PriorityNormal, func() error {
		var err error
		res, err = p.api.GetUploadURLExternalContext(ctx, slack.GetUploadURLExternalParameters{FileName: name, FileSize: len(content)})
		return err
	})
	if err != nil {
		return Upload{}, fmt.Errorf("slack files.getUploadURLExternal: %w", err)
	}
	err = p.do(ctx, "files.upload", "", PriorityNormal, func() error {
		return p.api.UploadToURL(ctx, slack.UploadToURLParameters{UploadURL: res.UploadURL, Reader: bytes.NewReader(content), Filename: name})
	})
	if err != nil {
		return Upload{}, fmt.Errorf("slack file upload: %w", err)
	}
	return Upload{ID: res.FileID, Title: name}, nil
}

// Share completes uploads into a thread (files.completeUploadExternal),
// with comment as the message above them when not empty.
func (p *Poster) Share(ctx context.Context, channel, threadTS, comment string, uploads []Upload) error {
	files := make([]slack.FileSummary, len(uploads))
	for i, u := range uploads {
		files[i] = slack.FileSummary{ID: u.ID, Title: u.Title}
	}
	err := p.do(ctx, "files.completeUploadExternal", channel, PriorityFinal, func() error {
		_, err := p.api.CompleteUploadExternalContext(ctx, slack.CompleteUploadExternalParameters{
			Files: files, Channel: channel, ThreadTimestamp: threadTS, InitialComment: comment,
		})
		return err
	})
	if err != nil {
		return fmt.Errorf("slack files.completeUploadExternal: %w", err)
	}
	return nil
}
