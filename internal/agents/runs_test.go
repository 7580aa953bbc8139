package agents

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
)

// recordingServer answers every request with handler and keeps the bodies.
func recordingServer(t *testing.T, handler func(w http.ResponseWriter, r *http.Request, body map[string]any)) (*httptest.Server, *[]map[string]any) {
	t.Helper()
	var bodies []map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		var b map[string]any
		_ = json.Unmarshal(raw, &b)
		bodies = append(bodies, b)
		handler(w, r, b)
	}))
	t.Cleanup(srv.Close)
	return srv, &bodies
}

func TestRunBodyPerDialect(t *testing.T) {
	resume := &RunRequest{Agent: "a1", Command: &Command{Resume: &Resume{Decisions: []Decision{{Type: DecisionApprove}}}}, OnDisconnect: OnDisconnectContinue}
	prompt := &RunRequest{Agent: "a1", Input: &Input{Messages: []Message{{Role: RoleUser, Content: "hi"}}}, StreamMode: []string{"values"}}
	tests := []struct {
		name    string
		dialect Dialect
		req     *RunRequest
		want    string
	}{
		{"managed prompt", Managed, prompt, `{"agent_id":"a1","input":{"messages":[{"role":"user","content":"hi"}]},"stream_mode":["values"]}`},
		// The Managed stream route requires a message: a no-op one.
		{"managed resume", Managed, resume, `{"agent_id":"a1","input":{"messages":[{"role":"system","content":""}]},"command":{"resume":{"decisions":[{"type":"approve"}]}},"on_disconnect":"continue"}`},
		{"agent server prompt", AgentServer, prompt, `{"assistant_id":"a1","input":{"messages":[{"role":"user","content":"hi"}]},"stream_mode":["values"]}`},
		{"agent server resume", AgentServer, resume, `{"assistant_id":"a1","command":{"resume":{"decisions":[{"type":"approve"}]}},"on_disconnect":"continue"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New("http://example.test", "key", WithDialect(tt.dialect))
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.runBody(tt.req)
			if err != nil || string(got) != tt.want {
				t.Errorf("body %s (%v)\nwant %s", got, err, tt.want)
			}
		})
	}
	if resume.Input != nil {
		t.Error("runBody changed the caller's request")
	}
}

func TestStreamRunTakesRunIDFromMetadataEvent(t *testing.T) {
	srv, bodies := recordingServer(t, func(w http.ResponseWriter, r *http.Request, _ map[string]any) {
		if r.URL.Path != "/threads/t-1/runs/stream" || r.Method != http.MethodPost {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "event: metadata\ndata: {\"run_id\":\"run-7\",\"attempt\":1}\nid: 0\n\nevent: values\ndata: {\"messages\":[]}\nid: 1\n\n")
	})
	c, err := New(srv.URL, "", WithDialect(AgentServer))
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.StreamRun(context.Background(), "t-1", &RunRequest{Agent: "agent", Input: &Input{Messages: []Message{{Role: RoleUser, Content: "x"}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.RunID() != "" {
		t.Errorf("run id %q before the first event was read; want none", s.RunID())
	}
	if id := s.PeekRunID(); id != "run-7" || s.RunID() != "run-7" {
		t.Errorf("run id %q (RunID %q), want run-7 from the metadata event", id, s.RunID())
	}
	var modes []string
	for {
		ev, err := s.Next()
		if err != nil {
			break
		}
		modes = append(modes, ev.Mode)
	}
	if !reflect.DeepEqual(modes, []string{"metadata", "values"}) || s.Ended() {
		t.Errorf("events %v ended %v: the peeked event must still be returned, and no end was sent", modes, s.Ended())
	}
	if (*bodies)[0]["assistant_id"] != "agent" {
		t.Errorf("body %v", (*bodies)[0])
	}
}

// A run start answered 2xx started the run, whatever the body: a body
// that is not an event stream must not read as "not started", or the
// caller would start the run again.
func TestStreamRunNotAnEventStreamMayHaveStarted(t *testing.T) {
	srv, _ := recordingServer(t, func(w http.ResponseWriter, r *http.Request, _ map[string]any) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"run_id":"run-7"}`)
	})
	c, err := New(srv.URL, "", WithDialect(AgentServer))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.StreamRun(context.Background(), "t-1", &RunRequest{Agent: "agent", Input: &Input{Messages: []Message{{Role: RoleUser, Content: "x"}}}})
	if !errors.Is(err, ErrOutcomeUnknown) || !errors.Is(err, ErrNotEventStream) {
		t.Errorf("err = %v; want ErrOutcomeUnknown and ErrNotEventStream", err)
	}
}

func TestCreateThreadLearnsWhetherThreadIDIsHonoured(t *testing.T) {
	tests := []struct {
		name    string
		answer  func(w http.ResponseWriter)
		want    Support
		wantErr bool
	}{
		{"honoured", func(w http.ResponseWriter) {
			w.WriteHeader(http.StatusCreated)
			io.WriteString(w, `{"id":"11111111-1111-5111-8111-111111111111","status":"idle"}`)
		}, Yes, false},
		{"ignored (earlier revision)", func(w http.ResponseWriter) {
			w.WriteHeader(http.StatusCreated)
			io.WriteString(w, `{"id":"019e2d67-ff4d-7251-bce5-dfdec8e1991b","status":"idle"}`)
		}, No, true},
		{"refused", func(w http.ResponseWriter) {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"code":"invalid_request_body","detail":"unknown field thread_id","status":400}`)
		}, No, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, bodies := recordingServer(t, func(w http.ResponseWriter, _ *http.Request, _ map[string]any) { tt.answer(w) })
			c, _ := New(srv.URL, "key")
			_, err := c.CreateThread(context.Background(), &CreateThreadRequest{
				AgentID: "a1", ThreadID: "11111111-1111-5111-8111-111111111111", IfExists: IfExistsDoNothing,
				Metadata: map[string]any{"k": "v"}, Options: &ThreadOptions{TestRun: true},
			})
			if (err != nil) != tt.wantErr || (err != nil && !errors.Is(err, ErrThreadIDNotHonoured)) {
				t.Errorf("err = %v", err)
			}
			if got := c.Capabilities().ThreadIDOnCreate; got != tt.want {
				t.Errorf("ThreadIDOnCreate = %v, want %v", got, tt.want)
			}
			b := (*bodies)[0]
			if b["agent_id"] != "a1" || b["if_exists"] != "do_nothing" || b["options"] == nil {
				t.Errorf("managed body %v", b)
			}
		})
	}
	// An Agent Server gets no agent_id and no options.
	srv, bodies := recordingServer(t, func(w http.ResponseWriter, _ *http.Request, b map[string]any) {
		json.NewEncoder(w).Encode(map[string]any{"thread_id": b["thread_id"], "status": "idle"})
	})
	c, _ := New(srv.URL, "", WithDialect(AgentServer))
	if _, err := c.CreateThread(context.Background(), &CreateThreadRequest{AgentID: "x", ThreadID: "t-1", IfExists: IfExistsDoNothing, Options: &ThreadOptions{}}); err != nil {
		t.Fatal(err)
	}
	if b := (*bodies)[0]; len(b) != 2 || b["thread_id"] != "t-1" {
		t.Errorf("agent server body %v, want thread_id and if_exists only", b)
	}
}

func TestCapabilitiesLearnedOnce(t *testing.T) {
	srv, _ := recordingServer(t, func(w http.ResponseWriter, r *http.Request, _ map[string]any) {
		if strings.HasSuffix(r.URL.Path, "/state") {
			io.WriteString(w, `{"values":{"messages":[]}}`)
			return
		}
		http.NotFound(w, r)
	})
	c, _ := New(srv.URL, "key", WithRetry(1, 0, 0))
	if got := c.Capabilities(); got != (Capabilities{}) {
		t.Fatalf("a new client knows %+v, want nothing", got)
	}
	if _, err := c.JoinRunStream(context.Background(), "t", "r", ""); !IsStreamUnsupported(err) {
		t.Fatalf("join: %v", err)
	}
	if _, err := c.GetThreadState(context.Background(), "t"); err != nil {
		t.Fatal(err)
	}
	if got := c.Capabilities(); got.JoinStream != No || got.ThreadState != Yes {
		t.Errorf("learned %+v", got)
	}
	// A route seen working is not marked missing by a later 404.
	c.caps.learn(stateField, false)
	if c.Capabilities().ThreadState != Yes {
		t.Error("a 404 after success hid the state route")
	}
	as, _ := New(srv.URL, "", WithDialect(AgentServer))
	if got := as.Capabilities(); got.JoinStream != Yes || got.ThreadState != Yes || got.ThreadIDOnCreate != Yes {
		t.Errorf("agent server starts with %+v, want every route", got)
	}
	if _, err := New(srv.URL, ""); err == nil {
		t.Error("managed client without an API key")
	}
}
