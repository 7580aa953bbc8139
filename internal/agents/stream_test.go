package agents

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"
	"testing"
	"time"
)

// collect reads a stream to its end.
func collect(t *testing.T, s *Stream) []Event {
	t.Helper()
	var events []Event
	for {
		ev, err := s.Next()
		if errors.Is(err, io.EOF) {
			return events
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		events = append(events, ev)
	}
}

func TestJoinRunStream(t *testing.T) {
	tests := []struct {
		name      string
		chunks    []string
		want      []Event
		wantEnded bool
		wantLast  string
	}{
		{
			name: "agent server run with subgraphs",
			chunks: []string{
				"event: metadata\ndata: {\"run_id\":\"run-1\",\"attempt\":1}\nid: 1\n\n",
				": heartbeat\n\n",
				"event: messages|tools:abc\ndata: [{\"content\":\"hi\"},\n",
				"data: {\"langgraph_node\":\"model\"}]\nid: 2\n\n",
				"event: updates|researcher:1|inner:2\r\ndata: {\"model\":{}}\r\nid: 3\r\n\r\n",
				"event: values\rdata: {\"messages\":[]}\rid: 4\r\r",
				"event: end\ndata: null\nid: 5\n\n",
				"event: values\ndata: {\"after\":\"end\"}\n\n",
			},
			want: []Event{
				{ID: "1", Name: "metadata", Mode: "metadata", Data: json.RawMessage(`{"run_id":"run-1","attempt":1}`)},
				{ID: "2", Name: "messages|tools:abc", Mode: "messages", Namespace: []string{"tools:abc"},
					Data: json.RawMessage("[{\"content\":\"hi\"},\n{\"langgraph_node\":\"model\"}]")},
				{ID: "3", Name: "updates|researcher:1|inner:2", Mode: "updates", Namespace: []string{"researcher:1", "inner:2"},
					Data: json.RawMessage(`{"model":{}}`)},
				{ID: "4", Name: "values", Mode: "values", Data: json.RawMessage(`{"messages":[]}`)},
			},
			wantEnded: true,
			wantLast:  "5",
		},
		{
			name:     "stream ends without end event",
			chunks:   []string{"event: values\ndata: {\"a\":1}\nid: 9\n\n", "event: values\ndata: {\"cut\":"},
			want:     []Event{{ID: "9", Name: "values", Mode: "values", Data: json.RawMessage(`{"a":1}`)}},
			wantLast: "9",
		},
		{
			name:     "error event is returned and data that is not JSON becomes a JSON string",
			chunks:   []string{"event: error\ndata: {\"error\":\"ValueError\",\"message\":\"boom\"}\n\n", "data: plain text\n\n"},
			want:     []Event{{Name: "error", Mode: "error", Data: json.RawMessage(`{"error":"ValueError","message":"boom"}`)}, {Name: "message", Mode: "message", Data: json.RawMessage(`"plain text"`)}},
			wantLast: "",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newFakeAPI(t)
			api.setStream(fakeStream{chunks: tt.chunks})
			c, _ := newFakeClient(t, api.URL())
			s, err := c.JoinRunStream(context.Background(), "t-1", "run-1", "")
			if err != nil {
				t.Fatalf("JoinRunStream: %v", err)
			}
			defer s.Close()
			got := collect(t, s)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("events:\n%+v\nwant\n%+v", got, tt.want)
			}
			for _, ev := range got {
				if ev.Root() != (len(ev.Namespace) == 0) {
					t.Errorf("Root() wrong for %q", ev.Name)
				}
			}
			if s.Ended() != tt.wantEnded {
				t.Errorf("Ended = %v, want %v", s.Ended(), tt.wantEnded)
			}
			if s.LastEventID() != tt.wantLast {
				t.Errorf("LastEventID = %q, want %q", s.LastEventID(), tt.wantLast)
			}
			if _, err := s.Next(); !errors.Is(err, io.EOF) {
				t.Errorf("Next after the end = %v, want io.EOF", err)
			}
		})
	}
}

func TestJoinRunStreamRequest(t *testing.T) {
	api := newFakeAPI(t)
	api.setStream(fakeStream{
		chunks:          []string{"event: values\ndata: {}\n\n"},
		contentLocation: fakeAPIBasePath + "/threads/t-1/runs/run-actual/stream",
	})
	c, _ := newFakeClient(t, api.URL())

	// First join, then a rejoin from where the first one stopped.
	for i, lastID := range []string{"", "1700000000000-0"} {
		s, err := c.JoinRunStream(context.Background(), "t-1", "run-1", lastID)
		if err != nil {
			t.Fatalf("JoinRunStream: %v", err)
		}
		collect(t, s)
		if s.RunID() != "run-actual" {
			t.Errorf("RunID = %q, want the one from Content-Location", s.RunID())
		}
		if s.LastEventID() != lastID {
			t.Errorf("LastEventID = %q, want the resume point %q while no id arrived", s.LastEventID(), lastID)
		}
		_ = s.Close()

		r := api.seen()[i]
		if r.Method != http.MethodGet || r.Path != "/v1/deepagents/threads/t-1/runs/run-1/stream" {
			t.Errorf("request = %s %s", r.Method, r.Path)
		}
		if r.RawQuery != "cancel_on_disconnect=false" {
			t.Errorf("query = %q; the stream must never ask to cancel the run", r.RawQuery)
		}
		if r.Header.Get("Accept") != "text/event-stream" || r.Header.Get("X-Api-Key") != fakeAPIKey {
			t.Errorf("headers = %v", r.Header)
		}
		_, sent := r.Header["Last-Event-Id"]
		if sent != (lastID != "") || r.Header.Get("Last-Event-ID") != lastID {
			t.Errorf("Last-Event-ID = %q (sent %v), want %q", r.Header.Get("Last-Event-ID"), sent, lastID)
		}
	}
}

func TestJoinRunStreamUnsupported(t *testing.T) {
	tests := []struct {
		name        string
		fault       fakeFault
		unsupported bool
	}{
		{"404", answer(404, errorResponse(404, "not_found", "Route not found")), true},
		{"405", answer(405, `{"detail":"Method Not Allowed"}`), true},
		{"200 JSON", answer(200, `{"items":[]}`), true},
		{"401", answer(401, `{"error":"Unauthorized"}`), false},
		{"409", answer(409, `{"detail":"busy"}`), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := newFakeAPI(t)
			c, _ := newFakeClient(t, api.URL())
			api.queue(tt.fault)
			_, err := c.JoinRunStream(context.Background(), "t-1", "run-1", "")
			if err == nil {
				t.Fatal("want an error")
			}
			if IsStreamUnsupported(err) != tt.unsupported {
				t.Errorf("IsStreamUnsupported(%v) = %v", err, !tt.unsupported)
			}
		})
	}
	if IsStreamUnsupported(nil) || IsStreamUnsupported(io.EOF) {
		t.Error("IsStreamUnsupported of a non-API error")
	}
}

func TestJoinRunStreamRetriesOpening(t *testing.T) {
	api := newFakeAPI(t)
	api.setStream(fakeStream{chunks: []string{"data: {}\n\n"}})
	c, rec := newFakeClient(t, api.URL())
	api.queue(answer(503, `{}`, "Retry-After", "1"))
	s, err := c.JoinRunStream(context.Background(), "t-1", "run-1", "")
	if err != nil {
		t.Fatalf("JoinRunStream: %v", err)
	}
	defer s.Close()
	if got := collect(t, s); len(got) != 1 {
		t.Errorf("events = %v", got)
	}
	if w := rec.recorded(); len(w) != 1 || w[0] != time.Second {
		t.Errorf("waits = %v, want [1s]", w)
	}
}

// TestJoinRunStreamHasNoClientTimeout: the HTTP client's Timeout is for
// ordinary calls; a stream lasts as long as its context.
func TestJoinRunStreamHasNoClientTimeout(t *testing.T) {
	api := newFakeAPI(t)
	api.setStream(fakeStream{chunks: []string{"data: {\"n\":1}\n\n", "data: {\"n\":2}\n\n"}})
	c, _ := newFakeClient(t, api.URL(), WithHTTPClient(&http.Client{Timeout: time.Nanosecond}), WithRetry(1, 0, 0))
	if _, err := c.GetThread(context.Background(), "t-1"); err == nil {
		t.Fatal("GetThread with a 1ns timeout succeeded; the test proves nothing")
	}
	s, err := c.JoinRunStream(context.Background(), "t-1", "run-1", "")
	if err != nil {
		t.Fatalf("JoinRunStream: %v", err)
	}
	defer s.Close()
	if got := collect(t, s); len(got) != 2 {
		t.Errorf("events = %v", got)
	}
}

func TestStreamEndsWithContext(t *testing.T) {
	api := newFakeAPI(t)
	api.setStream(fakeStream{chunks: []string{"data: {}\n\n"}, hold: true})
	c, _ := newFakeClient(t, api.URL())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := c.JoinRunStream(ctx, "t-1", "run-1", "")
	if err != nil {
		t.Fatalf("JoinRunStream: %v", err)
	}
	defer s.Close()
	if _, err := s.Next(); err != nil {
		t.Fatalf("first Next: %v", err)
	}
	cancel()
	if _, err := s.Next(); !errors.Is(err, context.Canceled) {
		t.Errorf("Next after cancel = %v, want context.Canceled", err)
	}
}

func TestStreamCloseUnblocksNext(t *testing.T) {
	api := newFakeAPI(t)
	api.setStream(fakeStream{chunks: []string{"data: {}\n\n"}, hold: true})
	c, _ := newFakeClient(t, api.URL())
	s, err := c.JoinRunStream(context.Background(), "t-1", "run-1", "")
	if err != nil {
		t.Fatalf("JoinRunStream: %v", err)
	}
	if _, err := s.Next(); err != nil {
		t.Fatalf("first Next: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := s.Next()
		done <- err
	}()
	_ = s.Close()
	if err := <-done; !errors.Is(err, io.EOF) {
		t.Errorf("Next after Close = %v, want io.EOF", err)
	}
}

func TestRunIDFromContentLocation(t *testing.T) {
	tests := map[string]string{
		"/threads/t/runs/r1":                                     "r1",
		"/v1/deepagents/threads/t/runs/r2/stream":                "r2",
		"https://x.example/threads/t/runs/r3?stream_mode=values": "r3",
		"/threads/t/runs/r%2F4":                                  "r/4",
		"/threads/t/runs/":                                       "",
		"/threads/t":                                             "",
		"":                                                       "",
		"::":                                                     "",
	}
	for in, want := range tests {
		if got := RunIDFromContentLocation(in); got != want {
			t.Errorf("RunIDFromContentLocation(%q) = %q, want %q", in, got, want)
		}
	}
}
