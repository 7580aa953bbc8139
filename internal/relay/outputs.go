package relay

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"path"
	"slices"
	"strings"

	"github.com/deepagents-slack/slackbot"
	"github.com/deepagents-slack/slackbot/internal/slackpost"
)

// Output file defaults.
const (
	DefaultOutputPrefix   = "/outputs/"
	DefaultOutputMaxFiles = 5
	DefaultOutputMaxBytes = 5 << 20
	// memoriesPrefix is the agent's long-term memory: never shared.
	memoriesPrefix = "/memories/"
)

// outputFile is a file the agent wrote, read from the thread's state.
type outputFile struct {
	path    string
	content []byte
}

// outputFiles reads the files deepagents keeps in state, {path: {content:
// [lines] or string, …}}, under prefix and never under /memories/, in path
// order. It returns those to share (at most maxFiles of at most maxBytes
// each) and the paths left out.
func outputFiles(values json.RawMessage, prefix string, maxFiles, maxBytes int) (share []outputFile, left []string) {
	var state struct {
		Files map[string]struct {
			Content json.RawMessage `json:"content"`
		} `json:"files"`
	}
	if prefix == "" || json.Unmarshal(values, &state) != nil {
		return nil, nil
	}
	paths := make([]string, 0, len(state.Files))
	for p := range state.Files {
		clean := path.Clean("/" + p)
		if strings.HasPrefix(clean, prefix) && !strings.HasPrefix(clean+"/", memoriesPrefix) && clean == p {
			paths = append(paths, p)
		}
	}
	slices.Sort(paths)
	for _, p := range paths {
		content, ok := fileContent(state.Files[p].Content)
		switch {
		case !ok || len(content) == 0:
			continue // nothing Slack could show
		case len(share) >= maxFiles, len(content) > maxBytes:
			left = append(left, p)
		default:
			share = append(share, outputFile{path: p, content: content})
		}
	}
	return share, left
}

// fileContent reads a deepagents FileData content: a list of lines (older
// versions) or a string.
func fileContent(raw json.RawMessage) ([]byte, bool) {
	var lines []string
	if json.Unmarshal(raw, &lines) == nil {
		return []byte(strings.Join(lines, "\n")), true
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return []byte(s), true
	}
	return nil, false
}

// shareOutputs uploads the files the run wrote under the output prefix into
// the thread. Each version of a file is shared once per conversation: its
// files are uploaded first (invisible until shared), then each is recorded
// in the store by thread, path and content hash, then the recorded ones are
// shared. So a worker taking the job over never shares them twice, and a
// later run shares only what it wrote or changed. A failure is logged and
// never fails the answer, which is already delivered.
func (r *Relay) shareOutputs(ctx context.Context, log *slog.Logger, job slackbot.Job) {
	if r.cfg.OutputPrefix == "" || job.RunID == "" {
		return
	}
	th, err := r.cfg.Agents.GetThread(ctx, job.ThreadID)
	if err != nil {
		log.Warn("read thread for output files", "err", err)
		return
	}
	values, ok := r.threadValues(ctx, th)
	if !ok {
		log.Debug("runtime shows no thread state; no output files")
		return
	}
	files, left := outputFiles(values, r.cfg.OutputPrefix, r.cfg.OutputMaxFiles, r.cfg.OutputMaxBytes)
	var uploads []slackpost.Upload
	var failed []string
	for _, f := range files {
		sum := sha256.Sum256(f.content)
		claim := "output:" + job.ThreadID + ":" + f.path + ":" + hex.EncodeToString(sum[:])
		up, err := r.cfg.Slack.PrepareUpload(ctx, path.Base(f.path), f.content)
		if err != nil {
			log.Warn("upload output file", "path", f.path, "err", err)
			failed = append(failed, f.path)
			continue
		}
		first, err := r.cfg.Store.ClaimDelivery(ctx, claim)
		if err != nil {
			log.Warn("record output file", "path", f.path, "err", err)
			continue
		}
		if first {
			up.Title = f.path
			uploads = append(uploads, up)
		}
	}
	if len(uploads) == 0 {
		return // nothing new; files left out are named only next to shared ones
	}
	comment := outputComment(len(uploads), append(left, failed...), r.cfg.OutputMaxFiles, r.cfg.OutputMaxBytes)
	if err := r.cfg.Slack.Share(ctx, job.Key.ChannelID, job.Key.RootTS, comment, uploads); err != nil {
		log.Warn("share output files", "err", err)
		return
	}
	log.Info("output files shared", "files", len(uploads), "left_out", len(left)+len(failed))
}

// outputComment is the line above shared files, naming any left out.
func outputComment(shared int, left []string, maxFiles, maxBytes int) string {
	text := ""
	if shared > 0 {
		text = fmt.Sprintf(":paperclip: %d file(s) the agent wrote", shared)
	}
	if len(left) > 0 {
		if text != "" {
			text += ". "
		}
		text += fmt.Sprintf("Not attached (more than %d files, larger than %d MB, or the upload failed): %s",
			maxFiles, maxBytes>>20, "`"+strings.Join(left, "`, `")+"`")
	}
	return text
}
