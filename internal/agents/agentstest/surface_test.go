package agentstest

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestSurfaceRoutes: each surface serves exactly its routes; anything else
// is a router's 404.
func TestSurfaceRoutes(t *testing.T) {
	const tid = threadA
	routes := []struct{ method, path string }{
		{http.MethodPost, "/threads/runs"},
		{http.MethodGet, "/threads/" + tid + "/state"},
		{http.MethodGet, "/threads/" + tid + "/runs/r1/stream"},
		{http.MethodGet, "/threads/" + tid + "/runs/r1"},
		{http.MethodPost, "/threads/" + tid + "/runs/r1/cancel"},
		{http.MethodPost, "/threads/count"},
		{http.MethodPost, "/threads/" + tid + "/resolve-interrupt"},
		{http.MethodGet, "/threads/" + tid + "/history"},
	}
	// exposed[surface][i]: whether routes[i] exists there.
	exposed := map[Surface][]bool{
		ManagedDocumented: {true, false, false, false, false, true, true, false},
		ManagedProxy:      {true, true, true, true, true, true, true, false},
		AgentServer:       {false, true, true, true, true, false, false, false},
	}
	for sf, want := range exposed {
		t.Run(sf.String(), func(t *testing.T) {
			s := NewServer(WithSurface(sf))
			defer s.Close()
			for i, rt := range routes {
				resp := do(t, rt.method, s.URL+rt.path, "test-key", map[string]any{})
				body := string(resp.Body)
				routerMiss := (resp.Status == http.StatusNotFound && (strings.Contains(body, "404 page not found") || body == "404 Not Found")) ||
					resp.Status == http.StatusMethodNotAllowed
				if routerMiss == want[i] {
					t.Errorf("%s %s: %d %q, exposed want %v", rt.method, rt.path, resp.Status, resp.Body, want[i])
				}
			}
		})
	}
}

// TestManagedStreamRoute: POST /threads/{id}/runs/stream takes agent_id and
// at least one message, refuses assistant_id, and streams the run.
func TestManagedStreamRoute(t *testing.T) {
	s := NewServer(WithSurface(ManagedDocumented))
	defer s.Close()
	s.AddAgent("a1", Echo())
	create := do(t, http.MethodPost, s.URL+"/threads", "test-key", map[string]any{
		"agent_id": "a1", "thread_id": threadA, "if_exists": "do_nothing",
		"metadata": map[string]any{"k": "v"}, "options": map[string]any{"test_run": true},
	})
	if create.Status != http.StatusCreated || create.json(t)["id"] != threadA {
		t.Fatalf("create thread: %d %s", create.Status, create.Body)
	}
	again := do(t, http.MethodPost, s.URL+"/threads", "test-key", map[string]any{"agent_id": "a1", "thread_id": threadA, "if_exists": "do_nothing"})
	if again.Status != http.StatusCreated {
		t.Fatalf("do_nothing on an existing thread: %d %s", again.Status, again.Body)
	}
	url := s.URL + "/threads/" + threadA + "/runs/stream"
	body := runBody("a1", "", "hi")
	body["assistant_id"] = "a1"
	if r := do(t, http.MethodPost, url, "test-key", body); r.Status != http.StatusBadRequest {
		t.Errorf("assistant_id: %d %s, want 400", r.Status, r.Body)
	}
	noInput := resumeBody("a1", "", map[string]any{"type": "approve"})
	if r := do(t, http.MethodPost, url, "test-key", noInput); r.Status != http.StatusBadRequest || r.json(t)["code"] != CodeMissingRequiredField {
		t.Errorf("no messages: %d %s, want 400 missing_required_field", r.Status, r.Body)
	}
	if r := do(t, http.MethodPost, s.URL+"/threads/"+threadB+"/runs/stream", "test-key", runBody("a1", "", "hi")); r.Status != http.StatusNotFound {
		t.Errorf("unknown thread: %d, want 404", r.Status)
	}
	r := do(t, http.MethodPost, url, "test-key", runBody("a1", "", "hi"))
	if r.Status != http.StatusOK || r.Header.Get("Content-Location") != "" {
		t.Fatalf("stream: %d, Content-Location %q", r.Status, r.Header.Get("Content-Location"))
	}
	ws := parseSSE(strings.NewReader(string(r.Body)))
	if len(ws.Events) == 0 || ws.Events[0].Name != "metadata" || ws.Events[len(ws.Events)-1].Name != "end" {
		t.Fatalf("stream events %+v", ws.Events)
	}
	if !strings.Contains(string(r.Body), "You said: hi") {
		t.Errorf("stream lacks the answer")
	}
	runs := s.Runs()
	if len(runs) != 1 || runs[0].Options.TestRun != true || runs[0].Route != "/threads/"+threadA+"/runs/stream" {
		t.Errorf("runs %+v", runs)
	}
}

const threadB = "9f0c2f4e-5a4b-5c1d-9e2f-0123456789ab"

// TestOlderCreateThreadIgnoresThreadID: the earlier POST /threads picks its
// own id.
func TestOlderCreateThreadIgnoresThreadID(t *testing.T) {
	s := NewServer(WithSurface(ManagedDocumented), WithoutThreadIDOnCreate())
	defer s.Close()
	s.AddAgent("a1", Echo())
	r := do(t, http.MethodPost, s.URL+"/threads", "test-key", map[string]any{"agent_id": "a1", "thread_id": threadA, "if_exists": "do_nothing"})
	if r.Status != http.StatusCreated || r.json(t)["id"] == threadA {
		t.Fatalf("%d %s: want a thread with another id", r.Status, r.Body)
	}
}

// TestAgentServerDialect: assistant_id required, agent_id refused, no seed
// route, plain-text errors (observed on @langchain/langgraph-api 2.0.0).
func TestAgentServerDialect(t *testing.T) {
	s := NewServer(WithSurface(AgentServer))
	defer s.Close()
	s.AddAgent("agent", Echo())
	r := do(t, http.MethodPost, s.URL+"/threads", "test-key", map[string]any{"thread_id": threadA, "if_exists": "do_nothing", "metadata": map[string]any{"a": "1"}})
	if r.Status != http.StatusOK || r.json(t)["thread_id"] != threadA {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	if r := do(t, http.MethodPost, s.URL+"/threads", "test-key", map[string]any{"thread_id": threadA}); r.Status != http.StatusConflict ||
		string(r.Body) != "Thread already exists" || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/plain") {
		t.Errorf("duplicate under raise: %d %q", r.Status, r.Body)
	}
	url := s.URL + "/threads/" + threadA + "/runs/stream"
	if r := do(t, http.MethodPost, url, "test-key", runBody("agent", "", "hi")); r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), "ZodError") {
		t.Errorf("agent_id: %d %s, want a 400 Zod error", r.Status, r.Body)
	}
	body := runBody("agent", "", "hi")
	delete(body, "agent_id")
	delete(body, "stream_subgraphs")
	body["assistant_id"] = "agent"
	r = do(t, http.MethodPost, url, "test-key", body)
	if r.Status != http.StatusOK || !strings.Contains(string(r.Body), "You said: hi") || r.Header.Get("Content-Location") == "" {
		t.Fatalf("stream: %d %s", r.Status, r.Body)
	}
	th := do(t, http.MethodGet, s.URL+"/threads/"+threadA, "test-key", nil).json(t)
	if _, ok := th["values"]; !ok || th["thread_id"] != threadA {
		t.Errorf("thread %v: want thread_id and values", th)
	}
	if r := do(t, http.MethodGet, s.URL+"/threads/"+threadB, "test-key", nil); r.Status != http.StatusNotFound || string(r.Body) != "Thread with ID "+threadB+" not found" {
		t.Errorf("unknown thread: %d %q", r.Status, r.Body)
	}
}

// TestFailSubgraphStreams: with the knob a run asking for subgraphs fails
// at once like the real server; without subgraphs it answers.
func TestFailSubgraphStreams(t *testing.T) {
	s := NewServer(WithSurface(AgentServer), FailSubgraphStreams())
	defer s.Close()
	s.AddAgent("agent", Echo())
	do(t, http.MethodPost, s.URL+"/threads", "test-key", map[string]any{"thread_id": threadA})
	body := runBody("agent", "", "hi")
	delete(body, "agent_id")
	body["assistant_id"] = "agent"
	r := do(t, http.MethodPost, s.URL+"/threads/"+threadA+"/runs/stream", "test-key", body)
	if !strings.Contains(string(r.Body), "event: error") || !strings.Contains(string(r.Body), subgraphFailure) || strings.Contains(string(r.Body), "You said") {
		t.Fatalf("subgraph run: %s", r.Body)
	}
	delete(body, "stream_subgraphs")
	r = do(t, http.MethodPost, s.URL+"/threads/"+threadA+"/runs/stream", "test-key", body)
	if !strings.Contains(string(r.Body), "You said: hi") {
		t.Fatalf("plain run: %s", r.Body)
	}
}

// TestStreamOnDisconnect: a cut stream cancels the run unless the request
// said on_disconnect "continue".
func TestStreamOnDisconnect(t *testing.T) {
	for _, mode := range []string{"", "continue"} {
		t.Run("on_disconnect="+mode, func(t *testing.T) {
			s := NewServer(WithSurface(ManagedDocumented))
			defer s.Close()
			s.AddAgent("a1", Scripted(Text("one ", "two ", "three"), Pause(50*time.Millisecond), Text("done")))
			do(t, http.MethodPost, s.URL+"/threads", "test-key", map[string]any{"agent_id": "a1", "thread_id": threadA, "if_exists": "do_nothing"})
			s.CutStreamsAfter(2)
			body := runBody("a1", "", "hi")
			if mode != "" {
				body["on_disconnect"] = mode
			}
			do(t, http.MethodPost, s.URL+"/threads/"+threadA+"/runs/stream", "test-key", body)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := s.WaitIdle(ctx); err != nil {
				t.Fatal(err)
			}
			run := s.Runs()[0]
			want := "interrupted"
			if mode == "continue" {
				want = "success"
			}
			if run.Status != want {
				t.Errorf("run status %q, want %q", run.Status, want)
			}
		})
	}
}
