package slackhandler

import (
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/deepagents-slack/slackbot"
)

const testAuthorizations = `[{"enterprise_id":null,"team_id":"T1","user_id":"UBOT","is_bot":true,"is_enterprise_install":false}]`

// callback wraps an inner event in an event_callback envelope as Slack sends it.
func callback(inner string) string {
	return callbackWithAuth(inner, testAuthorizations)
}

func callbackWithAuth(inner, authorizations string) string {
	return fmt.Sprintf(`{"token":"legacy","team_id":"T1","api_app_id":"A1","event":%s,"type":"event_callback",`+
		`"event_id":"Ev1","event_time":1760000000,"authorizations":%s,"is_ext_shared_channel":false,`+
		`"event_context":"4-abc"}`, inner, authorizations)
}

func TestEventsDispatch(t *testing.T) {
	tests := []struct {
		name string
		body string
		want []slackbot.Message // nil: nothing dispatched
	}{
		{
			name: "app_mention at top level",
			body: callback(`{"type":"app_mention","user":"U1","text":"<@UBOT> summarize <#C9|news> for <@U2>","ts":"1.000100","channel":"C1","event_ts":"1.000100"}`),
			want: []slackbot.Message{{EventID: "Ev1", TeamID: "T1", ChannelID: "C1", ChannelType: "channel", UserID: "U1",
				Text: "summarize <#C9|news> for <@U2>", TS: "1.000100", Mention: true}},
		},
		{
			name: "app_mention in a thread",
			body: callback(`{"type":"app_mention","user":"U1","text":"<@UBOT|agent> and now?","ts":"2.0","thread_ts":"1.0","channel":"C1","event_ts":"2.0"}`),
			want: []slackbot.Message{{EventID: "Ev1", TeamID: "T1", ChannelID: "C1", ChannelType: "channel", UserID: "U1",
				Text: "and now?", TS: "2.0", ThreadTS: "1.0", Mention: true}},
		},
		{
			name: "DM",
			body: callback(`{"type":"message","client_msg_id":"m1","user":"U1","text":"hello there","ts":"3.0","channel":"D1","channel_type":"im","event_ts":"3.0"}`),
			want: []slackbot.Message{{EventID: "Ev1", TeamID: "T1", ChannelID: "D1", ChannelType: "im", UserID: "U1",
				Text: "hello there", TS: "3.0"}},
		},
		{
			name: "DM reply in its thread",
			body: callback(`{"type":"message","user":"U1","text":"more","ts":"4.0","thread_ts":"3.0","channel":"D1","channel_type":"im","event_ts":"4.0"}`),
			want: []slackbot.Message{{EventID: "Ev1", TeamID: "T1", ChannelID: "D1", ChannelType: "im", UserID: "U1",
				Text: "more", TS: "4.0", ThreadTS: "3.0"}},
		},
		{
			name: "plain thread reply in a channel",
			body: callback(`{"type":"message","user":"U1","text":"what about <@U2>?","ts":"5.0","thread_ts":"1.0","channel":"C1","channel_type":"channel","event_ts":"5.0"}`),
			want: []slackbot.Message{{EventID: "Ev1", TeamID: "T1", ChannelID: "C1", ChannelType: "channel", UserID: "U1",
				Text: "what about <@U2>?", TS: "5.0", ThreadTS: "1.0"}},
		},
		{
			name: "channel message mentioning the bot",
			body: callback(`{"type":"message","user":"U1","text":"hey <@UBOT> go","ts":"6.0","channel":"G1","channel_type":"group","event_ts":"6.0"}`),
			want: []slackbot.Message{{EventID: "Ev1", TeamID: "T1", ChannelID: "G1", ChannelType: "group", UserID: "U1",
				Text: "hey go", TS: "6.0", Mention: true}},
		},
		{
			name: "mention of the bot user named in authorizations",
			body: callbackWithAuth(`{"type":"message","user":"U1","text":"<@UOTHER> hi","ts":"7.0","channel":"C1","channel_type":"mpim","event_ts":"7.0"}`,
				`[{"team_id":"T1","user_id":"UOTHER","is_bot":true}]`),
			want: []slackbot.Message{{EventID: "Ev1", TeamID: "T1", ChannelID: "C1", ChannelType: "mpim", UserID: "U1",
				Text: "hi", TS: "7.0", Mention: true}},
		},
		{
			name: "a human named in a user-token authorization is not the bot",
			body: callbackWithAuth(`{"type":"message","user":"UHUMAN","text":"hi","ts":"8.0","channel":"D1","channel_type":"im","event_ts":"8.0"}`,
				`[{"team_id":"T1","user_id":"UHUMAN","is_bot":false}]`),
			want: []slackbot.Message{{EventID: "Ev1", TeamID: "T1", ChannelID: "D1", ChannelType: "im", UserID: "UHUMAN",
				Text: "hi", TS: "8.0"}},
		},
		{
			name: "other bot's message",
			body: callback(`{"type":"message","subtype":"bot_message","bot_id":"BOTHER","text":"beep","ts":"9.0","channel":"C1","channel_type":"channel","event_ts":"9.0"}`),
		},
		{
			name: "own post comes back with bot_id and no subtype",
			body: callback(`{"type":"message","user":"UBOT","bot_id":"BBOT","text":"answer","ts":"10.0","channel":"C1","channel_type":"channel","event_ts":"10.0"}`),
		},
		{
			name: "bot_id without subtype from another app",
			body: callback(`{"type":"message","user":"UAPP","bot_id":"BAPP","text":"<@UBOT> loop?","ts":"10.5","channel":"C1","channel_type":"channel","event_ts":"10.5"}`),
		},
		{
			name: "own message without bot_id",
			body: callback(`{"type":"message","user":"UBOT","text":"hi","ts":"11.0","channel":"D1","channel_type":"im","event_ts":"11.0"}`),
		},
		{
			name: "own message by the authorizations bot user",
			body: callbackWithAuth(`{"type":"message","user":"UOTHER","text":"hi","ts":"11.5","channel":"D1","channel_type":"im","event_ts":"11.5"}`,
				`[{"team_id":"T1","user_id":"UOTHER","is_bot":true}]`),
		},
		{
			name: "app_mention by a bot",
			body: callback(`{"type":"app_mention","user":"UAPP","bot_id":"BAPP","text":"<@UBOT> hi","ts":"12.0","channel":"C1","event_ts":"12.0"}`),
		},
		{
			name: "edited app_mention",
			body: callback(`{"type":"app_mention","user":"U1","text":"<@UBOT> hi!","ts":"13.0","channel":"C1","event_ts":"13.1","edited":{"user":"U1","ts":"13.1"}}`),
		},
		{
			name: "message_changed",
			body: callback(`{"type":"message","subtype":"message_changed","hidden":true,"channel":"C1","channel_type":"channel","ts":"14.1","event_ts":"14.1",` +
				`"message":{"type":"message","user":"U1","text":"<@UBOT> edited","ts":"14.0","edited":{"user":"U1","ts":"14.1"}},` +
				`"previous_message":{"type":"message","user":"U1","text":"<@UBOT> orig","ts":"14.0"}}`),
		},
		{
			name: "message_deleted",
			body: callback(`{"type":"message","subtype":"message_deleted","hidden":true,"channel":"C1","channel_type":"channel","ts":"15.1","deleted_ts":"15.0","event_ts":"15.1"}`),
		},
		{
			name: "channel_join",
			body: callback(`{"type":"message","subtype":"channel_join","user":"U1","text":"<@U1> has joined the channel","ts":"16.0","channel":"C1","channel_type":"channel","event_ts":"16.0"}`),
		},
		{
			name: "thread_broadcast is a user's reply, also sent to the channel",
			body: callback(`{"type":"message","subtype":"thread_broadcast","user":"U1","text":"<@UBOT> also here","ts":"17.0","thread_ts":"1.0","channel":"C1","channel_type":"channel","event_ts":"17.0","root":{"type":"message","user":"U1","text":"root","ts":"1.0"}}`),
			want: []slackbot.Message{{EventID: "Ev1", TeamID: "T1", ChannelID: "C1", ChannelType: "channel", UserID: "U1",
				Text: "also here", TS: "17.0", ThreadTS: "1.0", Mention: true}},
		},
		{
			name: "file_share is a user's message with files",
			body: callback(`{"type":"message","subtype":"file_share","user":"U1","text":"what is in this?","ts":"17.5","thread_ts":"1.0","channel":"C1","channel_type":"channel","event_ts":"17.5",` +
				`"files":[{"id":"F1","name":"report.pdf","title":"Q3 report","mimetype":"application/pdf"}],"upload":false}`),
			want: []slackbot.Message{{EventID: "Ev1", TeamID: "T1", ChannelID: "C1", ChannelType: "channel", UserID: "U1",
				Text: "what is in this?", TS: "17.5", ThreadTS: "1.0", Files: []slackbot.File{{ID: "F1", Name: "report.pdf", Title: "Q3 report", Mimetype: "application/pdf"}}}},
		},
		{
			name: "Slack Connect user's team",
			body: callback(`{"type":"app_mention","user":"UEXT","user_team":"T2","text":"<@UBOT> hi","ts":"17.7","channel":"C1","event_ts":"17.7"}`),
			want: []slackbot.Message{{EventID: "Ev1", TeamID: "T1", ChannelID: "C1", ChannelType: "channel", UserID: "UEXT", UserTeam: "T2",
				Text: "hi", TS: "17.7", Mention: true}},
		},
		{
			name: "file_share in a thread",
			body: callback(`{"type":"message","subtype":"file_share","user":"U1","text":"see log","ts":"22.0","thread_ts":"1.0","channel":"C1","channel_type":"channel","event_ts":"22.0",` +
				`"files":[{"id":"F1","name":"a.log","title":"a.log","mimetype":"text/plain","filetype":"text","size":12,"url_private":"https://files.slack.com/files-pri/T1-F1/a.log","url_private_download":"https://files.slack.com/files-pri/T1-F1/download/a.log"}]}`),
			want: []slackbot.Message{{EventID: "Ev1", TeamID: "T1", ChannelID: "C1", ChannelType: "channel", UserID: "U1",
				Text: "see log", TS: "22.0", ThreadTS: "1.0", Files: []slackbot.File{{ID: "F1", Name: "a.log", Title: "a.log", Mimetype: "text/plain", Filetype: "text", Size: 12,
					URLPrivate: "https://files.slack.com/files-pri/T1-F1/a.log", URLPrivateDownload: "https://files.slack.com/files-pri/T1-F1/download/a.log"}}}},
		},
		{
			name: "app_mention with a file",
			body: callback(`{"type":"app_mention","user":"U1","text":"<@UBOT> look","ts":"23.0","channel":"C1","event_ts":"23.0",` +
				`"files":[{"id":"F2","name":"s.png","mimetype":"image/png","filetype":"png","size":99,"url_private_download":"https://files.slack.com/files-pri/T1-F2/download/s.png"}]}`),
			want: []slackbot.Message{{EventID: "Ev1", TeamID: "T1", ChannelID: "C1", ChannelType: "channel", UserID: "U1",
				Text: "look", TS: "23.0", Mention: true, Files: []slackbot.File{{ID: "F2", Name: "s.png", Mimetype: "image/png", Filetype: "png", Size: 99,
					URLPrivateDownload: "https://files.slack.com/files-pri/T1-F2/download/s.png"}}}},
		},
		{
			name: "hidden message without subtype",
			body: callback(`{"type":"message","hidden":true,"user":"U1","text":"x","ts":"18.0","channel":"C1","channel_type":"channel","event_ts":"18.0"}`),
		},
		{
			name: "message without user",
			body: callback(`{"type":"message","text":"x","ts":"19.0","channel":"C1","channel_type":"channel","event_ts":"19.0"}`),
		},
		{
			name: "event type slack-go does not know",
			body: callback(`{"type":"brand_new_event_2031","user":"U1","event_ts":"20.0"}`),
		},
		{
			name: "known event type the bot does not handle",
			body: callback(`{"type":"reaction_added","user":"U1","reaction":"eyes","item":{"type":"message","channel":"C1","ts":"1.0"},"event_ts":"21.0"}`),
		},
		{
			name: "unknown outer type",
			body: `{"type":"something_new","team_id":"T1"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &fakeDispatcher{}
			rec := serve(newTestRouter(d, nil), eventRequest(tt.body))
			if rec.Code != http.StatusOK {
				t.Fatalf("status = %d, want 200 (body %q)", rec.Code, rec.Body)
			}
			if got := d.gotMessages(); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("messages:\n got %+v\nwant %+v", got, tt.want)
			}
			if tt.want == nil && d.calls() != 0 {
				t.Errorf("dispatcher called %d times, want 0", d.calls())
			}
		})
	}
}

func TestURLVerification(t *testing.T) {
	d := &fakeDispatcher{}
	body := `{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}`
	rec := serve(newTestRouter(d, nil), eventRequest(body))
	if rec.Code != http.StatusOK {
		t.Fatalf("status = %d", rec.Code)
	}
	if got := rec.Body.String(); got != "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" {
		t.Errorf("body = %q", got)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("content type = %q", ct)
	}
	if d.calls() != 0 {
		t.Errorf("dispatcher called")
	}
}

func TestURLVerificationMustBeSigned(t *testing.T) {
	req := eventRequest(`{"type":"url_verification","challenge":"abc"}`)
	req.Header.Set(headerSignature, "v0="+strings.Repeat("0", 64))
	if rec := serve(newTestRouter(&fakeDispatcher{}, nil), req); rec.Code != http.StatusUnauthorized {
		t.Errorf("status = %d, want 401", rec.Code)
	}
}

func TestAssistantThreadStarted(t *testing.T) {
	d := &fakeDispatcher{}
	body := callback(`{"type":"assistant_thread_started","assistant_thread":{"user_id":"U1","context":{"channel_id":"C7","team_id":"T1","enterprise_id":"E1"},"channel_id":"D1","thread_ts":"1729999327.187299"},"event_ts":"1715873754.429808"}`)
	if rec := serve(newTestRouter(d, nil), eventRequest(body)); rec.Code != http.StatusOK {
		t.Fatalf("status = %d", rec.Code)
	}
	want := []slackbot.AssistantThread{{EventID: "Ev1", TeamID: "T1", ChannelID: "D1", ThreadTS: "1729999327.187299", UserID: "U1",
		ContextChannelID: "C7", EventTS: "1715873754.429808"}}
	if !reflect.DeepEqual(d.threads, want) {
		t.Errorf("got %+v, want %+v", d.threads, want)
	}
}

// The AI app events of a thread's life after it started reach the
// dispatcher with the fields the bot needs, decoded by slack-go's types or,
// when those refuse the event, by hand; malformed ones are acked and
// dropped (redelivering them cannot help).
func TestAssistantSessionEvents(t *testing.T) {
	const (
		changed = `{"type":"assistant_thread_context_changed","assistant_thread":{"user_id":"U1","context":{"channel_id":"C9","team_id":"T1"%s},"channel_id":"D1","thread_ts":"1729999327.187299"},"event_ts":"1715873800.000100"}`
		stopped = `{"type":"agent_session_stopped","channel":"D1","thread_ts":"1729999327.187299","user":"U1","streaming_message_ts":["1729999330.000200"],"event_ts":"1715873900.000300"%s}`
	)
	// slack-go cannot decode a number where its type has a string (a field
	// the bot does not need): the handler reads the fields itself.
	wantContext := []slackbot.AssistantThread{{EventID: "Ev1", TeamID: "T1", ChannelID: "D1", ThreadTS: "1729999327.187299", UserID: "U1",
		ContextChannelID: "C9", EventTS: "1715873800.000100"}}
	wantStop := []slackbot.SessionStop{{EventID: "Ev1", TeamID: "T1", ChannelID: "D1", ThreadTS: "1729999327.187299", UserID: "U1",
		StreamingTS: []string{"1729999330.000200"}, EventTS: "1715873900.000300"}}
	tests := []struct {
		name         string
		inner        string
		wantContexts []slackbot.AssistantThread
		wantStops    []slackbot.SessionStop
	}{
		{"context changed", fmt.Sprintf(changed, ""), wantContext, nil},
		{"context changed, decoded by hand", fmt.Sprintf(changed, `,"enterprise_id":7`), wantContext, nil},
		{"session stopped", fmt.Sprintf(stopped, ""), nil, wantStop},
		{"session stopped without a thread", `{"type":"agent_session_stopped","channel":"D1","user":"U1","event_ts":"1.0"}`, nil, nil},
		{"session stopped without a user", `{"type":"agent_session_stopped","channel":"D1","thread_ts":"1.0","event_ts":"1.0"}`, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := &fakeDispatcher{}
			if rec := serve(newTestRouter(d, nil), eventRequest(callback(tc.inner))); rec.Code != http.StatusOK {
				t.Fatalf("status = %d, want 200", rec.Code)
			}
			if !reflect.DeepEqual(d.contexts, tc.wantContexts) {
				t.Errorf("context changes %+v, want %+v", d.contexts, tc.wantContexts)
			}
			if !reflect.DeepEqual(d.stops, tc.wantStops) {
				t.Errorf("stops %+v, want %+v", d.stops, tc.wantStops)
			}
		})
	}
}

// decodeByHand reads a session stop's fields like slack-go's type does
// (that type refuses nothing today; a later slack-go may).
func TestDecodeSessionStopByHand(t *testing.T) {
	inner := `{"type":"agent_session_stopped","channel":"D1","thread_ts":"1.0","user":"U1","streaming_message_ts":["2.0","3.0"],"event_ts":"4.0","extra":{"x":1}}`
	_, _, st, isMsg, ok := decodeByHand([]byte(inner), eventAgentSessionStopped)
	want := slackbot.SessionStop{ChannelID: "D1", ThreadTS: "1.0", UserID: "U1", StreamingTS: []string{"2.0", "3.0"}, EventTS: "4.0"}
	if !ok || isMsg || !reflect.DeepEqual(st, want) {
		t.Errorf("decodeByHand = %+v, msg %v, ok %v; want %+v", st, isMsg, ok, want)
	}
	if _, _, _, _, ok := decodeByHand([]byte(`{"type":"agent_session_stopped","user":5}`), eventAgentSessionStopped); ok {
		t.Error("decodeByHand of a garbled stop: ok, want not")
	}
}

// A session stop the dispatcher could not record is not acked, so Slack
// delivers it again.
func TestAgentSessionStoppedRetriedOnDispatchError(t *testing.T) {
	d := &fakeDispatcher{err: errors.New("store down")}
	body := callback(`{"type":"agent_session_stopped","channel":"D1","thread_ts":"1.0","user":"U1","event_ts":"2.0"}`)
	if rec := serve(newTestRouter(d, nil), eventRequest(body)); rec.Code != http.StatusInternalServerError {
		t.Errorf("status = %d, want 500", rec.Code)
	}
}

func TestEventRetryHeaders(t *testing.T) {
	tests := []struct {
		name, num, reason string
		wantNum           int
		wantReason        string
		wantMetric        []string
	}{
		{"first delivery", "", "", 0, "", nil},
		{"first retry", "1", "http_timeout", 1, "http_timeout", []string{"1 http_timeout"}},
		{"third retry", "3", "http_error", 3, "http_error", []string{"3 http_error"}},
		{"undocumented reason", "2", strings.Repeat("x", 500), 2, "other", []string{"2 other"}},
		{"garbled count", "two", "http_timeout", 0, "", nil},
		{"absurd count", "1000000", "unknown_error", 10, "unknown_error", []string{"10 unknown_error"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, m := &fakeDispatcher{}, &recordingMetrics{}
			req := eventRequest(callback(`{"type":"app_mention","user":"U1","text":"<@UBOT> hi","ts":"1.0","channel":"C1","event_ts":"1.0"}`))
			if tt.num != "" {
				req.Header.Set("X-Slack-Retry-Num", tt.num)
				req.Header.Set("X-Slack-Retry-Reason", tt.reason)
			}
			if rec := serve(newTestRouter(d, m), req); rec.Code != http.StatusOK {
				t.Fatalf("status = %d", rec.Code)
			}
			msgs := d.gotMessages()
			if len(msgs) != 1 || msgs[0].RetryNum != tt.wantNum || msgs[0].RetryReason != tt.wantReason {
				t.Fatalf("messages = %+v, want one with retry %d %q", msgs, tt.wantNum, tt.wantReason)
			}
			if !reflect.DeepEqual(m.retries, tt.wantMetric) {
				t.Errorf("retry metrics = %v, want %v", m.retries, tt.wantMetric)
			}
			if want := []string{"events 200"}; !reflect.DeepEqual(m.acks, want) {
				t.Errorf("ack metrics = %v, want %v", m.acks, want)
			}
		})
	}
}

func TestAppRateLimited(t *testing.T) {
	d, m := &fakeDispatcher{}, &recordingMetrics{}
	body := `{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","type":"app_rate_limited","team_id":"T123456","minute_rate_limited":1518467820,"api_app_id":"A123456"}`
	if rec := serve(newTestRouter(d, m), eventRequest(body)); rec.Code != http.StatusOK {
		t.Fatalf("status = %d", rec.Code)
	}
	if m.rateLimited != 1 || d.calls() != 0 {
		t.Errorf("rate limited metric %d, dispatcher calls %d; want 1, 0", m.rateLimited, d.calls())
	}
}

func TestEventDispatcherErrorAsksForRetry(t *testing.T) {
	d := &fakeDispatcher{err: errors.New("store down")}
	body := callback(`{"type":"app_mention","user":"U1","text":"<@UBOT> hi","ts":"1.0","channel":"C1","event_ts":"1.0"}`)
	rec := serve(newTestRouter(d, nil), eventRequest(body))
	if rec.Code != http.StatusInternalServerError {
		t.Errorf("status = %d, want 500", rec.Code)
	}
	if rec.Header().Get("X-Slack-No-Retry") != "" {
		t.Errorf("a refused event must be retried by Slack")
	}
	if strings.Contains(rec.Body.String(), "store down") {
		t.Errorf("internal error leaked to Slack: %q", rec.Body)
	}
	d2 := &fakeDispatcher{err: errors.New("store down")}
	at := callback(`{"type":"assistant_thread_started","assistant_thread":{"user_id":"U1","context":{},"channel_id":"D1","thread_ts":"1.0"},"event_ts":"1.0"}`)
	if rec := serve(newTestRouter(d2, nil), eventRequest(at)); rec.Code != http.StatusInternalServerError {
		t.Errorf("assistant_thread_started: status = %d, want 500", rec.Code)
	}
}

func TestMalformedEvents(t *testing.T) {
	tests := []struct {
		name, contentType, body string
	}{
		{"not JSON", "application/json", `{"type":`},
		{"JSON array", "application/json", `[1,2]`},
		{"empty body", "application/json", ``},
		{"event_callback without event", "application/json", `{"type":"event_callback","event_id":"Ev1"}`},
		{"event_callback with null event", "application/json", `{"type":"event_callback","event":null}`},
		{"url_verification without challenge", "application/json", `{"type":"url_verification"}`},
		{"form instead of JSON", "application/x-www-form-urlencoded", `type=url_verification&challenge=abc`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &fakeDispatcher{}
			req := signedRequest("/slack/events", tt.contentType, []byte(tt.body))
			rec := serve(newTestRouter(d, nil), req)
			if rec.Code != http.StatusBadRequest {
				t.Errorf("status = %d, want 400", rec.Code)
			}
			if rec.Header().Get("X-Slack-No-Retry") != "1" {
				t.Errorf("missing X-Slack-No-Retry")
			}
			if d.calls() != 0 {
				t.Errorf("dispatcher called")
			}
		})
	}
}

func TestEventsConcurrent(t *testing.T) {
	d := &fakeDispatcher{}
	r := newTestRouter(d, &recordingMetrics{})
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			body := callback(fmt.Sprintf(`{"type":"message","user":"U1","text":"m%d","ts":"%d.0","channel":"D1","channel_type":"im","event_ts":"1.0"}`, i, i))
			if rec := serve(r, eventRequest(body)); rec.Code != http.StatusOK {
				t.Errorf("status = %d", rec.Code)
			}
		})
	}
	wg.Wait()
	if n := len(d.gotMessages()); n != 20 {
		t.Errorf("dispatched %d messages, want 20", n)
	}
}

// TestUndecodableEvents: an event slack-go cannot decode still reaches the
// dispatcher from the fields the bot reads itself; one that cannot be read at
// all is acked (a redelivery cannot help), logged and counted as dropped.
func TestUndecodableEvents(t *testing.T) {
	tests := []struct {
		name        string
		body        string
		wantText    string // "" when nothing is dispatched
		wantDropped []string
	}{
		{
			name: "a field slack-go decodes strictly since v0.34",
			body: callback(`{"type":"message","user":"U1","text":"<@UBOT> look at this","ts":"1.0","channel":"C1","channel_type":"channel","event_ts":"1.0",` +
				`"display_as_bot":"false"}`),
			wantText: "look at this",
		},
		{
			name: "rich text element of a shape slack-go does not expect",
			body: callback(`{"type":"message","user":"U1","text":"<@UBOT> and this","ts":"1.5","channel":"C1","channel_type":"channel","event_ts":"1.5",` +
				`"blocks":[{"type":"rich_text","block_id":"b1","elements":[{"type":"rich_text_section","elements":[{"type":"text","text":5}]}]}]}`),
			wantText: "and this",
		},
		{
			name: "app_mention with a block slack-go rejects",
			body: callback(`{"type":"app_mention","user":"U1","text":"<@UBOT> hi","ts":"2.0","channel":"C1","event_ts":"2.0",` +
				`"blocks":[{"type":"section","text":{"type":"mrkdwn","text":1}}]}`),
			wantText: "hi",
		},
		{
			name:        "basic fields of the wrong type",
			body:        callback(`{"type":"message","user":42,"text":[],"ts":"1.0","channel":"C1"}`),
			wantDropped: []string{"message undecodable"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, m := &fakeDispatcher{}, &recordingMetrics{}
			rec := serve(newTestRouter(d, m), eventRequest(tt.body))
			if rec.Code != http.StatusOK {
				t.Fatalf("status = %d, want 200", rec.Code)
			}
			msgs := d.gotMessages()
			if tt.wantText != "" && (len(msgs) != 1 || msgs[0].Text != tt.wantText || msgs[0].EventID != "Ev1" || msgs[0].TeamID != "T1") {
				t.Errorf("messages = %+v, want one with text %q", msgs, tt.wantText)
			}
			if tt.wantText == "" && len(msgs) != 0 {
				t.Errorf("dispatched %+v", msgs)
			}
			if len(m.byHand) != 1 {
				t.Errorf("decoded-by-hand metric = %v, want one (is slack-go decoding this now?)", m.byHand)
			}
			if !reflect.DeepEqual(m.dropped, tt.wantDropped) {
				t.Errorf("dropped = %v, want %v", m.dropped, tt.wantDropped)
			}
		})
	}
}
