package slackfake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
)

// params are a call's arguments: form fields, or a JSON body's top-level fields with
// strings unquoted and everything else kept as raw JSON text. The token is never kept.
type params map[string]string

// maxBody bounds what one request may send; Slack's own limits are far below it.
const maxBody = 4 << 20

// readParams decodes a request the way Slack accepts it (form or JSON) and returns the
// token from the "token" field or the Authorization header.
func readParams(r *http.Request) (params, string, error) {
	p := params{}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		return p, "", fmt.Errorf("read body: %w", err)
	}
	ctype, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ctype == "application/json" {
		if err := decodeJSONParams(body, p); err != nil {
			return p, "", err
		}
	} else {
		r.Body = io.NopCloser(bytes.NewReader(body))
		if err := r.ParseForm(); err != nil {
			return p, "", fmt.Errorf("parse form: %w", err)
		}
		for k, v := range r.Form {
			if len(v) > 0 {
				p[k] = v[0]
			}
		}
	}
	token := p["token"]
	delete(p, "token")
	if bearer, found := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); found && token == "" {
		token = bearer
	}
	return p, token, nil
}

func decodeJSONParams(body []byte, p params) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		return fmt.Errorf("decode json body: %w", err)
	}
	for k, raw := range fields {
		if string(raw) == "null" {
			continue // an absent value, as encoders send for nil fields
		}
		var str string
		if err := json.Unmarshal(raw, &str); err == nil {
			p[k] = str
			continue
		}
		p[k] = string(raw)
	}
	return nil
}
