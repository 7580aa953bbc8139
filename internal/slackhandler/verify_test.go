package slackhandler

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Slack's documented example (docs.slack.dev, verifying requests from Slack).
const (
	slackDocSecret = "8f742231b10e8888abcd99yyyzzz85a5"
	slackDocTS     = "1531420618"
	slackDocBody   = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
	slackDocSig    = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
)

// slack-go's security_test.go vector.
const (
	slackGoSecret = "e6b19c573432dcc6b075501d51b51bb8"
	slackGoTS     = "1531431954"
	slackGoBody   = `{"token":"aF5ynEYQH0dFN9imlgcADxDB","team_id":"XXXXXXXXX","api_app_id":"YYYYYYYYY","event":{"type":"app_mention","user":"AAAAAAAAA","text":"<@EEEEEEEEE> hello world","client_msg_id":"477cc591-ch73-a14z-4db8-g0cd76321bec","ts":"1531431954.000073","channel":"TTTTTTTTT","event_ts":"1531431954.000073"},"type":"event_callback","event_id":"TvBP7LRED7","event_time":1531431954,"authed_users":["EEEEEEEEE"]}`
	slackGoSig    = "v0=adada4ed31709aef585c2580ca3267678c6a8eaeb7e0c1aca3ee57b656886b2c"
)

func TestSignKnownAnswers(t *testing.T) {
	tests := []struct {
		name, secret, ts, body, want string
	}{
		{"slack docs", slackDocSecret, slackDocTS, slackDocBody, slackDocSig},
		{"slack-go", slackGoSecret, slackGoTS, slackGoBody, slackGoSig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Sign(tt.secret, tt.ts, []byte(tt.body)); got != tt.want {
				t.Errorf("Sign = %s, want %s", got, tt.want)
			}
		})
	}
}

// recordingNext stands in for the dispatching handler behind the verifier.
type recordingNext struct {
	called int
	body   string
}

func (n *recordingNext) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n.called++
	buf := new(bytes.Buffer)
	_, _ = buf.ReadFrom(r.Body)
	n.body = buf.String()
	w.WriteHeader(http.StatusOK)
}

func TestVerifierAcceptsSignedRequests(t *testing.T) {
	ts := strconv.FormatInt(testNow.Unix(), 10)
	sig := Sign(testSecret, ts, []byte(slackDocBody))
	tests := []struct {
		name, sig string
	}{
		{"as signed", sig},
		{"uppercase hex", "v0=" + strings.ToUpper(sig[3:])},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, "/slack/x", strings.NewReader(slackDocBody))
			req.Header.Set("x-slack-request-timestamp", ts) // header names are case-insensitive
			req.Header.Set("x-slack-signature", tt.sig)
			next := &recordingNext{}
			rec := serve(testVerifier().Middleware(next), req)
			if rec.Code != http.StatusOK || next.called != 1 {
				t.Fatalf("status %d, next called %d times; want 200, once", rec.Code, next.called)
			}
			if next.body != slackDocBody {
				t.Errorf("next saw body %q, want the original body", next.body)
			}
		})
	}
}

func TestVerifierAcceptsFreshlySignedRequestWithRealClock(t *testing.T) {
	v := Verifier{Secret: testSecret, Logger: discardLogger()}
	body := []byte(`{"type":"url_verification","challenge":"abc"}`)
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req := httptest.NewRequest(http.MethodPost, "/slack/events", bytes.NewReader(body))
	req.Header.Set(headerTimestamp, ts)
	req.Header.Set(headerSignature, Sign(testSecret, ts, body))
	next := &recordingNext{}
	if rec := serve(v.Middleware(next), req); rec.Code != http.StatusOK || next.called != 1 {
		t.Fatalf("status %d, next called %d times", rec.Code, next.called)
	}
}

func TestVerifierRejects(t *testing.T) {
	body := []byte("command=%2Fagent&text=hello")
	now := testNow.Unix()
	tsAt := func(d time.Duration) string { return strconv.FormatInt(now+int64(d/time.Second), 10) }
	ts := tsAt(0)
	good := Sign(testSecret, ts, body)
	hexPart := good[len("v0="):]

	tests := []struct {
		name     string
		method   string
		secret   string // verifier secret; testSecret if empty and !noSecret
		noSecret bool
		ts       string
		sig      string
		body     []byte
		want     int
	}{
		{name: "forged signature", ts: ts, sig: Sign("other-secret", ts, body), want: 401},
		{name: "one flipped hex digit", ts: ts, sig: "v0=" + flipLast(hexPart), want: 401},
		{name: "stale, 6 minutes old", ts: tsAt(-6 * time.Minute), sig: Sign(testSecret, tsAt(-6*time.Minute), body), want: 401},
		{name: "future, 6 minutes ahead", ts: tsAt(6 * time.Minute), sig: Sign(testSecret, tsAt(6*time.Minute), body), want: 401},
		{name: "far future", ts: "999999999999999", sig: Sign(testSecret, "999999999999999", body), want: 401},
		{name: "valid signature replayed with another body", ts: ts, sig: good, body: []byte("command=%2Fagent&text=rm+-rf"), want: 401},
		{name: "valid signature replayed with another timestamp", ts: tsAt(-time.Minute), sig: good, want: 401},
		{name: "unsigned", want: 401},
		{name: "timestamp only", ts: ts, want: 401},
		{name: "signature only", sig: good, want: 401},
		{name: "non-hex signature", ts: ts, sig: "v0=" + strings.Repeat("zz", 32), want: 401},
		{name: "short signature", ts: ts, sig: good[:len(good)-2], want: 401},
		{name: "long signature", ts: ts, sig: good + "00", want: 401},
		{name: "missing v0= prefix", ts: ts, sig: hexPart, want: 401},
		{name: "v1= prefix", ts: ts, sig: "v1=" + hexPart, want: 401},
		{name: "non-numeric timestamp", ts: "yesterday", sig: Sign(testSecret, "yesterday", body), want: 401},
		{name: "signed timestamp", ts: "+" + ts, sig: Sign(testSecret, "+"+ts, body), want: 401},
		{name: "timestamp with spaces", ts: ts + " ", sig: Sign(testSecret, ts+" ", body), want: 401},
		{name: "huge timestamp", ts: "99999999999999999999", sig: Sign(testSecret, "99999999999999999999", body), want: 401},
		{name: "verifier without secret", noSecret: true, ts: ts, sig: Sign("", ts, body), want: 401},
		{name: "GET", method: http.MethodGet, ts: ts, sig: good, want: 405},
		{name: "PUT", method: http.MethodPut, ts: ts, sig: good, want: 405},
		{name: "oversized body", ts: ts, body: bytes.Repeat([]byte("a"), 1025), sig: Sign(testSecret, ts, bytes.Repeat([]byte("a"), 1025)), want: 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs := new(bytes.Buffer)
			v := Verifier{Secret: testSecret, MaxBody: 1024, Logger: slog.New(slog.NewJSONHandler(logs, nil))}
			if tt.noSecret {
				v.Secret = ""
			}
			method, reqBody := http.MethodPost, body
			if tt.method != "" {
				method = tt.method
			}
			if tt.body != nil {
				reqBody = tt.body
			}
			req := httptest.NewRequest(method, "/slack/commands", bytes.NewReader(reqBody))
			if tt.ts != "" {
				req.Header.Set(headerTimestamp, tt.ts)
			}
			if tt.sig != "" {
				req.Header.Set(headerSignature, tt.sig)
			}
			next := &recordingNext{}
			rec := serve(v.Middleware(next), req)
			if rec.Code != tt.want {
				t.Errorf("status = %d, want %d", rec.Code, tt.want)
			}
			if next.called != 0 {
				t.Errorf("next handler was called")
			}
			if got := rec.Body.String(); len(got) > 40 || strings.Contains(got, "signature") {
				t.Errorf("response body %q should be short and generic", got)
			}
			if tt.sig != "" && strings.Contains(logs.String(), tt.sig[min(3, len(tt.sig)):]) {
				t.Errorf("log leaks the signature: %s", logs)
			}
			if strings.Contains(logs.String(), "text=") || strings.Contains(logs.String(), testSecret) {
				t.Errorf("log leaks the body or the secret: %s", logs)
			}
			if !strings.Contains(logs.String(), "slack request rejected") {
				t.Errorf("no structured log line for the rejection")
			}
		})
	}
}

// Just inside slack-go's 5-minute window either way passes (the margin
// covers the test's own run time).
func TestVerifierWindow(t *testing.T) {
	body := []byte("x=1")
	for _, d := range []time.Duration{-5*time.Minute + 10*time.Second, 5*time.Minute - 10*time.Second} {
		ts := strconv.FormatInt(time.Now().Add(d).Unix(), 10)
		req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		req.Header.Set(headerTimestamp, ts)
		req.Header.Set(headerSignature, Sign(testSecret, ts, body))
		next := &recordingNext{}
		if rec := serve(testVerifier().Middleware(next), req); rec.Code != http.StatusOK {
			t.Errorf("skew %v: status %d, want 200", d, rec.Code)
		}
	}
}

func TestVerifierNeverPrintsSecret(t *testing.T) {
	v := testVerifier()
	logs := new(bytes.Buffer)
	slog.New(slog.NewJSONHandler(logs, nil)).Info("config", slog.Any("verifier", v))
	for _, s := range []string{fmt.Sprint(v), fmt.Sprintf("%+v", v), logs.String()} {
		if strings.Contains(s, testSecret) {
			t.Errorf("secret printed: %s", s)
		}
	}
}

func flipLast(s string) string {
	last := s[len(s)-1]
	if last == '0' {
		return s[:len(s)-1] + "1"
	}
	return s[:len(s)-1] + "0"
}

// FuzzVerify: whatever the headers and body, the verifier does not panic, and
// it lets a request through exactly when it is correctly signed and recent.
func FuzzVerify(f *testing.F) {
	now := testNow.Unix()
	ts := strconv.FormatInt(now, 10)
	f.Add(ts, Sign(testSecret, ts, []byte("a=b")), []byte("a=b"), "POST")
	f.Add(ts, Sign(testSecret, ts, []byte("a=b")), []byte("a=c"), "POST")
	f.Add(ts, Sign(testSecret, ts, nil), []byte{}, "POST")
	f.Add("1531420618", slackDocSig, []byte(slackDocBody), "POST") // right, but stale
	f.Add("", "", []byte(""), "GET")
	f.Add("-1", "v0=", []byte("{"), "POST")
	f.Add(ts, "v0="+strings.Repeat("g", 64), []byte("x"), "POST")
	f.Add(strconv.FormatInt(now-301, 10), Sign(testSecret, strconv.FormatInt(now-301, 10), []byte("x")), []byte("x"), "POST")

	v := Verifier{Secret: testSecret, MaxBody: 4096, Logger: discardLogger()}
	f.Fuzz(func(t *testing.T, ts, sig string, body []byte, method string) {
		req, err := http.NewRequest(method, "http://bot.example/slack/events", bytes.NewReader(body))
		if err != nil {
			t.Skip() // not a method net/http can send
		}
		req.Header[headerTimestamp] = []string{ts}
		req.Header[headerSignature] = []string{sig}
		next := &recordingNext{}
		rec := serve(v.Middleware(next), req)

		sent, tsErr := strconv.ParseInt(ts, 10, 64)
		digitsOnly := ts != "" && len(ts) <= 15 && strings.Trim(ts, "0123456789") == ""
		if now := time.Now().Unix(); digitsOnly && tsErr == nil && abs(now-sent) >= 298 && abs(now-sent) <= 302 {
			t.Skip() // at the window's edge on the real clock: either answer is right
		}
		now := time.Now().Unix()
		recent := digitsOnly && tsErr == nil && sent >= now-300 && sent <= now+300
		wantPass := req.Method == http.MethodPost && len(body) <= 4096 && recent &&
			strings.HasPrefix(sig, "v0=") && strings.EqualFold(sig[3:], Sign(testSecret, ts, body)[3:])
		if passed := next.called == 1; passed != wantPass {
			t.Fatalf("passed=%v want %v (status %d) for ts=%q sig=%q body=%q method=%q",
				passed, wantPass, rec.Code, ts, sig, body, method)
		}
		if wantPass && next.body != string(body) {
			t.Fatalf("body not restored")
		}
		if !wantPass && rec.Code == http.StatusOK {
			t.Fatalf("rejected request answered 200")
		}
	})
}

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}
