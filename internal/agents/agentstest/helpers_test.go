package agentstest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// wireEvent is one event as parsed off the wire.
type wireEvent struct {
	ID        string
	Name      string
	Data      string // data lines joined with "\n"
	DataLines int
}

func (e wireEvent) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(e.Data), v); err != nil {
		t.Fatalf("event %s %s: bad JSON %q: %v", e.ID, e.Name, e.Data, err)
	}
}

// wireStream is what a tiny SSE reader saw on one connection.
type wireStream struct {
	Events     []wireEvent
	Heartbeats int
	Err        error // read error (nil on a clean end of body)
}

// parseSSE reads an event stream to its end.
func parseSSE(r io.Reader) wireStream {
	var out wireStream
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var cur wireEvent
	var data []string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if cur.Name != "" || len(data) > 0 {
				cur.Data, cur.DataLines = strings.Join(data, "\n"), len(data)
				out.Events = append(out.Events, cur)
			}
			cur, data = wireEvent{}, nil
		case strings.HasPrefix(line, ":"):
			if strings.TrimSpace(line[1:]) == "heartbeat" {
				out.Heartbeats++
			}
		default:
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch field {
			case "id":
				cur.ID = value
			case "event":
				cur.Name = value
			case "data":
				data = append(data, value)
			}
		}
	}
	out.Err = sc.Err()
	return out
}

type response struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("response %d is not a JSON object: %q", r.Status, r.Body)
	}
	return m
}

func do(t *testing.T, method, url, key string, body any, header ...string) response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("X-Api-Key", key)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// startRun posts a run and fails the test unless it is accepted.
func startRun(t *testing.T, s *Server, body map[string]any) map[string]any {
	t.Helper()
	resp := do(t, http.MethodPost, s.URL+"/threads/runs", "test-key", body)
	if resp.Status != http.StatusOK {
		t.Fatalf("start run: %d %s", resp.Status, resp.Body)
	}
	return resp.json(t)
}

// stream joins a run's event stream and reads it to its end.
func stream(t *testing.T, s *Server, threadID, runID string, lastEventID string) wireStream {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet,
		s.URL+"/threads/"+threadID+"/runs/"+runID+"/stream", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Api-Key", "test-key")
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("join stream: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("join stream: %d %s", resp.StatusCode, b)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	return parseSSE(resp.Body)
}

func waitIdle(t *testing.T, s *Server) {
	t.Helper()
	if err := s.WaitIdle(context.Background()); err != nil {
		t.Fatal(err)
	}
}

const threadA = "8f0c2f4e-5a4b-5c1d-9e2f-0123456789ab"

// runBody is a valid run request on thread id for agent.
func runBody(agent, thread, text string) map[string]any {
	b := map[string]any{
		"agent_id":         agent,
		"input":            map[string]any{"messages": []any{map[string]any{"role": "user", "content": text}}},
		"stream_mode":      []string{"values", "messages-tuple", "updates"},
		"stream_subgraphs": true,
	}
	if thread != "" {
		b["thread"] = map[string]any{"thread_id": thread, "if_exists": "do_nothing"}
	}
	return b
}

func resumeBody(agent, thread string, decisions ...map[string]any) map[string]any {
	b := runBody(agent, thread, "")
	delete(b, "input")
	b["command"] = map[string]any{"resume": map[string]any{"decisions": decisions}}
	return b
}

// fullStream starts a run, waits for the server to go idle and reads the
// whole event stream.
func fullStream(t *testing.T, s *Server, body map[string]any) (map[string]any, wireStream) {
	t.Helper()
	run := startRun(t, s, body)
	waitIdle(t, s)
	return run, stream(t, s, run["thread_id"].(string), run["run_id"].(string), "")
}

func eventsNamed(ws wireStream, prefix string) []wireEvent {
	var out []wireEvent
	for _, e := range ws.Events {
		if e.Name == prefix || strings.HasPrefix(e.Name, prefix+"|") {
			out = append(out, e)
		}
	}
	return out
}

// rawStream reads a stream without a *testing.T, for goroutines; request
// errors come back in Err.
func rawStream(url, lastEventID string) wireStream {
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, url, nil)
	if err != nil {
		return wireStream{Err: err}
	}
	req.Header.Set("X-Api-Key", "test-key")
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return wireStream{Err: err}
	}
	defer resp.Body.Close()
	return parseSSE(resp.Body)
}
