package slackfake_test

import (
	"context"
	"strings"
	"testing"

	"github.com/slack-go/slack"
)

// TestUploadFlow: the three steps share a file once; the fake refuses what
// breaks the flow.
func TestUploadFlow(t *testing.T) {
	ctx := context.Background()
	fake, api := newClient(t)
	const channel = "C0000000001"

	if _, err := api.GetUploadURLExternalContext(ctx, slack.GetUploadURLExternalParameters{FileName: "", FileSize: 3}); err == nil {
		t.Error("getUploadURLExternal without a name: want an error")
	}
	res, err := api.GetUploadURLExternalContext(ctx, slack.GetUploadURLExternalParameters{FileName: "a.txt", FileSize: 5})
	if err != nil {
		t.Fatal(err)
	}
	complete := func(id string) error {
		_, err := api.CompleteUploadExternalContext(ctx, slack.CompleteUploadExternalParameters{
			Files: []slack.FileSummary{{ID: id, Title: "A"}}, Channel: channel, ThreadTimestamp: "1.000100",
		})
		return err
	}
	if err := complete(res.FileID); slackError(t, err) != "file_not_found" {
		t.Errorf("complete before the upload: %v, want file_not_found", err)
	}
	if err := api.UploadToURL(ctx, slack.UploadToURLParameters{UploadURL: res.UploadURL, Content: "too long", Filename: "a.txt"}); err == nil {
		t.Error("upload of another size than reserved: want an error")
	}
	if err := api.UploadToURL(ctx, slack.UploadToURLParameters{UploadURL: res.UploadURL, Reader: strings.NewReader("hello"), Filename: "a.txt"}); err != nil {
		t.Fatalf("upload: %v", err)
	}
	if err := complete(res.FileID); err != nil {
		t.Fatalf("complete: %v", err)
	}
	if err := complete(res.FileID); slackError(t, err) != "file_not_found" {
		t.Errorf("second complete: %v, want file_not_found", err)
	}
	ups := fake.Uploads()
	if len(ups) != 1 || string(ups[0].Content) != "hello" || ups[0].Channel != channel || ups[0].ThreadTS != "1.000100" || ups[0].Name != "a.txt" {
		t.Errorf("uploads %+v", ups)
	}
}
