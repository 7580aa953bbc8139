package slackfake

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// Slack: conversations.replies "limit" — "The maximum number of items to
// return ... We recommend no more than 200 results at a time", documented
// maximum 1000; the default is 1000 (docs.slack.dev/reference/methods/conversations.replies).
const (
	repliesMaxLimit     = 1000
	repliesDefaultLimit = 1000
)

// WithoutScope makes the methods that need scope answer missing_scope (with
// "needed" set), as Slack does for an app installed without it. Known
// scopes: "channels:history" (conversations.replies in public channels),
// "groups:history" (private channels), "im:history", "mpim:history",
// "files:read" (file downloads answer 403).
func WithoutScope(scope string) Option {
	return func(c *config) {
		if c.missingScopes == nil {
			c.missingScopes = map[string]bool{}
		}
		c.missingScopes[scope] = true
	}
}

// historyScope is the scope reading a conversation's history needs
// (docs.slack.dev/reference/methods/conversations.replies: channels:history,
// groups:history, im:history, mpim:history).
func historyScope(channel string) string {
	switch {
	case strings.HasPrefix(channel, "D"):
		return "im:history"
	case strings.HasPrefix(channel, "G"):
		return "groups:history"
	default:
		return "channels:history"
	}
}

// replies serves conversations.replies: the parent message first, then its
// replies in ts order, a page at a time. The parent leads every page, as
// Slack does; readers must not count it twice.
func (s *Server) replies(p params) result {
	channel, ts := p["channel"], p["ts"]
	if scope := historyScope(channel); s.cfg.missingScopes[scope] {
		return result{err: "missing_scope", fields: map[string]any{"needed": scope, "provided": "bot"}}
	}
	if !channelIDPattern.MatchString(channel) || s.channels[channel] == nil {
		return fail("channel_not_found")
	}
	if ts == "" {
		// Slack answers thread_not_found for a missing ts too.
		return fail("thread_not_found")
	}
	limit := repliesDefaultLimit
	if v := p["limit"]; v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return fail("invalid_limit")
		}
		limit = min(n, repliesMaxLimit)
	}
	c := s.channels[channel]
	root := c.find(ts)
	if root == nil || root.threadTS != "" && root.threadTS != root.ts {
		// Slack: ts must be a thread's parent message; a reply's ts gives
		// just that reply, an unknown ts thread_not_found.
		if root == nil {
			return fail("thread_not_found")
		}
		return ok(map[string]any{"messages": []any{s.replyJSON(root)}, "has_more": false})
	}
	var replies []*message
	for _, m := range c.msgs {
		if m.threadTS == ts && m.ts != ts {
			replies = append(replies, m)
		}
	}
	start := 0
	if cur := p["cursor"]; cur != "" {
		n, err := decodeCursor(cur)
		if err != nil || n > len(replies) {
			return fail("invalid_cursor")
		}
		start = n
	}
	// The parent counts against the limit, as in Slack's pages.
	end := min(start+max(limit-1, 1), len(replies))
	page := []any{s.replyJSON(root)}
	for _, m := range replies[start:end] {
		page = append(page, s.replyJSON(m))
	}
	fields := map[string]any{"messages": page, "has_more": end < len(replies)}
	if end < len(replies) {
		fields["response_metadata"] = map[string]any{"next_cursor": encodeCursor(end)}
	}
	return ok(fields)
}

// replyJSON is a message as conversations.replies lists it. Callers hold s.mu.
func (s *Server) replyJSON(m *message) map[string]any {
	out := m.apiJSON()
	if m.threadTS == "" && m.ts != "" {
		// A parent message names itself its thread.
		out["thread_ts"] = m.ts
	}
	if len(m.files) > 0 {
		files := make([]any, 0, len(m.files))
		for _, id := range m.files {
			if f := s.files[id]; f != nil {
				files = append(files, s.fileJSON(f))
			}
		}
		out["files"] = files
		out["subtype"] = "file_share"
	}
	return out
}

func encodeCursor(n int) string {
	return base64.StdEncoding.EncodeToString([]byte("next_ts:" + strconv.Itoa(n)))
}

func decodeCursor(cur string) (int, error) {
	b, err := base64.StdEncoding.DecodeString(cur)
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(strings.TrimPrefix(string(b), "next_ts:"))
	if err != nil || n < 0 {
		return 0, fmt.Errorf("bad cursor %q", cur)
	}
	return n, nil
}

// File is a file a user shared, as the fake serves it.
type File struct {
	ID                 string
	Name               string
	Title              string
	Mimetype           string
	Filetype           string
	Size               int
	URLPrivate         string
	URLPrivateDownload string
}

type storedFile struct {
	File
	content []byte
}

// AddFile stores a file a user uploaded and returns it as Slack describes
// it (files[] of a file_share message). Downloads are served under the
// fake's own URL, so slack-go's GetFile sends the bot token there.
func (s *Server) AddFile(name, mimetype string, content []byte) File {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	id := fmt.Sprintf("F%08d", s.seq)
	filetype := ""
	if i := strings.LastIndex(name, "."); i >= 0 {
		filetype = strings.ToLower(name[i+1:])
	}
	f := &storedFile{File: File{
		ID: id, Name: name, Title: name, Mimetype: mimetype, Filetype: filetype, Size: len(content),
		URLPrivate:         s.http.URL + "/files-pri/" + s.cfg.teamID + "-" + id + "/" + name,
		URLPrivateDownload: s.http.URL + "/files-pri/" + s.cfg.teamID + "-" + id + "/download/" + name,
	}, content: content}
	s.files[id] = f
	return f.File
}

// UserFileShare adds a file_share message as if user shared the files
// (from AddFile) with text, and returns its ts.
func (s *Server) UserFileShare(channel, user, text, threadTS string, files ...File) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := &message{channel: channel, ts: s.newTS(), threadTS: threadTS, user: user, text: text}
	for _, f := range files {
		m.files = append(m.files, f.ID)
		m.fileNames = append(m.fileNames, f.Name)
	}
	s.channel(channel).msgs = append(s.channel(channel).msgs, m)
	s.notify()
	return m.ts
}

// Downloads counts successful file downloads.
func (s *Server) Downloads() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.downloads
}

func (s *Server) fileJSON(f *storedFile) map[string]any {
	return map[string]any{
		"id": f.ID, "name": f.Name, "title": f.Title, "mimetype": f.Mimetype, "filetype": f.Filetype,
		"size": f.Size, "url_private": f.URLPrivate, "url_private_download": f.URLPrivateDownload,
		"mode": "hosted",
	}
}

// handleFileDownload serves url_private(_download). Slack: "These URLs
// require an authorization header ... Authorization: Bearer" with a token
// that has files:read (docs.slack.dev/messaging/working-with-files). The
// fake answers 403 to a missing or wrong token (Slack redirects to its
// sign-in page instead) and 404 to an unknown file.
func (s *Server) handleFileDownload(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if token != s.cfg.token || s.cfg.missingScopes["files:read"] {
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	id := strings.TrimPrefix(r.PathValue("file"), s.cfg.teamID+"-")
	f := s.files[id]
	if f == nil || r.PathValue("name") != f.Name {
		http.NotFound(w, r)
		return
	}
	s.downloads++
	s.notify()
	w.Header().Set("Content-Type", f.Mimetype)
	w.Header().Set("Content-Length", strconv.Itoa(len(f.content)))
	_, _ = w.Write(f.content)
}
