package langsmith

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestAPIURLFor(t *testing.T) {
	tests := []struct{ runtime, want string }{
		{"https://api.smith.langchain.com/v1/deepagents", "https://api.smith.langchain.com"},
		{"https://eu.api.smith.langchain.com/v1/deepagents", "https://eu.api.smith.langchain.com"},
		{"https://my-agent-1234.us.langgraph.app", DefaultAPIURL},
		{"http://127.0.0.1:2024", ""},
		{"https://evil-smith.langchain.com.example.org", ""},
		{"::not a url", ""},
	}
	for _, tc := range tests {
		if got := APIURLFor(tc.runtime); got != tc.want {
			t.Errorf("APIURLFor(%q) = %q, want %q", tc.runtime, got, tc.want)
		}
	}
}

func TestCreateFeedback(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		wantErr bool
	}{
		{"created", http.StatusOK, false},
		{"already sent", http.StatusConflict, false},
		{"bad key", http.StatusUnauthorized, true},
		{"server error", http.StatusInternalServerError, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got Feedback
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodPost || r.URL.Path != "/feedback" || r.Header.Get("X-Api-Key") != "k" {
					http.Error(w, `{"detail":"wrong request"}`, http.StatusBadRequest)
					return
				}
				_ = json.NewDecoder(r.Body).Decode(&got)
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(`{"detail":"nope"}`))
			}))
			defer srv.Close()
			c, err := New(srv.URL+"/", "k", WithHTTPClient(srv.Client()))
			if err != nil {
				t.Fatal(err)
			}
			f := Feedback{ID: "id-1", RunID: "run-1", Key: "user_score", Score: 1, Comment: "by <@U1>"}
			err = c.CreateFeedback(context.Background(), f)
			if (err != nil) != tc.wantErr {
				t.Fatalf("CreateFeedback: %v, want error %v", err, tc.wantErr)
			}
			if got != f {
				t.Errorf("server got %+v, want %+v", got, f)
			}
		})
	}
	if _, err := New("ftp://x", "k"); err == nil {
		t.Error("New with an ftp URL: want an error")
	}
	if _, err := New(DefaultAPIURL, ""); err == nil {
		t.Error("New without a key: want an error")
	}
}
