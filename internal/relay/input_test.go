package relay

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/slack-go/slack"

	"github.com/deepagents-slack/slackbot"
	"github.com/deepagents-slack/slackbot/internal/agents"
	"github.com/deepagents-slack/slackbot/internal/slackpost"
	"github.com/deepagents-slack/slackbot/internal/slackpost/slackfake"
)

// TestFileParts: each shared file becomes an image block, text, or a named
// note with the reason it was not passed; the per-file and per-message
// limits hold without downloading what is known to be too large.
func TestFileParts(t *testing.T) {
	fake := slackfake.New()
	defer fake.Close()
	r := &Relay{cfg: config{
		Slack:        PosterSlack{Poster: slackpost.New(slack.New("xoxb-test", slack.OptionAPIURL(fake.APIURL())))},
		FileMaxBytes: 1000, MessageFilesBytes: 1500,
	}}
	share := func(name, mime string, content []byte) SharedFile {
		f := fake.AddFile(name, mime, content)
		return SharedFile{ID: f.ID, Name: f.Name, Mimetype: f.Mimetype, Filetype: f.Filetype, Size: int64(f.Size), URLPrivateDownload: f.URLPrivateDownload}
	}
	png := append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{0}, 100)...)
	tests := []struct {
		name       string
		files      []SharedFile
		wantText   []string
		wantImages int
	}{
		{"image", []SharedFile{share("shot.png", "image/png", png)}, []string{"shot.png (image/png, 108 bytes): attached as an image"}, 1},
		{"text", []SharedFile{share("app.log", "text/plain", []byte("boom"))}, []string{"[File app.log:]\nboom\n[End of app.log]"}, 0},
		{"json by mime", []SharedFile{share("a.json", "application/json", []byte(`{"a":1}`))}, []string{`{"a":1}`}, 0},
		{"not passed", []SharedFile{share("deck.pdf", "application/pdf", []byte("%PDF"))}, []string{"deck.pdf (application/pdf, 4 bytes): this file type is not passed to you"}, 0},
		{"too large", []SharedFile{share("big.txt", "text/plain", bytes.Repeat([]byte("a"), 1001))}, []string{"big.txt (text/plain, 1001 bytes): too large to pass to you (limit 1000 bytes per file)"}, 0},
		{"message limit", []SharedFile{
			share("one.txt", "text/plain", bytes.Repeat([]byte("a"), 900)),
			share("two.txt", "text/plain", bytes.Repeat([]byte("b"), 900)),
		}, []string{"two.txt (text/plain, 900 bytes): left out, the message's files pass the limit of 1.5 KB", "[File one.txt:]"}, 0},
		{"binary posing as text", []SharedFile{share("x.txt", "text/plain", []byte{0xff, 0xfe, 0x00})}, []string{"not UTF-8 text"}, 0},
		{"gone", []SharedFile{{ID: "F404", Name: "gone.txt", Mimetype: "text/plain", Size: 3, URLPrivateDownload: fake.APIURL() + "../files-pri/T-F404/download/gone.txt"}}, []string{"gone.txt (text/plain, 3 bytes): could not be downloaded"}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := fake.Downloads()
			in := r.fileParts(context.Background(), slog.New(slog.DiscardHandler), tc.files, true)
			for _, w := range tc.wantText {
				if !strings.Contains(in.text, w) {
					t.Errorf("text lacks %q:\n%s", w, in.text)
				}
			}
			if len(in.images) != tc.wantImages {
				t.Errorf("%d images; want %d", len(in.images), tc.wantImages)
			}
			for _, b := range in.images {
				if err := b.Check(); err != nil || b.MimeType != "image/png" {
					t.Errorf("image block %+v: %v", b, err)
				}
			}
			if tc.name == "too large" && fake.Downloads() != before {
				t.Errorf("a file known to be too large was downloaded")
			}
		})
	}
}

// TestRunInputBlocks: to an Agent Server a message with an image is sent
// as a block list whose first block is the text; without images it stays a
// string. To the Managed API (content: string) the image is named.
func TestRunInputBlocks(t *testing.T) {
	fake := slackfake.New()
	defer fake.Close()
	runtime := func(d agents.Dialect) *agents.Client {
		c, err := agents.New("http://127.0.0.1:9", "k", agents.WithDialect(d))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	r := &Relay{cfg: config{
		Slack:        PosterSlack{Poster: slackpost.New(slack.New("xoxb-test", slack.OptionAPIURL(fake.APIURL())))},
		Agents:       runtime(agents.AgentServer),
		FileMaxBytes: 1 << 20, MessageFilesBytes: 1 << 20,
	}}
	f := fake.AddFile("a.png", "image/png", []byte("png bytes"))
	p := payload{Text: "what is this?", Files: []SharedFile{{ID: f.ID, Name: f.Name, Mimetype: f.Mimetype, Size: int64(f.Size), URLPrivateDownload: f.URLPrivateDownload}}}
	in := r.runInput(context.Background(), slog.New(slog.DiscardHandler), slackbot.Job{}, p)
	m := in.Messages[0]
	if len(m.Blocks) != 2 || m.Blocks[0].Type != agents.BlockText || !strings.HasPrefix(m.Blocks[0].Text, "what is this?") || m.Blocks[1].Type != agents.BlockImage {
		t.Fatalf("blocks = %+v", m.Blocks)
	}
	plain := r.runInput(context.Background(), slog.New(slog.DiscardHandler), slackbot.Job{}, payload{Text: "hi"})
	if m := plain.Messages[0]; m.Content != "hi" || m.Blocks != nil {
		t.Fatalf("plain input = %+v", m)
	}
	r.cfg.Agents = runtime(agents.Managed)
	managed := r.runInput(context.Background(), slog.New(slog.DiscardHandler), slackbot.Job{}, p).Messages[0]
	if managed.Blocks != nil || !strings.Contains(managed.Content, "a.png (image/png, 9 bytes): an image, not passed to you (this agent runtime takes text only)") {
		t.Fatalf("managed input = %+v", managed)
	}
}
