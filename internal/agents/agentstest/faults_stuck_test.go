package agentstest

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/deepagents-slack/slackbot/internal/agents"
)

// A run start whose answer is dropped did start; the client cannot tell,
// and finds the run in the thread's run list (Agent Server) by its
// metadata.
func TestDropRunStartAnswersAndListRuns(t *testing.T) {
	s := NewServer(WithSurface(AgentServer))
	t.Cleanup(s.Close)
	s.AddAgent("agent-1", Echo())
	c, err := agents.New(s.URL, "test-key", agents.WithDialect(agents.AgentServer), agents.WithRetry(1, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if _, err := c.CreateThread(ctx, &agents.CreateThreadRequest{AgentID: "agent-1", ThreadID: threadA, IfExists: agents.IfExistsDoNothing}); err != nil {
		t.Fatalf("CreateThread: %v", err)
	}
	start := func(ts string) (*agents.Stream, error) {
		return c.StreamRun(ctx, threadA, &agents.RunRequest{
			Agent:        "agent-1",
			Input:        &agents.Input{Messages: []agents.Message{{Role: agents.RoleUser, Content: "hi " + ts}}},
			Metadata:     map[string]any{"slack_message_ts": ts},
			StreamMode:   []string{"values"},
			OnDisconnect: agents.OnDisconnectContinue,
		})
	}
	s.DropRunStartAnswers(1)
	if _, err := start("1.000"); !errors.Is(err, agents.ErrOutcomeUnknown) {
		t.Fatalf("dropped answer: err = %v; want ErrOutcomeUnknown", err)
	}
	second, err := start("2.000")
	if err != nil {
		t.Fatalf("second start: %v", err)
	}
	second.Close()
	runs, err := c.ListThreadRuns(ctx, threadA, 10)
	if err != nil {
		t.Fatalf("ListThreadRuns: %v", err)
	}
	if len(runs) != 2 || runs[0].Metadata["slack_message_ts"] != "2.000" || runs[1].Metadata["slack_message_ts"] != "1.000" {
		t.Fatalf("runs = %+v; want the second then the dropped one, newest first", runs)
	}
	if _, err := c.ListThreadRuns(ctx, "00000000-0000-4000-8000-00000000dead", 10); agents.ErrorStatus(err) != http.StatusNotFound {
		t.Errorf("ListThreadRuns(missing thread) = %v; want 404", err)
	}
}

// The Managed Deep Agents API documents no run list.
func TestListRunsUnsupportedOnManagedSurfaces(t *testing.T) {
	for _, sf := range []Surface{ManagedDocumented, ManagedProxy} {
		s := NewServer(WithSurface(sf))
		t.Cleanup(s.Close)
		c, err := agents.New(s.URL, "test-key")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.ListThreadRuns(t.Context(), threadA, 10); !agents.IsRunListUnsupported(err) {
			t.Errorf("%s: ListThreadRuns = %v; want unsupported", sf, err)
		}
	}
}

// A stalled stream sends nothing, not even keep-alives, after n events.
func TestStallStreamsAfter(t *testing.T) {
	s := NewServer()
	t.Cleanup(s.Close)
	s.AddAgent("agent-1", Scripted(Text("a", "b", "c", "d")))
	run := startRun(t, s, runBody("agent-1", threadA, "go"))
	waitIdle(t, s)
	s.StallStreamsAfter(2)
	c, err := agents.New(s.URL, "test-key")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	st, err := c.JoinRunStream(ctx, threadA, run["run_id"].(string), "")
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := st.Next(); err != nil {
			t.Fatalf("event before the stall: %v", err)
		}
	}
	read := st.BytesRead()
	next := make(chan error, 1)
	go func() { _, err := st.Next(); next <- err }()
	select {
	case err := <-next:
		t.Fatalf("Next after the stall returned %v; want it to block", err)
	case <-time.After(3 * defaultHeartbeatIdle):
	}
	if st.BytesRead() != read {
		t.Errorf("the stalled stream sent %d more bytes; want silence", st.BytesRead()-read)
	}
	st.Close()
	if err := <-next; err == nil {
		t.Errorf("Next after Close = nil; want an end")
	}
}

// A run start whose events are withheld answers 200 text/event-stream and
// then sends nothing (or only keep-alives), while the run itself goes on.
func TestWithholdRunStartEvents(t *testing.T) {
	for _, keepAlives := range []bool{false, true} {
		s := NewServer(WithSurface(ManagedDocumented))
		t.Cleanup(s.Close)
		s.AddAgent("agent-1", Scripted(Text("a")))
		c, err := agents.New(s.URL, "test-key")
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		if _, err := c.CreateThread(ctx, &agents.CreateThreadRequest{AgentID: "agent-1", ThreadID: threadA, IfExists: agents.IfExistsDoNothing}); err != nil {
			t.Fatalf("CreateThread: %v", err)
		}
		s.WithholdRunStartEvents(keepAlives)
		st, err := c.StreamRun(ctx, threadA, &agents.RunRequest{
			Agent:        "agent-1",
			Input:        &agents.Input{Messages: []agents.Message{{Role: agents.RoleUser, Content: "hi"}}},
			StreamMode:   []string{"values"},
			OnDisconnect: agents.OnDisconnectContinue,
		})
		if err != nil {
			t.Fatalf("keep-alives %v: StreamRun: %v", keepAlives, err)
		}
		next := make(chan error, 1)
		go func() { _, err := st.Next(); next <- err }()
		select {
		case err := <-next:
			t.Fatalf("keep-alives %v: Next returned %v; want it to block", keepAlives, err)
		case <-time.After(3 * defaultHeartbeatIdle):
		}
		if got := st.BytesRead() > 0; got != keepAlives {
			t.Errorf("keep-alives %v: %d bytes read", keepAlives, st.BytesRead())
		}
		st.Close()
		<-next
		if err := s.WaitIdle(ctx); err != nil {
			t.Fatal(err)
		}
		if runs := s.Runs(); len(runs) != 1 || runs[0].Status != agents.RunSuccess {
			t.Errorf("keep-alives %v: runs %+v; want one that finished", keepAlives, runs)
		}
	}
}

// A held POST /threads answers nothing until released; a client that gives
// up meanwhile creates no thread.
func TestHoldThreadCreates(t *testing.T) {
	s := NewServer()
	t.Cleanup(s.Close)
	s.AddAgent("agent-1", Echo())
	c, err := agents.New(s.URL, "test-key", agents.WithRetry(1, 0, 0))
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	s.HoldThreadCreates(release)
	req := &agents.CreateThreadRequest{AgentID: "agent-1", ThreadID: threadA, IfExists: agents.IfExistsDoNothing}
	ctx, cancel := context.WithTimeout(t.Context(), 3*defaultHeartbeatIdle)
	defer cancel()
	if _, err := c.CreateThread(ctx, req); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("held CreateThread = %v; want the client's deadline", err)
	}
	if _, err := c.GetThread(t.Context(), threadA); agents.ErrorStatus(err) != http.StatusNotFound {
		t.Errorf("GetThread after a given-up create = %v; want 404", err)
	}
	close(release)
	if _, err := c.CreateThread(t.Context(), req); err != nil {
		t.Errorf("released CreateThread: %v", err)
	}
}
