package agents

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/google/uuid"
)

// ErrThreadIDNotHonoured is returned by CreateThread when the runtime does
// not create threads with the id asked for: it refused thread_id (400/422)
// or ignored it and picked its own (Managed only; an Agent Server always
// takes it). Older revisions of the Managed Deep
// Agents POST /threads take only agent_id and options
// (../reference/openapi/managed-deep-agents-openapi.json, CreateThreadRequest).
var ErrThreadIDNotHonoured = errors.New("agents: the runtime does not create threads with a given thread_id")

// CreateThreadRequest is the body of POST /threads. AgentID and Options exist
// on the Managed Deep Agents API only; an Agent Server gets thread_id,
// if_exists and metadata.
type CreateThreadRequest struct {
	AgentID  string
	ThreadID string
	IfExists string
	Metadata map[string]any
	Options  *ThreadOptions
}

// CreateThread creates a thread with POST /threads (with IfExistsDoNothing,
// or returns the existing one). It is idempotent for a given ThreadID and
// retried like a read. When the runtime does not honour ThreadID the error
// wraps ErrThreadIDNotHonoured and the client remembers it (Capabilities).
func (c *Client) CreateThread(ctx context.Context, req *CreateThreadRequest) (*Thread, error) {
	if req == nil || req.ThreadID == "" {
		return nil, errors.New("agents: create thread: thread_id is required")
	}
	body := map[string]any{"thread_id": req.ThreadID}
	if req.IfExists != "" {
		body["if_exists"] = req.IfExists
	}
	if req.Metadata != nil {
		body["metadata"] = req.Metadata
	}
	if c.dialect == Managed {
		if req.AgentID == "" {
			return nil, errors.New("agents: create thread: agent_id is required")
		}
		body["agent_id"] = req.AgentID
		if req.Options != nil {
			body["options"] = req.Options
		}
	}
	b, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("agents: create thread: encode request: %w", err)
	}
	resp, err := c.send(ctx, call{op: "create thread", method: http.MethodPost, path: "/threads", body: b})
	if err != nil {
		if s := ErrorStatus(err); c.dialect == Managed && (s == http.StatusBadRequest || s == http.StatusUnprocessableEntity) {
			c.caps.learn(threadIDField, false)
			return nil, fmt.Errorf("%w: %w", ErrThreadIDNotHonoured, err)
		}
		return nil, err
	}
	defer drainClose(resp.Body)
	var th Thread
	if err := decodeJSON(resp, &th); err != nil {
		return nil, fmt.Errorf("agents: create thread: %w", err)
	}
	if th.ThreadID != req.ThreadID {
		c.caps.learn(threadIDField, false)
		return &th, fmt.Errorf("agents: create thread: asked for %s, got %q: %w", req.ThreadID, th.ThreadID, ErrThreadIDNotHonoured)
	}
	c.caps.learn(threadIDField, true)
	return &th, nil
}

// RunRequest is a run on an existing thread (POST /threads/{id}/runs/stream).
// Agent is the agent id (Managed, sent as agent_id) or the assistant id or
// graph name (Agent Server, sent as assistant_id).
type RunRequest struct {
	Agent             string         `json:"-"`
	Input             *Input         `json:"input,omitempty"`
	Command           *Command       `json:"command,omitempty"`
	Metadata          map[string]any `json:"metadata,omitempty"`
	Config            *RunConfig     `json:"config,omitempty"`
	Context           map[string]any `json:"context,omitempty"`
	MultitaskStrategy string         `json:"multitask_strategy,omitempty"`
	StreamMode        []string       `json:"stream_mode,omitempty"`
	StreamSubgraphs   bool           `json:"stream_subgraphs,omitempty"`
	StreamResumable   bool           `json:"stream_resumable,omitempty"`
	// OnDisconnect "continue" keeps the run going when the stream's
	// connection drops; the runtime's default is "cancel".
	OnDisconnect string `json:"on_disconnect,omitempty"`
	Webhook      string `json:"webhook,omitempty"`
}

// RunConfig is a run's config; Configurable reaches the graph.
type RunConfig struct {
	Configurable map[string]any `json:"configurable,omitempty"`
}

// On-disconnect policies of a streamed run.
const (
	OnDisconnectCancel   = "cancel"
	OnDisconnectContinue = "continue"
)

// resumeNoOpMessage is sent as input with a resume on the Managed Deep
// Agents stream route, whose StreamRunRequest requires at least one message
// (../reference/agent-runtime-api.md §4: "resume runs still need a
// non-empty message list"). The runtime does not add resume input to the
// thread.
var resumeNoOpMessage = Message{Role: RoleSystem, Content: ""}

// runBody is the JSON of req in the client's dialect.
func (c *Client) runBody(req *RunRequest) ([]byte, error) {
	type runRequest RunRequest // no methods
	body := struct {
		AgentID     string `json:"agent_id,omitempty"`
		AssistantID string `json:"assistant_id,omitempty"`
		*runRequest
	}{runRequest: (*runRequest)(req)}
	if c.dialect == AgentServer {
		body.AssistantID = req.Agent
	} else {
		body.AgentID = req.Agent
		if req.Command != nil && req.Input == nil {
			cp := *req
			cp.Input = &Input{Messages: []Message{resumeNoOpMessage}}
			body.runRequest = (*runRequest)(&cp)
		}
	}
	return json.Marshal(body)
}

// StreamRun starts a run on thread threadID and streams its events, with
// POST /threads/{id}/runs/stream (documented on the Managed Deep Agents API
// and on every Agent Server). The run id comes from the Content-Location
// header; without one (the documented Managed surface sends none) RunID is
// empty until PeekRunID reads the stream's first (metadata) event. That
// read is left to the caller, which can bound it: a runtime may answer 200
// and then stay silent.
//
// Like CreateThreadRun it is not retried once the request was written; a
// lost answer wraps ErrOutcomeUnknown. Closing the stream does not cancel
// the run when req.OnDisconnect is "continue".
func (c *Client) StreamRun(ctx context.Context, threadID string, req *RunRequest) (*Stream, error) {
	if threadID == "" || req == nil || req.Agent == "" {
		return nil, errors.New("agents: stream run: thread id and agent are required")
	}
	body, err := c.runBody(req)
	if err != nil {
		return nil, fmt.Errorf("agents: stream run: encode request: %w", err)
	}
	resp, err := c.send(ctx, call{
		op: "stream run", method: http.MethodPost,
		path:   "/threads/" + url.PathEscape(threadID) + "/runs/stream",
		body:   body,
		accept: "text/event-stream", stream: true, startsRun: true,
	})
	if err != nil {
		return nil, err
	}
	if err := checkEventStream(resp, "stream run"); err != nil {
		// A 2xx: the run may well have started.
		return nil, fmt.Errorf("%w: %w", ErrOutcomeUnknown, err)
	}
	s := newStream(resp.Body, DefaultMaxEventBytes, "")
	s.runID = RunIDFromContentLocation(resp.Header.Get("Content-Location"))
	return s, nil
}

// GetRun reads a run with GET /threads/{id}/runs/{run_id} (Agent Server,
// and Managed where proxied).
func (c *Client) GetRun(ctx context.Context, threadID, runID string) (*Run, error) {
	if threadID == "" || runID == "" {
		return nil, errors.New("agents: get run: thread id and run id are required")
	}
	resp, err := c.send(ctx, call{
		op: "get run", method: http.MethodGet,
		path: "/threads/" + url.PathEscape(threadID) + "/runs/" + url.PathEscape(runID),
	})
	if err != nil {
		return nil, err
	}
	defer drainClose(resp.Body)
	var run Run
	if err := decodeJSON(resp, &run); err != nil {
		return nil, fmt.Errorf("agents: get run: %w", err)
	}
	return &run, nil
}

// CancelRun asks the runtime to stop a run with POST
// /threads/{id}/runs/{run_id}/cancel?action=interrupt: the run ends
// "interrupted" and the thread keeps what it produced so far. It does not
// wait for the run to end. The documented Managed API has no such route: the
// 404 or 405 is returned and remembered (Capabilities.Cancel).
func (c *Client) CancelRun(ctx context.Context, threadID, runID string) error {
	if threadID == "" || runID == "" {
		return errors.New("agents: cancel run: thread id and run id are required")
	}
	resp, err := c.send(ctx, call{
		op: "cancel run", method: http.MethodPost,
		path:  "/threads/" + url.PathEscape(threadID) + "/runs/" + url.PathEscape(runID) + "/cancel",
		query: url.Values{"action": {"interrupt"}, "wait": {"false"}},
	})
	if err != nil {
		if IsStreamUnsupported(err) && !IsRunNotFound(err) {
			c.caps.learn(cancelField, false)
		}
		return err
	}
	c.caps.learn(cancelField, true)
	drainClose(resp.Body)
	return nil
}

// ProbeCancel learns, once, whether the runtime exposes run cancel, by
// cancelling a run id that does not exist on a thread that does: a runtime
// with the route answers run_not_found, one without answers a bare 404.
// It does nothing once Capabilities().Cancel is known.
func (c *Client) ProbeCancel(ctx context.Context, threadID string) {
	if c.caps.get().Cancel != Unknown || threadID == "" {
		return
	}
	err := c.CancelRun(ctx, threadID, uuid.NewString())
	if IsRunNotFound(err) {
		c.caps.learn(cancelField, true)
	}
}

// RunFinished reports whether a run status is final.
func RunFinished(status string) bool {
	switch status {
	case RunSuccess, RunError, RunTimeout, RunInterrupted:
		return true
	}
	return false
}
