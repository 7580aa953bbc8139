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
	"strings"
	"time"
)

// Header names Slack uses for v0 request signing.
const (
	headerTimestamp = "X-Slack-Request-Timestamp"
	headerSignature = "X-Slack-Signature"
)

// Defaults applied when the corresponding Verifier field is zero.
const (
	DefaultMaxSkew = 5 * time.Minute
	DefaultMaxBody = 1 << 20 // Slack payloads are a few KB; 1 MiB leaves room for big modals.
)

const (
	signaturePrefix = "v0="
	signatureHexLen = 2 * sha256.Size
	// maxTimestampDigits keeps the arithmetic below far from int64 overflow
	// (10^15 s is ~31 million years).
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
// request. Zero fields take the defaults above; Now defaults to time.Now.
type Verifier struct {
	Secret  string
	Now     func() time.Time
	MaxSkew time.Duration // accepted clock difference either way; default 5 min
	MaxBody int64         // bytes; default DefaultMaxBody
	Logger  *slog.Logger  // nil logs nothing
}

// LogValue keeps the signing secret out of logs if a Verifier is ever logged.
func (v Verifier) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Bool("secret_set", v.Secret != ""),
		slog.Duration("max_skew", v.maxSkew()),
		slog.Int64("max_body", v.maxBody()),
	)
}

// String keeps the signing secret out of fmt output.
func (v Verifier) String() string { return "slackhandler.Verifier{Secret:<redacted>}" }

func (v Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

func (v Verifier) maxSkew() time.Duration {
	if v.MaxSkew > 0 {
		return v.MaxSkew
	}
	return DefaultMaxSkew
}

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

// Reasons a request is rejected. They go to the log, never to the client.
var (
	errNoSecret       = errors.New("signing secret not configured")
	errMissingHeaders = errors.New("missing signature headers")
	errBadTimestamp   = errors.New("malformed timestamp")
	errStale          = errors.New("timestamp outside the allowed window")
	errBadSignature   = errors.New("malformed signature")
	errMismatch       = errors.New("signature mismatch")
)

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

// check verifies the signature headers against body.
func (v Verifier) check(h http.Header, body []byte) error {
	if v.Secret == "" {
		return errNoSecret
	}
	ts, sig := h.Get(headerTimestamp), h.Get(headerSignature)
	if ts == "" || sig == "" {
		return errMissingHeaders
	}
	sent, err := parseTimestamp(ts)
	if err != nil {
		return err
	}
	skew := v.now().Unix() - sent
	if skew < 0 {
		skew = -skew
	}
	if skew > int64(v.maxSkew()/time.Second) {
		return errStale
	}
	hexSig, ok := strings.CutPrefix(sig, signaturePrefix)
	if !ok || len(hexSig) != signatureHexLen {
		return errBadSignature
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil {
		return errBadSignature
	}
	if !hmac.Equal(got, mac(v.Secret, ts, body)) {
		return errMismatch
	}
	return nil
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
