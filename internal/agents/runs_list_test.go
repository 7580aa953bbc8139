package agents

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
)

// A 2xx to a run start whose body cannot be read means the run started but
// its id is unknown: the caller must look for it, as after a dropped
// connection, not report a failure or start it again.
func TestCreateRunUnreadableAnswerIsOutcomeUnknown(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(`{"run_id": "r-1", "status":`)) // cut short
	}))
	t.Cleanup(srv.Close)
	c, err := New(srv.URL, "key")
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.CreateThreadRun(t.Context(), &CreateRunRequest{AgentID: "a"})
	if !errors.Is(err, ErrOutcomeUnknown) {
		t.Fatalf("err = %v; want ErrOutcomeUnknown", err)
	}
}

func TestListThreadRunsUnsupported(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(srv.Close)
	c, err := New(srv.URL, "key")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListThreadRuns(t.Context(), "t-1", 5); !IsRunListUnsupported(err) {
		t.Fatalf("err = %v; want unsupported", err)
	}
}
