package relay

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/deepagents-slack/slackbot"
	"github.com/deepagents-slack/slackbot/internal/agents"
	"github.com/deepagents-slack/slackbot/internal/agents/agentstest"
	"github.com/deepagents-slack/slackbot/internal/slackpost"
	"github.com/deepagents-slack/slackbot/internal/slackpost/slackfake"
	"github.com/deepagents-slack/slackbot/internal/threadmap"
)

func TestCheckpoint(t *testing.T) {
	ev := func(id, mode string, ns ...string) agents.Event {
		return agents.Event{ID: id, Mode: mode, Namespace: ns, Data: json.RawMessage(`{}`)}
	}
	tests := []struct {
		name   string
		events []agents.Event
		want   string
	}{
		{"no values yet", []agents.Event{ev("1", "metadata"), ev("2", "messages")}, ""},
		{"before the latest values", []agents.Event{ev("1", "metadata"), ev("2", "values"), ev("3", "messages"), ev("4", "values"), ev("5", "messages")}, "3"},
		{"values first: from the start", []agents.Event{ev("1", "values"), ev("2", "messages")}, ""},
		{"a subgraph's values do not count", []agents.Event{ev("1", "metadata"), ev("2", "values"), ev("3", "values", "tools:1")}, "1"},
		{"events without ids keep the last id", []agents.Event{ev("7", "metadata"), ev("", "messages"), ev("", "values")}, "7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &checkpoint{}
			for _, e := range tt.events {
				c.see(e)
			}
			if c.id != tt.want {
				t.Errorf("resume point = %q; want %q", c.id, tt.want)
			}
		})
	}
}

func TestCheckpointIsThrottled(t *testing.T) {
	c := &checkpoint{id: "3"}
	now := time.Unix(1000, 0)
	if !c.due("", now) {
		t.Fatal("the first resume point is not saved at once")
	}
	c.id = "9"
	if c.due("3", now.Add(checkpointEvery-time.Millisecond)) {
		t.Error("saved again within checkpointEvery")
	}
	if !c.due("3", now.Add(checkpointEvery)) {
		t.Error("a moved resume point is not saved after checkpointEvery")
	}
	if c.due("9", now.Add(10*checkpointEvery)) {
		t.Error("an unchanged resume point is saved again")
	}
}

// joinRecorder proxies the fake runtime and records the Last-Event-ID of
// every run-stream join (GET …/runs/{run_id}/stream).
type joinRecorder struct {
	mu    sync.Mutex
	joins []string
}

func (j *joinRecorder) proxy(t *testing.T, target string) *httptest.Server {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(&url.URL{Scheme: u.Scheme, Host: u.Host})
		pr.Out.URL.Path = pr.In.URL.Path // the runtime's base path is in target and in the client's URL alike
	}, FlushInterval: -1}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/stream") {
			j.mu.Lock()
			j.joins = append(j.joins, r.Header.Get("Last-Event-ID"))
			j.mu.Unlock()
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func (j *joinRecorder) all() []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]string(nil), j.joins...)
}

// diesAtCheckpoint is a replica's store that saves the first stream resume
// point and then has the replica stop, as a crash or SIGTERM would.
type diesAtCheckpoint struct {
	threadmap.Store
	stop  context.CancelFunc
	saved atomic.Value // string
}

func (s *diesAtCheckpoint) LeaseJob(ctx context.Context, id, owner string, ttl time.Duration) (slackbot.Job, error) {
	return s.Store.(threadmap.JobLeaser).LeaseJob(ctx, id, owner, ttl)
}

func (s *diesAtCheckpoint) UpdateJob(ctx context.Context, j slackbot.Job) error {
	err := s.Store.UpdateJob(ctx, j)
	if j.LastEventID != "" && err == nil && s.saved.CompareAndSwap(nil, j.LastEventID) {
		s.stop()
	}
	return err
}

// A replica stops while it follows a run; the worker that takes the job
// over rejoins the run's stream from the resume point the first one saved,
// not from the start, and still delivers the whole answer.
func TestTakeoverResumesTheStreamFromTheSavedEvent(t *testing.T) {
	runtime := agentstest.NewServer()
	t.Cleanup(runtime.Close)
	runtime.AddAgent(testAgent, agentstest.Scripted(
		agentstest.Todos(agentstest.Todo{Content: "look", Status: agentstest.TodoInProgress}),
		agentstest.Text("the whole ", "answer"),
		agentstest.Pause(200*time.Millisecond),
		agentstest.Todos(agentstest.Todo{Content: "look", Status: agentstest.TodoCompleted}),
	))
	rec := &joinRecorder{}
	front := rec.proxy(t, runtime.URL)
	fake := slackfake.New()
	t.Cleanup(fake.Close)
	store := openTestStore(t)
	newReplica := func(owner string, store threadmap.Store) *Relay {
		client, err := agents.New(front.URL+agentstest.BasePath, "test-key")
		if err != nil {
			t.Fatal(err)
		}
		r, err := New(store, client,
			PosterSlack{Poster: slackpost.New(slack.New("xoxb-test", slack.OptionAPIURL(fake.APIURL())))},
			WithPolicy(Policy{DefaultAgent: testAgent}),
			WithOwner(owner),
			WithLeaseTTL(time.Second),
		)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}

	firstCtx, stopFirst := context.WithCancel(t.Context())
	defer stopFirst()
	dying := &diesAtCheckpoint{Store: store, stop: stopFirst}
	first := newReplica("first", dying)
	ticket := startTestRun(t, first)
	if res, _ := first.FollowTestRun(firstCtx, ticket); res.Status != TestRunInterrupted {
		t.Fatalf("first replica: %+v; want it interrupted at its first checkpoint", res)
	}
	saved, _ := dying.saved.Load().(string)
	job, err := store.Job(t.Context(), ticket.JobID)
	if err != nil {
		t.Fatal(err)
	}
	if saved == "" || job.LastEventID != saved || job.Final() {
		t.Fatalf("after the first replica: job %s, last event id %q; want unfinished at %q", job.State, job.LastEventID, saved)
	}
	joinsBefore := len(rec.all())

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	res, err := newReplica("second", store).FollowTestRun(ctx, ticket)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != TestRunSuccess || res.Answer != "the whole answer" {
		t.Fatalf("takeover: %+v; want the whole answer", res)
	}
	joins := rec.all()[joinsBefore:]
	if len(joins) == 0 || joins[0] != saved {
		t.Errorf("takeover joins with Last-Event-ID %q; want the first at the saved %q", joins, saved)
	}
}
