package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/deepagents-slack/slackbot"
	"github.com/deepagents-slack/slackbot/internal/agents"
	"github.com/deepagents-slack/slackbot/internal/slackpost"
)

// Defaults of what a run's input may carry from Slack.
const (
	DefaultThreadContextChars = 24_000   // earlier thread messages, in characters
	DefaultFileMaxBytes       = 5 << 20  // one shared file (Anthropic's image limit is 5 MB)
	DefaultMessageFilesBytes  = 10 << 20 // all files of one message
	textFileMaxChars          = 100_000  // a text file's content in the input
)

// imageMimeTypes are the image types chat models commonly accept.
var imageMimeTypes = []string{"image/png", "image/jpeg", "image/gif", "image/webp"}

// SharedFile is a file shared with a user's message, as the job keeps it
// until the worker downloads it.
type SharedFile struct {
	ID                 string `json:"id"`
	Name               string `json:"name,omitempty"`
	Title              string `json:"title,omitempty"`
	Mimetype           string `json:"mimetype,omitempty"`
	Filetype           string `json:"filetype,omitempty"`
	Size               int64  `json:"size,omitempty"`
	URLPrivateDownload string `json:"url_private_download,omitempty"`
	URLPrivate         string `json:"url_private,omitempty"`
}

func (f SharedFile) slack() slackpost.File {
	return slackpost.File{
		ID: f.ID, Name: f.Name, Title: f.Title, Mimetype: f.Mimetype, Filetype: f.Filetype,
		Size: f.Size, URLPrivateDownload: f.URLPrivateDownload, URLPrivate: f.URLPrivate,
	}
}

// sharedFiles are the files of a Slack message, as a job keeps them.
func sharedFiles(in []slackbot.File) []SharedFile {
	var out []SharedFile
	for _, f := range in {
		out = append(out, SharedFile{
			ID: f.ID, Name: f.Name, Title: f.Title, Mimetype: f.Mimetype, Filetype: f.Filetype,
			Size: f.Size, URLPrivateDownload: f.URLPrivateDownload, URLPrivate: f.URLPrivate,
		})
	}
	return out
}

func sharedFile(f slackpost.File) SharedFile {
	return SharedFile{
		ID: f.ID, Name: f.Name, Title: f.Title, Mimetype: f.Mimetype, Filetype: f.Filetype,
		Size: f.Size, URLPrivateDownload: f.URLPrivateDownload, URLPrivate: f.URLPrivate,
	}
}

// runInput is the human message a prompt job's run starts with: the
// thread's earlier messages when the bot was just mentioned in someone
// else's thread, the user's text, and the files shared with it.
func (r *Relay) runInput(ctx context.Context, log *slog.Logger, job slackbot.Job, p payload) *agents.Input {
	var text strings.Builder
	if p.ThreadContext {
		text.WriteString(r.threadContext(ctx, log, job.Key, p.MessageTS))
	}
	text.WriteString(p.Text)
	files := r.fileParts(ctx, log, p.Files, r.acceptsImages())
	if files.text != "" {
		text.WriteString("\n\n")
		text.WriteString(files.text)
	}
	msg := agents.Message{Role: agents.RoleUser, Content: strings.TrimSpace(text.String())}
	if len(files.images) > 0 {
		msg.Blocks = append([]agents.ContentBlock{agents.TextBlock(msg.Content)}, files.images...)
	}
	return &agents.Input{Messages: []agents.Message{msg}}
}

// threadContext reads the thread the bot was mentioned in and renders the
// messages before the mention, newest kept first within the budget. A
// thread that cannot be read is said so: the run still goes ahead.
func (r *Relay) threadContext(ctx context.Context, log *slog.Logger, key slackbot.Key, beforeTS string) string {
	msgs, err := r.cfg.Slack.ThreadReplies(ctx, key.ChannelID, key.RootTS)
	if err != nil {
		log.Warn("could not read the thread for context", "err", err)
		return "[You were mentioned in a Slack thread, but its earlier messages could not be read.]\n\n"
	}
	var lines []string
	for _, m := range msgs {
		if beforeTS != "" && !tsBefore(m.TS, beforeTS) {
			continue
		}
		lines = append(lines, threadLine(m))
	}
	if len(lines) == 0 {
		return ""
	}
	budget := r.cfg.ThreadContextChars
	kept, used := 0, 0
	for i := len(lines) - 1; i >= 0; i-- {
		n := utf8.RuneCountInString(lines[i]) + 1
		if used+n > budget {
			if kept == 0 {
				// Even the newest message is over the budget: keep its start.
				lines[i] = truncate(lines[i], budget)
				kept = 1
			}
			break
		}
		used += n
		kept++
	}
	dropped := len(lines) - kept
	var b strings.Builder
	b.WriteString("[You were mentioned in a Slack thread that was already under way. Its earlier messages, oldest first")
	if dropped > 0 {
		fmt.Fprintf(&b, "; shortened to fit: the %d oldest were left out", dropped)
	}
	b.WriteString(":]\n")
	for _, l := range lines[dropped:] {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	b.WriteString("[End of the earlier messages. The message to you:]\n")
	return b.String()
}

// threadLine is one earlier message: its author, its text and its files named.
func threadLine(m slackpost.ThreadMessage) string {
	author := "@" + m.User
	switch {
	case m.BotID != "" && m.Username != "":
		author = m.Username + " (bot)"
	case m.BotID != "" && m.User == "":
		author = "bot " + m.BotID
	}
	line := author + ": " + readableForAgent(m.Text)
	if len(m.Files) > 0 {
		names := make([]string, 0, len(m.Files))
		for _, f := range m.Files {
			names = append(names, describeFile(sharedFile(f)))
		}
		line += " [files: " + strings.Join(names, "; ") + "]"
	}
	return line
}

// tsBefore compares Slack timestamps ("1700000000.000100").
func tsBefore(a, b string) bool {
	ai, af, _ := strings.Cut(a, ".")
	bi, bf, _ := strings.Cut(b, ".")
	if len(ai) != len(bi) {
		return len(ai) < len(bi)
	}
	if ai != bi {
		return ai < bi
	}
	return af < bf
}

// acceptsImages reports whether the runtime takes image content blocks. An
// Agent Server (LangGraph) takes LangChain content blocks in input
// messages; the Managed Deep Agents API's published Message is {role,
// content: string} (reference/openapi/managed-deep-agents-openapi.json), so
// there images are named instead.
func (r *Relay) acceptsImages() bool {
	return r.cfg.Agents != nil && r.cfg.Agents.Dialect() == agents.AgentServer
}

// fileInput is what a message's files add to the run input.
type fileInput struct {
	text   string                // text files' contents and the other files named
	images []agents.ContentBlock // images, inline
}

// fileParts downloads the files of a message within the limits and turns
// them into input: images as image blocks, text files as text, others named
// with their type and size. A file that is not passed is named with the reason.
func (r *Relay) fileParts(ctx context.Context, log *slog.Logger, files []SharedFile, images bool) fileInput {
	var in fileInput
	var notes []string
	var texts []string
	left := r.cfg.MessageFilesBytes
	for _, f := range files {
		kind := fileKind(f)
		switch {
		case kind == "":
			notes = append(notes, describeFile(f)+": this file type is not passed to you")
			continue
		case kind == "image" && !images:
			notes = append(notes, describeFile(f)+": an image, not passed to you (this agent runtime takes text only)")
			continue
		}
		if f.Size > r.cfg.FileMaxBytes {
			notes = append(notes, fmt.Sprintf("%s: too large to pass to you (limit %s per file)", describeFile(f), humanBytes(r.cfg.FileMaxBytes)))
			continue
		}
		limit := min(r.cfg.FileMaxBytes, left)
		if f.Size > limit {
			notes = append(notes, fmt.Sprintf("%s: left out, the message's files pass the limit of %s", describeFile(f), humanBytes(r.cfg.MessageFilesBytes)))
			continue
		}
		data, err := r.cfg.Slack.Download(ctx, f.slack(), limit)
		switch {
		case errors.Is(err, slackpost.ErrFileTooLarge):
			notes = append(notes, fmt.Sprintf("%s: too large to pass to you (limit %s)", describeFile(f), humanBytes(limit)))
			continue
		case err != nil:
			log.Warn("could not download a shared file", "file", f.ID, "err", err)
			notes = append(notes, describeFile(f)+": could not be downloaded")
			continue
		}
		left -= int64(len(data))
		switch kind {
		case "image":
			in.images = append(in.images, agents.ImageBlock(imageMime(f), data))
			notes = append(notes, describeFile(f)+": attached as an image")
		case "text":
			if !utf8.Valid(data) {
				notes = append(notes, describeFile(f)+": not UTF-8 text, not passed to you")
				continue
			}
			body := string(data)
			cut := ""
			if utf8.RuneCountInString(body) > textFileMaxChars {
				body = truncate(body, textFileMaxChars)
				cut = " (cut short)"
			}
			texts = append(texts, fmt.Sprintf("[File %s%s:]\n%s\n[End of %s]", displayName(f), cut, body, displayName(f)))
		}
	}
	var b strings.Builder
	if len(notes) > 0 {
		b.WriteString("[Files shared with this message: ")
		b.WriteString(strings.Join(notes, "; "))
		b.WriteString("]")
	}
	for _, t := range texts {
		if b.Len() > 0 {
			b.WriteString("\n\n")
		}
		b.WriteString(t)
	}
	in.text = b.String()
	return in
}

// textMimeTypes are non-text/* types whose content is text.
var textMimeTypes = []string{
	"application/json", "application/xml", "application/x-yaml", "application/yaml", "application/javascript",
	"application/x-sh", "application/sql", "application/toml", "application/x-ndjson", "application/csv",
}

// textFiletypes are Slack filetypes of text content (docs.slack.dev/reference/objects/file-object#types).
var textFiletypes = []string{
	"text", "csv", "tsv", "markdown", "json", "yaml", "xml", "html", "css", "javascript", "typescript", "python",
	"go", "java", "c", "cpp", "csharp", "ruby", "rust", "shell", "sql", "php", "kotlin", "swift", "diff", "toml", "log",
}

// fileKind is "image", "text", or "" for a type that is not passed.
func fileKind(f SharedFile) string {
	mt, _, _ := mime.ParseMediaType(f.Mimetype)
	switch {
	case slices.Contains(imageMimeTypes, mt):
		return "image"
	case strings.HasPrefix(mt, "text/"), slices.Contains(textMimeTypes, mt), slices.Contains(textFiletypes, f.Filetype):
		return "text"
	}
	return ""
}

func imageMime(f SharedFile) string {
	mt, _, _ := mime.ParseMediaType(f.Mimetype)
	return mt
}

func displayName(f SharedFile) string {
	switch {
	case f.Name != "":
		return f.Name
	case f.Title != "":
		return f.Title
	}
	return "unnamed file " + f.ID
}

// describeFile names a file with its type and size.
func describeFile(f SharedFile) string {
	kind := f.Mimetype
	if kind == "" {
		kind = f.Filetype
	}
	if kind == "" {
		kind = "unknown type"
	}
	name := displayName(f)
	if f.Title != "" && f.Title != f.Name {
		name += " \"" + f.Title + "\""
	}
	if f.Size <= 0 {
		return fmt.Sprintf("%s (%s)", name, kind)
	}
	return fmt.Sprintf("%s (%s, %s)", name, kind, humanBytes(f.Size))
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}
