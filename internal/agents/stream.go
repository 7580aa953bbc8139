package agents

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
)

// JoinRunStream follows a run's events with GET
// /threads/{thread_id}/runs/{run_id}/stream. With a non-empty lastEventID the
// runtime resumes after that event (runs started with stream_resumable).
//
// Opening is retried like any idempotent call. The stream itself has no
// client timeout and ends with ctx. Leaving it never cancels the run: the
// client asks for cancel_on_disconnect=false explicitly.
//
// A runtime that does not expose run streams answers 404 or 405;
// IsStreamUnsupported reports that for the returned error, and the client
// remembers it (Capabilities): join only runs that exist.
func (c *Client) JoinRunStream(ctx context.Context, threadID, runID, lastEventID string) (*Stream, error) {
	if threadID == "" || runID == "" {
		return nil, errors.New("agents: join run stream: thread id and run id are required")
	}
	resp, err := c.send(ctx, call{
		op:          "join run stream",
		method:      http.MethodGet,
		path:        "/threads/" + url.PathEscape(threadID) + "/runs/" + url.PathEscape(runID) + "/stream",
		query:       url.Values{"cancel_on_disconnect": {"false"}},
		accept:      "text/event-stream",
		lastEventID: lastEventID,
		stream:      true,
	})
	if err != nil {
		if IsStreamUnsupported(err) {
			c.caps.learn(joinField, false)
		}
		return nil, err
	}
	if err := checkEventStream(resp, "join run stream"); err != nil {
		c.caps.learn(joinField, false)
		return nil, err
	}
	c.caps.learn(joinField, true)
	s := newStream(resp.Body, DefaultMaxEventBytes, lastEventID)
	s.runID = runID
	if id := RunIDFromContentLocation(resp.Header.Get("Content-Location")); id != "" {
		s.runID = id
	}
	return s, nil
}

// checkEventStream closes resp and fails when it is not an event stream.
func checkEventStream(resp *http.Response, op string) error {
	if ct := resp.Header.Get("Content-Type"); ct != "" {
		if mt, _, _ := mime.ParseMediaType(ct); mt != "text/event-stream" {
			drainClose(resp.Body)
			return fmt.Errorf("agents: %s: %w (got %q)", op, ErrNotEventStream, mt)
		}
	}
	return nil
}

// IsStreamUnsupported reports whether err means the runtime has no run
// stream route (404 or 405, or a 2xx that is not an event stream), so the
// caller should fall back to a webhook or to polling the thread.
func IsStreamUnsupported(err error) bool {
	if errors.Is(err, ErrNotEventStream) {
		return true
	}
	switch ErrorStatus(err) {
	case http.StatusNotFound, http.StatusMethodNotAllowed:
		return true
	}
	return false
}

// RunIDFromContentLocation extracts the run id from a Content-Location such
// as "/threads/<tid>/runs/<rid>" (possibly absolute, prefixed, or followed by
// "/stream"). It returns "" when the value names no run.
func RunIDFromContentLocation(loc string) string {
	if loc == "" {
		return ""
	}
	u, err := url.Parse(loc)
	if err != nil {
		return ""
	}
	segs := strings.Split(strings.Trim(u.EscapedPath(), "/"), "/")
	for i := len(segs) - 2; i >= 0; i-- {
		if segs[i] == "runs" && segs[i+1] != "" {
			id, err := url.PathUnescape(segs[i+1])
			if err != nil {
				return ""
			}
			return id
		}
	}
	return ""
}

// Stream is an open run event stream. It is not safe for concurrent use;
// Close may be called from another goroutine to stop a blocked Next.
type Stream struct {
	body    io.ReadCloser
	sse     *sseReader
	runID   string
	lastID  string
	ended   bool   // the runtime sent `end`
	peeked  *Event // read ahead by PeekRunID, returned by the next Next
	peekErr error
	done    bool
	closed  atomic.Bool // set by Close, possibly from another goroutine
	read    *countingReader
}

// NewStream reads a run's event stream (Server-Sent Events) from body, as
// StreamRun does from a response; runID is the run's id when known ("" to
// learn it from the stream's metadata event). It serves runtimes other
// than Client, and fakes of one in the core's unit tests.
func NewStream(body io.ReadCloser, runID string) *Stream {
	s := newStream(body, DefaultMaxEventBytes, "")
	s.runID = runID
	return s
}

func newStream(body io.ReadCloser, maxEventBytes int, lastEventID string) *Stream {
	read := &countingReader{r: body}
	return &Stream{body: body, sse: newSSEReader(read, maxEventBytes), lastID: lastEventID, read: read}
}

// Next returns the next event. It returns io.EOF at the end of the stream,
// whether the runtime sent an `end` event (which is not returned) or just
// closed it (Ended tells the two apart), and after Close. Events of other names, including
// `error`, are returned for the caller to interpret.
func (s *Stream) Next() (Event, error) {
	if s.peeked != nil {
		ev := *s.peeked
		s.peeked = nil
		return ev, nil
	}
	if s.peekErr != nil {
		err := s.peekErr
		s.peekErr = nil
		return Event{}, err
	}
	if s.done {
		return Event{}, io.EOF
	}
	ev, err := s.sse.Next()
	if id := s.sse.LastEventID(); id != "" {
		// Keep the caller's resume point until the runtime sends ids.
		s.lastID = id
	}
	if err != nil {
		s.done = true
		if errors.Is(err, io.EOF) || s.closed.Load() {
			return Event{}, io.EOF
		}
		return Event{}, fmt.Errorf("agents: read run stream: %w", err)
	}
	if ev.Type == "end" {
		s.done, s.ended = true, true
		return Event{}, io.EOF
	}
	return toEvent(ev), nil
}

// PeekRunID reads the first event ahead and takes the run id from it when it
// is the metadata event ({"run_id": …}); Next returns that event (or the
// read error) all the same. It returns RunID, and reads nothing when the id
// is known already. It blocks until the event arrives: Close the stream
// from another goroutine to stop it.
func (s *Stream) PeekRunID() string {
	if s.runID != "" || s.peeked != nil || s.peekErr != nil {
		return s.runID
	}
	ev, err := s.Next()
	if err != nil {
		s.peekErr = err
		return ""
	}
	s.peeked = &ev
	if ev.Mode != "metadata" {
		return ""
	}
	var m struct {
		RunID string `json:"run_id"`
	}
	if json.Unmarshal(ev.Data, &m) == nil {
		s.runID = m.RunID
	}
	return s.runID
}

// LastEventID is the id of the last event received, to resume with; before
// any id arrives it is the lastEventID the stream was joined with.
func (s *Stream) LastEventID() string { return s.lastID }

// RunID is the run the stream belongs to: from the Content-Location header
// when the runtime sent one, else the id it was joined with or the one
// PeekRunID read.
func (s *Stream) RunID() string { return s.runID }

// Ended reports whether the runtime closed the stream with an `end` event,
// as opposed to the connection just ending.
func (s *Stream) Ended() bool { return s.ended }

// Close releases the connection. It does not cancel the run.
func (s *Stream) Close() error {
	s.closed.Store(true)
	return s.body.Close()
}

// toEvent splits the event name "mode|ns1|ns2" and keeps the data as JSON.
func toEvent(ev sseEvent) Event {
	out := Event{ID: ev.ID, Name: ev.Type}
	mode, rest, sub := strings.Cut(ev.Type, "|")
	out.Mode = mode
	if sub {
		out.Namespace = strings.Split(rest, "|")
	}
	data := []byte(ev.Data)
	if !json.Valid(data) {
		// The runtime sends JSON; anything else is kept as a JSON string so
		// that Data is always valid JSON.
		data, _ = json.Marshal(ev.Data)
	}
	out.Data = data
	return out
}
