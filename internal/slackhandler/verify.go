package slackhandler

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/slack-go/slack"
)

// Header names Slack uses for v0 request signing.
const (
	headerTimestamp = "X-Slack-Request-Timestamp"
	headerSignature = "X-Slack-Signature"
)

// DefaultMaxBody applies when Verifier.MaxBody is zero.
const DefaultMaxBody = 1 << 20 // Slack payloads are a few KB; 1 MiB leaves room for big modals.

const (
	signaturePrefix = "v0="
	// maxTimestampDigits keeps timestamps far from int64 overflow (10^15 s
	// is ~31 million years).
	maxTimestampDigits = 15
)

// Sign returns Slack's v0 signature of body sent at ts: "v0=" followed by the
// hex HMAC-SHA256, keyed with the raw secret bytes, of "v0:"+ts+":"+body.
func Sign(secret string, ts string, body []byte) string {
	return signaturePrefix + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("v0:" + ts + ":"))
	m.Write(body)
	return m.Sum(nil)
}

// Verifier checks Slack's request signature before anything else looks at a
// request: slack.NewSecretsVerifier (v0 HMAC-SHA256 over the raw body,
// constant-time compare, 5-minute window on the local clock) behind a body
// limit, plus the stricter timestamp rule below.
type Verifier struct {
	Secret  string
	MaxBody int64        // bytes; default DefaultMaxBody
	Logger  *slog.Logger // nil logs nothing
}

// LogValue keeps the signing secret out of logs if a Verifier is ever logged.
func (v Verifier) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Bool("secret_set", v.Secret != ""),
		slog.Int64("max_body", v.maxBody()),
	)
}

// String keeps the signing secret out of fmt output.
func (v Verifier) String() string { return "slackhandler.Verifier{Secret:<redacted>}" }

func (v Verifier) maxBody() int64 {
	if v.MaxBody > 0 {
		return v.MaxBody
	}
	return DefaultMaxBody
}

func (v Verifier) logger() *slog.Logger {
	if v.Logger != nil {
		return v.Logger
	}
	return discard
}

// errBadTimestamp rejects a timestamp that is not plain digits. The reason
// goes to the log, never to the client.
var errBadTimestamp = errors.New("malformed timestamp")

// Middleware lets through only POST requests whose raw body is correctly
// signed and recent. It rejects with 405 (method), 413 (body too large) or
// 401 (anything about the signature) without calling next. On success next
// gets the request with its body restored, so it can parse it as usual.
func (v Verifier) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		log := v.logger().With(slog.String("path", r.URL.Path), slog.String("remote", r.RemoteAddr))
		if r.Method != http.MethodPost {
			log.Warn("slack request rejected", slog.String("reason", "method not allowed"), slog.String("method", r.Method))
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		limit := v.maxBody()
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
		if err != nil {
			if _, tooBig := errors.AsType[*http.MaxBytesError](err); tooBig {
				log.Warn("slack request rejected", slog.String("reason", "body too large"), slog.Int64("limit", limit))
				http.Error(w, "request too large", http.StatusRequestEntityTooLarge)
				return
			}
			log.Warn("slack request rejected", slog.String("reason", "reading body"), slog.Any("err", err))
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		if err := v.check(r.Header, body); err != nil {
			log.Warn("slack request rejected", slog.String("reason", err.Error()), slog.Int("body_bytes", len(body)))
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		next.ServeHTTP(w, r)
	})
}

// check verifies the signature headers against body with slack-go.
func (v Verifier) check(h http.Header, body []byte) error {
	// Kept by hand because it is stricter: slack-go's strconv.ParseInt
	// takes a signed timestamp ("+1531420618"); Slack sends plain digits.
	if ts := h.Get(headerTimestamp); ts != "" {
		if _, err := parseTimestamp(ts); err != nil {
			return err
		}
	}
	sv, err := slack.NewSecretsVerifier(h, v.Secret)
	if err != nil {
		return err
	}
	if _, err := sv.Write(body); err != nil {
		return err
	}
	return sv.Ensure()
}

// parseTimestamp accepts only plain decimal digits: no sign, no spaces, and
// few enough digits that later arithmetic cannot overflow.
func parseTimestamp(ts string) (int64, error) {
	if len(ts) > maxTimestampDigits {
		return 0, errBadTimestamp
	}
	for i := 0; i < len(ts); i++ {
		if ts[i] < '0' || ts[i] > '9' {
			return 0, errBadTimestamp
		}
	}
	n, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return 0, errBadTimestamp
	}
	return n, nil
}
