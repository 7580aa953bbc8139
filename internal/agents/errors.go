package agents

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"
)

// ErrOutcomeUnknown marks a run start whose request reached the network in
// full but whose answer never arrived (the connection dropped, a timeout
// fired). The run may or may not have started, so the client does not retry
// it: a retry could start a second run. Callers can look at the thread
// (GetThread) to find out.
var ErrOutcomeUnknown = errors.New("agents: request was sent but no answer arrived; the run may have started")

// ErrNotEventStream is returned by JoinRunStream when the runtime answers 2xx
// with something other than text/event-stream, which means the route is not
// a run stream there (IsStreamUnsupported reports true for it).
var ErrNotEventStream = errors.New("agents: run stream route did not answer with text/event-stream")

// Error is a non-2xx answer of the API. It decodes both shapes the runtime
// uses, the structured ErrorResponse {"type","code","detail","status"} and the
// auth layer's flat {"error":"Unauthorized"}, plus the Agent Server's
// {"detail": ...} and other common shapes.
type Error struct {
	StatusCode int
	// Code is the machine-readable code, e.g. "agent_not_found".
	Code string
	// Type is the problem type URI of an ErrorResponse.
	Type string
	// Detail is the API's explanation, usually with a hint how to fix it.
	Detail string
	// Message is a short message where the body had no detail (e.g.
	// "Unauthorized"), or a snippet of a body that was not JSON.
	Message string
	// RetryAfter is the wait the API asked for with Retry-After, if any.
	RetryAfter time.Duration
}

// Error describes the failure in one line. The client wraps it with the
// operation ("agents: create run: API error 404 ..."). It is built from the
// response only, with the API key redacted from the body.
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "API error %d", e.StatusCode)
	if text := http.StatusText(e.StatusCode); text != "" {
		fmt.Fprintf(&b, " %s", text)
	}
	if e.Code != "" {
		fmt.Fprintf(&b, " (%s)", e.Code)
	}
	switch {
	case e.Detail != "":
		fmt.Fprintf(&b, ": %s", e.Detail)
	case e.Message != "":
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	return b.String()
}

// Text is what a person should read: the detail, else the message, else the
// HTTP status text.
func (e *Error) Text() string {
	switch {
	case e.Detail != "":
		return e.Detail
	case e.Message != "":
		return e.Message
	default:
		return http.StatusText(e.StatusCode)
	}
}

// ErrorStatus returns the HTTP status of the *Error in err's chain, or 0 when
// err did not come from an API answer (network failure, nil).
func ErrorStatus(err error) int {
	var apiErr *Error
	if errors.As(err, &apiErr) {
		return apiErr.StatusCode
	}
	return 0
}

// Limits for error bodies: how much is read, and how much of a non-JSON body
// is kept in the error.
const (
	maxErrorBody    = 64 << 10
	maxErrorSnippet = 200
)

// decodeError builds the *Error for a non-2xx answer from its body, with
// secret (the API key) removed from everything it keeps.
func decodeError(status int, body []byte, secret string) *Error {
	e := &Error{StatusCode: status}
	defer e.redact(secret)
	if secret != "" {
		// Before parsing too, so that a truncated snippet cannot keep a
		// prefix of the key.
		body = bytes.ReplaceAll(body, []byte(secret), []byte("[redacted]"))
	}
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return e
	}
	var fields map[string]json.RawMessage
	if body[0] != '{' || json.Unmarshal(body, &fields) != nil {
		e.Message = snippet(body)
		return e
	}
	e.Type = jsonString(fields["type"])
	e.Code = jsonString(fields["code"])
	e.Detail = detailText(fields["detail"])
	e.Message = jsonString(fields["message"])
	if raw, ok := fields["error"]; ok {
		e.absorbErrorField(raw)
	}
	if e.Detail == "" && e.Message == "" && e.Code == "" {
		// A JSON body in a shape we do not know: keep it readable.
		e.Message = snippet(body)
	}
	return e
}

// absorbErrorField takes the "error" member, which is either a string (the
// auth layer's {"error":"Unauthorized"}) or an object {"message","code","type"}.
func (e *Error) absorbErrorField(raw json.RawMessage) {
	if s := jsonString(raw); s != "" {
		if e.Message == "" {
			e.Message = s
		}
		return
	}
	var nested struct {
		Message string `json:"message"`
		Code    any    `json:"code"`
		Type    string `json:"type"`
		// Issues of a Zod validation error, as the JS Agent Server sends
		// them: {"success":false,"error":{"issues":[…],"name":"ZodError"}}
		// (observed on @langchain/langgraph-api 2.0.0).
		Issues []struct {
			Message string `json:"message"`
			Path    []any  `json:"path"`
		} `json:"issues"`
	}
	if json.Unmarshal(raw, &nested) != nil {
		return
	}
	if e.Message == "" {
		e.Message = nested.Message
	}
	if e.Detail == "" && len(nested.Issues) > 0 {
		var parts []string
		for _, is := range nested.Issues {
			path := make([]string, 0, len(is.Path))
			for _, p := range is.Path {
				path = append(path, fmt.Sprint(p))
			}
			if len(path) > 0 {
				parts = append(parts, strings.Join(path, ".")+": "+is.Message)
			} else {
				parts = append(parts, is.Message)
			}
		}
		e.Detail = strings.Join(parts, "; ")
	}
	if e.Code == "" && nested.Code != nil {
		e.Code = fmt.Sprint(nested.Code)
	}
	if e.Type == "" {
		e.Type = nested.Type
	}
}

// jsonString returns raw as a string when it is a JSON string, else "".
func jsonString(raw json.RawMessage) string {
	var s string
	if len(raw) == 0 || json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

// detailText reads "detail", which is a string in ErrorResponse and in most
// Agent Server errors, but a list of {loc, msg} items in FastAPI validation
// errors (422).
func detailText(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	if s := jsonString(raw); s != "" {
		return s
	}
	var items []struct {
		Loc []any  `json:"loc"`
		Msg string `json:"msg"`
	}
	if json.Unmarshal(raw, &items) == nil {
		parts := make([]string, 0, len(items))
		for _, it := range items {
			if it.Msg == "" {
				continue
			}
			if len(it.Loc) > 0 {
				loc := make([]string, len(it.Loc))
				for i, l := range it.Loc {
					loc[i] = fmt.Sprint(l)
				}
				parts = append(parts, strings.Join(loc, ".")+": "+it.Msg)
			} else {
				parts = append(parts, it.Msg)
			}
		}
		if len(parts) > 0 {
			return strings.Join(parts, "; ")
		}
	}
	var obj struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(raw, &obj) == nil && obj.Message != "" {
		return obj.Message
	}
	return snippet(raw)
}

// snippet shortens a body for an error message: whitespace collapsed, cut at
// maxErrorSnippet bytes on a rune boundary.
func snippet(body []byte) string {
	s := strings.Join(strings.Fields(string(body)), " ")
	if len(s) <= maxErrorSnippet {
		return strings.ToValidUTF8(s, "\uFFFD")
	}
	cut := maxErrorSnippet
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strings.ToValidUTF8(s[:cut], "\uFFFD") + "…"
}

// redact removes secret from every text field of e. The API has no reason to
// echo the key back, but an error string must never carry it.
func (e *Error) redact(secret string) {
	if secret == "" {
		return
	}
	for _, f := range []*string{&e.Code, &e.Type, &e.Detail, &e.Message} {
		*f = strings.ReplaceAll(*f, secret, "[redacted]")
	}
}

// IsRunNotFound reports whether err is the runtime saying the run does not
// exist (code run_not_found), as opposed to a route it does not expose.
func IsRunNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.StatusCode == http.StatusNotFound && e.Code == "run_not_found"
}
