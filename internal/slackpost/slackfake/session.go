package slackfake

// UserStopsSession is a user pressing Slack's own Stop in an AI app thread.
// Slack halts the bot's streams still in progress in that thread (later
// chat.appendStream / chat.stopStream calls on them fail with
// message_not_in_streaming_state) and sends the app an agent_session_stopped
// event listing them. It returns that inner event as Slack delivers it
// (fields of slack-go v0.35.0 slackevents.AgentSessionStoppedEvent); wrap
// it in an event_callback envelope to deliver it.
func (s *Server) UserStopsSession(channel, threadTS, user string) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	var halted []string
	for _, m := range s.channel(channel).msgs {
		if m.threadTS == threadTS && m.streaming {
			m.streaming = false
			halted = append(halted, m.ts)
		}
	}
	ev := map[string]any{
		"type": "agent_session_stopped", "channel": channel, "thread_ts": threadTS, "user": user,
		"event_ts": s.newTS(),
	}
	// slack-go: `json:"streaming_message_ts,omitempty"`.
	if len(halted) > 0 {
		ev["streaming_message_ts"] = halted
	}
	s.notify()
	return ev
}
