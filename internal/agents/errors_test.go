package agents

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestDecodeError(t *testing.T) {
	long := strings.Repeat("upstream exploded ", 100)
	tests := []struct {
		name   string
		status int
		body   string
		want   Error
	}{
		{"ErrorResponse", 404,
			`{"type":"https://docs.langchain.com/errors/agent_not_found","code":"agent_not_found","detail":"Check the agent id: agent not found","status":404}`,
			Error{Type: "https://docs.langchain.com/errors/agent_not_found", Code: "agent_not_found", Detail: "Check the agent id: agent not found"}},
		{"auth layer", 401, `{"error":"Unauthorized"}`, Error{Message: "Unauthorized"}},
		{"agent server detail", 409, `{"detail":"Thread is already running a task."}`, Error{Detail: "Thread is already running a task."}},
		{"validation detail list", 422, `{"detail":[{"loc":["body","agent_id"],"msg":"field required"},{"msg":"bad"}]}`,
			Error{Detail: "body.agent_id: field required; bad"}},
		{"detail object", 400, `{"detail":{"message":"nope"}}`, Error{Detail: "nope"}},
		{"message", 429, `{"message":"slow down"}`, Error{Message: "slow down"}},
		{"nested error", 502, `{"error":{"message":"gateway failed","code":503,"type":"upstream"}}`,
			Error{Message: "gateway failed", Code: "503", Type: "upstream"}},
		// Observed on @langchain/langgraph-api 2.0.0 (JS Agent Server).
		{"JS plain text", 404, "Thread with ID 2222 not found", Error{Message: "Thread with ID 2222 not found"}},
		{"JS Zod validation", 400,
			`{"success":false,"error":{"issues":[{"code":"invalid_type","expected":"string","received":"undefined","path":["assistant_id"],"message":"Required"}],"name":"ZodError"}}`,
			Error{Detail: "assistant_id: Required"}},
		{"unknown JSON", 500, `{"foo": 1}`, Error{Message: `{"foo": 1}`}},
		{"html", 502, "<html>\n  <body>Bad   Gateway</body>\n</html>\n", Error{Message: "<html> <body>Bad Gateway</body> </html>"}},
		{"empty", 503, "", Error{}},
		{"long text", 500, long, Error{Message: strings.TrimSpace(long)[:maxErrorSnippet] + "…"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := decodeError(tt.status, []byte(tt.body), "")
			want := tt.want
			want.StatusCode = tt.status
			if *got != want {
				t.Errorf("got  %+v\nwant %+v", *got, want)
			}
		})
	}
}

func TestDecodeErrorSnippetKeepsUTF8(t *testing.T) {
	body := strings.Repeat("é", maxErrorSnippet) // 2 bytes each: the cut falls inside a rune
	got := decodeError(500, []byte(body), "").Message
	if !utf8.ValidString(got) || len(got) > maxErrorSnippet+len("…") {
		t.Errorf("snippet %q (%d bytes)", got, len(got))
	}
}

func TestErrorNeverShowsTheKey(t *testing.T) {
	const key = "lsv2_sk_abcdef0123456789"
	bodies := []string{
		`{"detail":"bad key ` + key + `"}`,
		`{"error":"Forbidden: ` + key + `"}`,
		`{"code":"` + key + `","message":"x"}`,
		strings.Repeat("x", maxErrorSnippet-5) + key, // the cut would keep a prefix of the key
		`<p>` + key + `</p>`,
	}
	for _, body := range bodies {
		e := decodeError(403, []byte(body), key)
		if msg := fmt.Sprintf("%v %+v", e, *e); strings.Contains(msg, key) || strings.Contains(msg, key[:12]) {
			t.Errorf("error shows the key: %s", msg)
		}
	}
}

func TestErrorText(t *testing.T) {
	tests := []struct {
		err       Error
		msg, text string
	}{
		{Error{StatusCode: 404, Code: "agent_not_found", Detail: "agent not found"},
			"API error 404 Not Found (agent_not_found): agent not found", "agent not found"},
		{Error{StatusCode: 401, Message: "Unauthorized"}, "API error 401 Unauthorized: Unauthorized", "Unauthorized"},
		{Error{StatusCode: 503}, "API error 503 Service Unavailable", "Service Unavailable"},
		{Error{StatusCode: 599}, "API error 599", ""},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.msg {
			t.Errorf("Error() = %q, want %q", got, tt.msg)
		}
		if got := tt.err.Text(); got != tt.text {
			t.Errorf("Text() = %q, want %q", got, tt.text)
		}
	}
}

func TestErrorStatus(t *testing.T) {
	wrapped := fmt.Errorf("agents: create run: %w", &Error{StatusCode: 409})
	tests := []struct {
		err  error
		want int
	}{
		{nil, 0},
		{errors.New("dial tcp: refused"), 0},
		{&Error{StatusCode: 422}, 422},
		{wrapped, 409},
		{fmt.Errorf("gave up: %w (last error: %w)", errors.New("ctx"), wrapped), 409},
	}
	for _, tt := range tests {
		if got := ErrorStatus(tt.err); got != tt.want {
			t.Errorf("ErrorStatus(%v) = %d, want %d", tt.err, got, tt.want)
		}
	}
}

// FuzzDecodeError: any body decodes without panicking and never leaks the
// key into what the error shows.
func FuzzDecodeError(f *testing.F) {
	for _, seed := range []string{
		`{"type":"t","code":"c","detail":"d","status":404}`, `{"error":"Unauthorized"}`, `{"detail":[{"loc":["a"],"msg":"m"}]}`,
		`{"success":false,"error":{"issues":[{"path":["assistant_id",0],"message":"Required"}],"name":"ZodError"}}`,
		"Thread with ID x not found", "", `{"error":{"issues":null}}`,
	} {
		f.Add(400, seed)
	}
	const key = "sk-fuzz-secret-key"
	f.Fuzz(func(t *testing.T, status int, body string) {
		e := decodeError(status, []byte(body+key), key)
		if strings.Contains(e.Error(), key) || strings.Contains(e.Text(), key) {
			t.Fatalf("key leaked: %q", e.Error())
		}
	})
}
