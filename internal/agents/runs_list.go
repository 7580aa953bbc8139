package agents

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
)

// ListThreadRuns returns up to limit of a thread's runs, newest first, with
// GET /threads/{thread_id}/runs (Agent Server). The Managed Deep Agents API
// does not document this route; there it answers 404 or 405, which
// IsRunListUnsupported reports. A thread that does not exist is a 404 too:
// callers tell the two apart with GetThread.
func (c *Client) ListThreadRuns(ctx context.Context, threadID string, limit int) ([]Run, error) {
	if threadID == "" {
		return nil, errors.New("agents: list runs: thread id is required")
	}
	q := url.Values{}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	resp, err := c.send(ctx, call{
		op: "list runs", method: http.MethodGet, path: "/threads/" + url.PathEscape(threadID) + "/runs", query: q,
	})
	if err != nil {
		return nil, err
	}
	defer drainClose(resp.Body)
	var runs []Run
	if err := decodeJSON(resp, &runs); err != nil {
		return nil, fmt.Errorf("agents: list runs: %w", err)
	}
	return runs, nil
}

// IsRunListUnsupported reports whether err from ListThreadRuns means the
// runtime has no such route (404 or 405).
func IsRunListUnsupported(err error) bool {
	switch ErrorStatus(err) {
	case http.StatusNotFound, http.StatusMethodNotAllowed:
		return true
	}
	return false
}
