package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Path is one kind of Slack request the generator sends.
type Path string

const (
	PathCommand Path = "commands" // a slash command prompt
	PathEvent   Path = "events"   // an app_mention starting a new conversation
)

// requestMaker builds distinct signed requests: every trigger id, event id,
// message ts and so job id is new, so no dedupe cache answers.
type requestMaker struct {
	path   Path
	nonce  string // unique per run, in every id
	conn   int
	secret []byte
}

func (m requestMaker) body(seq int) (urlPath, contentType string, body []byte) {
	switch m.path {
	case PathCommand:
		return "/slack/commands", "application/x-www-form-urlencoded", []byte(url.Values{
			"team_id": {"TLOAD0001"}, "channel_id": {"C" + m.nonce}, "user_id": {"ULOADUSER1"},
			"command": {benchCommand}, "text": {"summarize the incident in #ops and list the open questions"},
			"response_url": {"https://hooks.slack.com/commands/TLOAD0001/1/x"},
			"trigger_id":   {fmt.Sprintf("%s.%d.%d", m.nonce, m.conn, seq)},
		}.Encode())
	default:
		ts := fmt.Sprintf("1700000000.%03d%06d", m.conn, seq)
		return "/slack/events", "application/json", fmt.Appendf(nil,
			`{"token":"unused","team_id":"TLOAD0001","api_app_id":"ALOAD","type":"event_callback",`+
				`"event_id":"Ev%[1]s%[2]d_%[3]d","event_time":1700000000,`+
				`"authorizations":[{"team_id":"TLOAD0001","user_id":"%[4]s","is_bot":true}],`+
				`"event":{"type":"app_mention","user":"ULOADUSER1","channel":"C%[1]s","ts":"%[5]s","event_ts":"%[5]s",`+
				`"text":"<@%[4]s> summarize the incident in <#CINCIDENT1|incidents> and list the open questions"}}`,
			m.nonce, m.conn, seq, benchBotUser, ts)
	}
}

// appendRequest appends the wire form of request seq to buf.
func (m requestMaker) appendRequest(buf []byte, seq int, now time.Time) []byte {
	urlPath, contentType, body := m.body(seq)
	ts := strconv.FormatInt(now.Unix(), 10)
	mac := hmac.New(sha256.New, m.secret)
	io.WriteString(mac, "v0:"+ts+":")
	mac.Write(body)
	buf = fmt.Appendf(buf, "POST %s HTTP/1.1\r\nHost: loadbench\r\nContent-Type: %s\r\nContent-Length: %d\r\n"+
		"X-Slack-Request-Timestamp: %s\r\nX-Slack-Signature: v0=%s\r\n\r\n",
		urlPath, contentType, len(body), ts, hex.EncodeToString(mac.Sum(nil)))
	return append(buf, body...)
}

// Result is what one load run measured.
type Result struct {
	OK, Failed int
	Elapsed    time.Duration
	P50, P99   time.Duration
	FirstError string
}

// Throughput is acks per second.
func (r Result) Throughput() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.OK) / r.Elapsed.Seconds()
}

// loadOptions bound a run in time and in count.
type loadOptions struct {
	addr     string
	path     Path
	nonce    string
	conns    int
	warmup   time.Duration
	duration time.Duration
	maxReqs  int // per run, over all connections; 0 = no limit
}

// runLoad keeps conns keep-alive connections busy, one request in flight on
// each, for warmup then duration, and reports the measured part. Requests
// are written by hand and responses read with net/http's parser: a lighter
// client leaves more of the shared CPU to the server under test.
func runLoad(ctx context.Context, o loadOptions) (Result, error) {
	var budget atomic.Int64
	budget.Store(int64(o.maxReqs))
	take := func() bool { return o.maxReqs == 0 || budget.Add(-1) >= 0 }

	start := time.Now()
	measureFrom := start.Add(o.warmup)
	stopAt := measureFrom.Add(o.duration)
	type connResult struct {
		lat    []time.Duration
		failed int
		err    string
		last   time.Time
	}
	results := make([]connResult, o.conns)
	var wg sync.WaitGroup
	for c := range o.conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := &results[c]
			conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", o.addr)
			if err != nil {
				res.err = err.Error()
				return
			}
			defer conn.Close()
			br := bufio.NewReaderSize(conn, 8<<10)
			maker := requestMaker{path: o.path, nonce: o.nonce, conn: c, secret: []byte(benchSecret)}
			res.lat = make([]time.Duration, 0, 1<<14)
			var buf []byte
			for seq := 0; ctx.Err() == nil; seq++ {
				now := time.Now()
				if now.After(stopAt) || !take() {
					return
				}
				buf = maker.appendRequest(buf[:0], seq, now)
				if _, err := conn.Write(buf); err != nil {
					res.err = err.Error()
					return
				}
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					res.err = err.Error()
					return
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil {
					res.err = err.Error()
					return
				}
				end := time.Now()
				if now.Before(measureFrom) {
					continue
				}
				// An ack is an empty 200: the bot answers a slash command it
				// could not record with a 200 carrying an apology.
				if resp.StatusCode != http.StatusOK || len(bytes.TrimSpace(body)) != 0 {
					res.failed++
					if res.err == "" {
						res.err = fmt.Sprintf("status %d: %.100s", resp.StatusCode, body)
					}
					continue
				}
				res.lat = append(res.lat, end.Sub(now))
				res.last = end
			}
		}()
	}
	wg.Wait()

	var all []time.Duration
	var r Result
	last := measureFrom
	for _, cr := range results {
		all = append(all, cr.lat...)
		r.Failed += cr.failed
		if cr.err != "" && r.FirstError == "" {
			r.FirstError = cr.err
		}
		if cr.last.After(last) {
			last = cr.last
		}
	}
	r.OK = len(all)
	r.Elapsed = last.Sub(measureFrom)
	if r.OK == 0 {
		return r, errors.New("no request succeeded: " + r.FirstError)
	}
	slices.Sort(all)
	r.P50 = all[len(all)*50/100]
	r.P99 = all[min(len(all)-1, len(all)*99/100)]
	return r, nil
}
