package slackfake

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
)

// Slack's external upload flow (docs.slack.dev/messaging/working-with-files#upload):
// files.getUploadURLExternal reserves a file id and an upload URL, the
// bytes are POSTed to that URL, and files.completeUploadExternal shares the
// uploaded files (into a channel or thread). Until completed a file is
// shown nowhere.

// UploadedFile is a file shared with files.completeUploadExternal.
type UploadedFile struct {
	ID       string
	Name     string
	Title    string
	Content  []byte
	Channel  string
	ThreadTS string
}

// pendingUpload is a reserved file id; Content is set once uploaded.
type pendingUpload struct {
	name     string
	length   int
	content  []byte
	uploaded bool
	shared   bool
}

// uploadState is the upload flow's state. Guarded by Server.mu.
type uploadState struct {
	next    int
	pending map[string]*pendingUpload
	shared  []UploadedFile
}

func (s *Server) uploadsLocked() *uploadState {
	if s.uploads == nil {
		s.uploads = &uploadState{pending: map[string]*pendingUpload{}}
	}
	return s.uploads
}

// Uploads returns the files shared so far, in order.
func (s *Server) Uploads() []UploadedFile {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.uploadsLocked().shared)
}

// getUploadURLExternal: filename and length are required
// (docs.slack.dev/reference/methods/files.getUploadURLExternal); length is
// the file's size in bytes.
func (s *Server) getUploadURLExternal(p params) result {
	name := p["filename"]
	if name == "" {
		return fail("invalid_arguments", "missing required field: filename")
	}
	length, err := strconv.Atoi(p["length"])
	if err != nil || length < 1 {
		return fail("invalid_arguments", "length must be a positive integer")
	}
	u := s.uploadsLocked()
	u.next++
	id := fmt.Sprintf("F%08d", u.next)
	u.pending[id] = &pendingUpload{name: name, length: length}
	return ok(map[string]any{"upload_url": s.http.URL + "/upload/" + id, "file_id": id})
}

// handleUpload receives a file's bytes at its upload URL, as multipart
// form data (what slack-go sends) or a raw body. The fake refuses a size
// other than the length reserved, so a client misreporting sizes is
// caught [INF: Slack's docs say the length must be the file's size].
func (s *Server) handleUpload(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var content []byte
	if f, _, err := r.FormFile("file"); err == nil {
		content, err = io.ReadAll(io.LimitReader(f, maxBody))
		f.Close()
		if err != nil {
			http.Error(w, "read upload", http.StatusBadRequest)
			return
		}
	} else {
		content, _ = io.ReadAll(io.LimitReader(r.Body, maxBody))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	up := s.uploadsLocked().pending[id]
	switch {
	case up == nil:
		http.Error(w, "unknown upload", http.StatusNotFound)
		return
	case len(content) != up.length:
		http.Error(w, fmt.Sprintf("expected %d bytes, got %d", up.length, len(content)), http.StatusBadRequest)
		return
	}
	up.content, up.uploaded = content, true
	s.notify()
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte("OK - " + strconv.Itoa(len(content))))
}

// completeUploadExternal: files (a JSON array of {id, title}) is required;
// channel_id and thread_ts share them into a thread
// (docs.slack.dev/reference/methods/files.completeUploadExternal). A file
// id that was never uploaded is refused; so is one already completed.
func (s *Server) completeUploadExternal(p params) result {
	var files []struct {
		ID    string `json:"id"`
		Title string `json:"title"`
	}
	if err := json.Unmarshal([]byte(p["files"]), &files); err != nil || len(files) == 0 {
		return fail("invalid_arguments", "files must be a non-empty JSON array")
	}
	channel := p["channel_id"]
	if channel != "" {
		if res, ok := s.checkChannel(channel); !ok {
			return res
		}
	} else if p["thread_ts"] != "" {
		return fail("invalid_arguments", "thread_ts needs channel_id")
	}
	u := s.uploadsLocked()
	for _, f := range files {
		up := u.pending[f.ID]
		if up == nil || !up.uploaded || up.shared {
			return fail("file_not_found", f.ID)
		}
	}
	out := make([]map[string]any, 0, len(files))
	for _, f := range files {
		up := u.pending[f.ID]
		up.shared = true
		u.shared = append(u.shared, UploadedFile{
			ID: f.ID, Name: up.name, Title: f.Title, Content: up.content, Channel: channel, ThreadTS: p["thread_ts"],
		})
		out = append(out, map[string]any{"id": f.ID, "title": f.Title})
	}
	return ok(map[string]any{"files": out})
}
