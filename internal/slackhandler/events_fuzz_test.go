package slackhandler

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/slack-go/slack/slackevents"
)

// FuzzEventBody feeds signed bodies to /slack/events. The handler decodes
// the inner event once, itself; whatever it dispatches must be what
// slack-go's full ParseEvent reads from the same bytes, a body it refuses
// must not be retried, and nothing may panic.
func FuzzEventBody(f *testing.F) {
	f.Add(callback(`{"type":"app_mention","user":"U1","text":"<@UBOT> hi","ts":"1.000100","channel":"C1","event_ts":"1.000100"}`))
	f.Add(callback(`{"type":"message","channel_type":"im","user":"U1","text":"hi","ts":"1.000200","channel":"D1","thread_ts":"1.000100"}`))
	f.Add(callback(`{"type":"message","subtype":"message_changed","channel":"C1","hidden":true,"ts":"1.3"}`))
	f.Add(callback(`{"type":"assistant_thread_started","assistant_thread":{"user_id":"U1","context":{"channel_id":"C2"},"channel_id":"D1","thread_ts":"1.1"}}`))
	f.Add(callback(`{"type":"reaction_added","user":"U1"}`))
	f.Add(callback(`null`))
	f.Add(`{"type":"url_verification","challenge":"abc"}`)
	f.Add(`{"type":"event_callback","event":{"type":"app_mention","user":7}}`)
	f.Fuzz(func(t *testing.T, body string) {
		d := &fakeDispatcher{}
		rec := serve(newTestRouter(d, nil), eventRequest(body))
		switch rec.Code {
		case http.StatusOK:
		case http.StatusBadRequest:
			if rec.Header().Get("X-Slack-No-Retry") != "1" {
				t.Fatalf("400 without X-Slack-No-Retry for %q", body)
			}
		default:
			t.Fatalf("status %d for %q", rec.Code, body)
		}
		msgs := d.gotMessages()
		if len(msgs) == 0 {
			return
		}
		if len(msgs) > 1 {
			t.Fatalf("%d messages dispatched for one body", len(msgs))
		}
		ev, err := slackevents.ParseEvent(json.RawMessage(body), slackevents.OptionNoVerifyToken())
		if err != nil {
			return // slack-go is stricter about outer fields the handler does not read
		}
		var channel, user, ts, thread string
		switch e := ev.InnerEvent.Data.(type) {
		case *slackevents.AppMentionEvent:
			channel, user, ts, thread = e.Channel, e.User, e.TimeStamp, e.ThreadTimeStamp
		case *slackevents.MessageEvent:
			channel, user, ts, thread = e.Channel, e.User, e.TimeStamp, e.ThreadTimeStamp
		default:
			t.Fatalf("dispatched a message for a %T", e)
		}
		m := msgs[0]
		if m.ChannelID != channel || m.UserID != user || m.TS != ts || m.ThreadTS != thread {
			t.Fatalf("dispatched %+v; slack-go reads channel %q user %q ts %q thread %q", m, channel, user, ts, thread)
		}
	})
}
