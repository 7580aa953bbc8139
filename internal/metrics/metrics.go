// Package metrics exposes the bot's operational counters to Prometheus.
package metrics

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds every collector, registered on its own registry (no global state).
type Metrics struct {
	reg *prometheus.Registry

	requests        *prometheus.CounterVec
	ackSeconds      *prometheus.HistogramVec
	eventRetries    *prometheus.CounterVec
	eventsByHand    *prometheus.CounterVec
	eventsDropped   *prometheus.CounterVec
	appRateLimited  prometheus.Counter
	runsStarted     prometheus.Counter
	runsFinished    *prometheus.CounterVec
	runsInFlight    prometheus.Gauge
	leaseTakeovers  prometheus.Counter
	approvals       *prometheus.CounterVec
	duplicates      *prometheus.CounterVec
	slackCalls      *prometheus.CounterVec
	slackErrors     *prometheus.CounterVec
	jobsGaveUp      *prometheus.CounterVec
	feedback        *prometheus.CounterVec
	runsStopped     prometheus.Counter
	dispatcherWakes *prometheus.CounterVec
}

// New creates the collectors.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "slackbot_http_requests_total", Help: "Slack requests by route and status.",
		}, []string{"route", "status"}),
		ackSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "slackbot_ack_seconds", Help: "Time from a Slack request to its ack.",
			Buckets: []float64{.001, .005, .01, .05, .1, .25, .5, 1, 2, 3},
		}, []string{"route"}),
		eventRetries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "slackbot_event_retries_total", Help: "Events API deliveries that were Slack retries.",
		}, []string{"num", "reason"}),
		eventsByHand: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "slackbot_events_decoded_by_hand_total", Help: "Events slack-go could not decode, read from their basic fields instead.",
		}, []string{"type"}),
		eventsDropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "slackbot_events_dropped_total", Help: "Events the bot could not use at all, by type and reason.",
		}, []string{"type", "reason"}),
		appRateLimited: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "slackbot_app_rate_limited_total", Help: "app_rate_limited notices from Slack.",
		}),
		runsStarted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "slackbot_runs_started_total", Help: "Agent runs started.",
		}),
		runsFinished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "slackbot_runs_finished_total", Help: "Agent runs followed to their end, by outcome.",
		}, []string{"outcome"}),
		runsInFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "slackbot_runs_in_flight", Help: "Runs this replica is following now.",
		}),
		leaseTakeovers: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "slackbot_lease_takeovers_total", Help: "Jobs taken over after another worker's lease expired.",
		}),
		approvals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "slackbot_approvals_total", Help: "Approval decisions, by decision.",
		}, []string{"decision"}),
		duplicates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "slackbot_duplicate_deliveries_total", Help: "Slack deliveries recognised as duplicates.",
		}, []string{"kind"}),
		slackCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "slackbot_slack_api_calls_total", Help: "Slack Web API calls by method and HTTP status (429 = rate limited, error = no response).",
		}, []string{"method", "status"}),
		slackErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "slackbot_slack_api_errors_total", Help: "Slack Web API calls that failed, by method and Slack error code (ratelimited = HTTP 429).",
		}, []string{"method", "error"}),
		jobsGaveUp: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "slackbot_jobs_gave_up_total", Help: "Jobs ended without their answer (permanent error, attempts or run age used up), by reason and where the user was told (thread, ephemeral, response_url, none).",
		}, []string{"reason", "told"}),
	}
	m.feedback = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "slackbot_feedback_total", Help: "Users' first verdict on an answer (👍 good, 👎 bad), and whether it reached LangSmith (sent, failed, not_sent).",
	}, []string{"score", "langsmith"})
	m.runsStopped = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "slackbot_runs_stopped_total", Help: "Runs stopped from Slack (Stop button or Slack's own stop).",
	})
	m.dispatcherWakes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "slackbot_dispatcher_wakes_total", Help: "Times the idle job dispatcher woke, by source: local (work recorded by this replica), listen (announced by another replica through PostgreSQL LISTEN/NOTIFY), poll (the fallback poll).",
	}, []string{"source"})
	m.reg.MustRegister(m.jobsGaveUp, m.feedback, m.runsStopped, m.dispatcherWakes)
	for _, src := range []string{"local", "listen", "poll"} {
		m.dispatcherWakes.WithLabelValues(src)
	}
	for _, score := range []string{"good", "bad"} {
		for _, sent := range []string{"sent", "failed", "not_sent"} {
			m.feedback.WithLabelValues(score, sent)
		}
	}
	m.reg.MustRegister(m.requests, m.ackSeconds, m.eventRetries, m.eventsByHand, m.eventsDropped, m.appRateLimited, m.runsStarted,
		m.runsFinished, m.runsInFlight, m.leaseTakeovers, m.approvals, m.duplicates, m.slackCalls, m.slackErrors,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// Known series start at zero, so dashboards and rate() see them before
	// the first event (a counter that appears later hides its first increase).
	for _, o := range []string{"success", "error", "interrupted", "stopped"} {
		m.runsFinished.WithLabelValues(o)
	}
	for _, d := range []string{"approve", "reject", "edit", "respond"} {
		m.approvals.WithLabelValues(d)
	}
	for _, method := range []string{"chat.postMessage", "chat.update", "chat.startStream", "chat.appendStream", "chat.stopStream"} {
		m.slackErrors.WithLabelValues(method, "ratelimited")
	}
	return m
}

// Handler serves /metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// ObserveAck records one Slack request's ack.
func (m *Metrics) ObserveAck(route string, d time.Duration, status int) {
	m.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	m.ackSeconds.WithLabelValues(route).Observe(d.Seconds())
}

// EventRetried records a retried Events API delivery.
func (m *Metrics) EventRetried(num int, reason string) {
	m.eventRetries.WithLabelValues(strconv.Itoa(num), reason).Inc()
}

// EventDecodedByHand records an event slack-go could not decode. The handler
// calls it only for the few event types it routes, so the label set is small.
func (m *Metrics) EventDecodedByHand(eventType string) {
	m.eventsByHand.WithLabelValues(eventType).Inc()
}

// EventDropped records an event the bot could not use.
func (m *Metrics) EventDropped(eventType, reason string) {
	m.eventsDropped.WithLabelValues(eventType, reason).Inc()
}

// AppRateLimited records an app_rate_limited notice.
func (m *Metrics) AppRateLimited() { m.appRateLimited.Inc() }

func (m *Metrics) RunStarted()                { m.runsStarted.Inc() }
func (m *Metrics) RunFinished(outcome string) { m.runsFinished.WithLabelValues(outcome).Inc() }
func (m *Metrics) RunsInFlight(delta int)     { m.runsInFlight.Add(float64(delta)) }
func (m *Metrics) LeaseTakeover()             { m.leaseTakeovers.Inc() }

// JobGaveUp counts a job ended without its answer.
func (m *Metrics) JobGaveUp(reason, told string) { m.jobsGaveUp.WithLabelValues(reason, told).Inc() }
func (m *Metrics) Approval(decision string)      { m.approvals.WithLabelValues(decision).Inc() }

// Feedback counts a user's first verdict on an answer and where it went.
func (m *Metrics) Feedback(score, langsmith string) {
	m.feedback.WithLabelValues(score, langsmith).Inc()
}

// RunStopped counts a run stopped from Slack.
func (m *Metrics) RunStopped() { m.runsStopped.Inc() }

// DispatcherWoken counts the idle job dispatcher woken by source.
func (m *Metrics) DispatcherWoken(source string) { m.dispatcherWakes.WithLabelValues(source).Inc() }
func (m *Metrics) DuplicateDelivery(kind string) {
	m.duplicates.WithLabelValues(kind).Inc()
}

// SlackTransport counts Slack Web API calls by method and status around rt,
// and failed calls by Slack error code: Slack answers most errors with HTTP
// 200 and {"ok":false,"error":"…"}, so the (small) JSON body is read.
func (m *Metrics) SlackTransport(rt http.RoundTripper) http.RoundTripper {
	if rt == nil {
		rt = http.DefaultTransport
	}
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		method := slackMethod(req.URL.Path)
		resp, err := rt.RoundTrip(req)
		if err != nil {
			m.slackCalls.WithLabelValues(method, "error").Inc()
			m.slackErrors.WithLabelValues(method, "no_response").Inc()
			return nil, err
		}
		m.slackCalls.WithLabelValues(method, strconv.Itoa(resp.StatusCode)).Inc()
		switch code := slackErrorCode(resp); {
		case resp.StatusCode == http.StatusTooManyRequests:
			m.slackErrors.WithLabelValues(method, "ratelimited").Inc()
		case code != "":
			m.slackErrors.WithLabelValues(method, code).Inc()
		case resp.StatusCode >= 400:
			m.slackErrors.WithLabelValues(method, "http_"+strconv.Itoa(resp.StatusCode)).Inc()
		}
		return resp, nil
	})
}

// slackMethod names a Slack call for a label: the Web API method after
// "/api/". Other URLs (response_url posts) have a unique path per request
// and would make a label value each, so they share one.
func slackMethod(p string) string {
	if i := strings.LastIndex(p, "/api/"); i >= 0 && i+5 < len(p) {
		return path.Clean(p[i+5:])
	}
	return "response_url"
}

// maxSlackBody bounds how much of a Slack answer is read to find its error.
const maxSlackBody = 1 << 20

// slackErrorCode returns the "error" of an ok:false JSON answer, leaving the
// body readable for the caller.
func slackErrorCode(resp *http.Response) string {
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") || resp.ContentLength > maxSlackBody {
		return ""
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxSlackBody))
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(body), resp.Body), resp.Body}
	if err != nil {
		return ""
	}
	var answer struct {
		OK    *bool  `json:"ok"`
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &answer) != nil || answer.OK == nil || *answer.OK {
		return ""
	}
	if answer.Error == "" {
		return "unknown"
	}
	return answer.Error
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
