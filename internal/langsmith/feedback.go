// Package langsmith is a client for the parts of the LangSmith API the bot
// uses besides the agent runtime: feedback on runs.
package langsmith

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DefaultAPIURL is LangSmith's API (US region).
const DefaultAPIURL = "https://api.smith.langchain.com"

// Client sends feedback to the LangSmith API.
type Client struct {
	base   string
	apiKey string
	http   *http.Client
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sets the HTTP client (default: a 15 s timeout).
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.http = hc } }

// New returns a client for the LangSmith API at base (e.g. DefaultAPIURL).
func New(base, apiKey string, opts ...Option) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(base, "/"))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("langsmith: API URL %q must be an http(s) URL", base)
	}
	if apiKey == "" {
		return nil, errors.New("langsmith: an API key is required")
	}
	c := &Client{base: u.String(), apiKey: apiKey, http: &http.Client{Timeout: 15 * time.Second}}
	for _, o := range opts {
		o(c)
	}
	if c.http == nil {
		return nil, errors.New("langsmith: WithHTTPClient: nil client")
	}
	return c, nil
}

// APIURLFor derives the LangSmith API from the agent runtime's URL when the
// runtime is LangSmith-hosted: the Managed Deep Agents API
// (https://api.smith.langchain.com/v1/deepagents, or a regional
// eu.api.smith.langchain.com) is served by the LangSmith API host itself,
// and LangSmith Deployments (*.langgraph.app) trace to the US API. Any other
// runtime (a self-hosted Agent Server) gives "": no feedback is sent unless
// the API is set explicitly.
func APIURLFor(runtimeURL string) string {
	u, err := url.Parse(runtimeURL)
	if err != nil || u.Host == "" {
		return ""
	}
	host := strings.ToLower(u.Hostname())
	switch {
	case host == "smith.langchain.com" || strings.HasSuffix(host, ".smith.langchain.com"):
		return "https://" + host
	case strings.HasSuffix(host, ".langgraph.app"):
		return DefaultAPIURL
	}
	return ""
}

// Feedback is a POST /feedback body: a score on a run.
type Feedback struct {
	// ID makes a retried send idempotent: LangSmith refuses a second
	// feedback with the same id.
	ID      string  `json:"id,omitempty"`
	RunID   string  `json:"run_id"`
	Key     string  `json:"key"`
	Score   float64 `json:"score"`
	Comment string  `json:"comment,omitempty"`
}

// Error is a non-2xx answer of the LangSmith API.
type Error struct {
	StatusCode int
	Detail     string
}

func (e *Error) Error() string {
	return fmt.Sprintf("langsmith: %d %s: %s", e.StatusCode, http.StatusText(e.StatusCode), e.Detail)
}

// CreateFeedback sends f. A 409 (that feedback id exists: an earlier send
// got through) counts as sent.
func (c *Client) CreateFeedback(ctx context.Context, f Feedback) error {
	if f.RunID == "" || f.Key == "" {
		return errors.New("langsmith: feedback needs a run id and a key")
	}
	body, err := json.Marshal(f)
	if err != nil {
		return fmt.Errorf("langsmith: encode feedback: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/feedback", bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("langsmith: feedback: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Api-Key", c.apiKey)
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("langsmith: feedback: %w", err)
	}
	defer resp.Body.Close()
	text, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	switch {
	case resp.StatusCode/100 == 2, resp.StatusCode == http.StatusConflict:
		return nil
	}
	return &Error{StatusCode: resp.StatusCode, Detail: detail(text)}
}

// detail is the error's "detail" field, or a short snippet of the body.
func detail(body []byte) string {
	var d struct {
		Detail any `json:"detail"`
	}
	if json.Unmarshal(body, &d) == nil && d.Detail != nil {
		return fmt.Sprint(d.Detail)
	}
	s := strings.TrimSpace(string(body))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
