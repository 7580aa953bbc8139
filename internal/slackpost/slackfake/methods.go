package slackfake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// reactionTarget validates a reactions.* call and finds its message.
func (s *Server) reactionTarget(p params) (*message, string, result, bool) {
	name := strings.Trim(p["name"], ":")
	if name == "" {
		return nil, "", fail("invalid_name"), false
	}
	if p["timestamp"] == "" {
		return nil, "", fail("no_item_specified"), false
	}
	if res, ok := s.checkChannel(p["channel"]); !ok {
		return nil, "", res, false
	}
	m := s.channel(p["channel"]).find(p["timestamp"])
	if m == nil {
		return nil, "", fail("message_not_found"), false
	}
	return m, name, result{}, true
}

func (s *Server) addReaction(p params) result {
	m, name, res, found := s.reactionTarget(p)
	if !found {
		return res
	}
	if slices.Contains(m.reactions, name) {
		return fail("already_reacted")
	}
	m.reactions = append(m.reactions, name)
	return ok(nil)
}

func (s *Server) removeReaction(p params) result {
	m, name, res, found := s.reactionTarget(p)
	if !found {
		return res
	}
	i := slices.Index(m.reactions, name)
	if i < 0 {
		return fail("no_reaction")
	}
	m.reactions = slices.Delete(m.reactions, i, i+1)
	return ok(nil)
}

func (s *Server) conversationInfo(p params) result {
	id := p["channel"]
	if !channelIDPattern.MatchString(id) {
		return fail("channel_not_found")
	}
	member := !s.notIn[id]
	// Private conversations the bot is not in are invisible to it.
	if !member && !strings.HasPrefix(id, "C") {
		return fail("channel_not_found")
	}
	return ok(map[string]any{"channel": map[string]any{
		"id":          id,
		"name":        strings.ToLower(id),
		"is_channel":  strings.HasPrefix(id, "C"),
		"is_group":    strings.HasPrefix(id, "G"),
		"is_im":       strings.HasPrefix(id, "D"),
		"is_private":  !strings.HasPrefix(id, "C"),
		"is_archived": s.archived[id],
		"is_member":   member,
		"created":     s.base,
	}})
}

func (s *Server) openView(p params) result {
	if p["trigger_id"] == "" {
		return fail("invalid_arguments", "missing required field: trigger_id")
	}
	view, opened, problems := checkModal(p["view"])
	if len(problems) > 0 {
		return fail("invalid_arguments", problems...)
	}
	s.views++
	view["id"] = fmt.Sprintf("VFAKE%05d", s.views)
	opened.ID, opened.TriggerID = view["id"].(string), p["trigger_id"]
	s.opened = append(s.opened, opened)
	view["team_id"] = s.cfg.teamID
	view["app_id"] = "AFAKE0001"
	view["bot_id"] = s.cfg.botID
	return ok(map[string]any{"view": view})
}

// assistantThread validates the channel_id/thread_ts pair of assistant.threads.*.
func (s *Server) assistantThread(p params) (threadKey, result, bool) {
	key := threadKey{p["channel_id"], p["thread_ts"]}
	if !channelIDPattern.MatchString(key.channel) {
		return key, fail("channel_not_found"), false
	}
	if key.ts == "" {
		return key, fail("invalid_arguments", "missing required field: thread_ts"), false
	}
	return key, result{}, true
}

func (s *Server) setStatus(p params) result {
	key, res, valid := s.assistantThread(p)
	if !valid {
		return res
	}
	var loading []string
	if raw := p["loading_messages"]; raw != "" {
		loading = strings.Split(raw, ",") // slack-go sends them comma-joined
	}
	// Slack: loading_messages holds at most 10 messages
	// (docs.slack.dev/reference/methods/assistant.threads.setStatus).
	if len(loading) > 10 {
		return fail("invalid_arguments", "[ERROR] no more than 10 items allowed [json-pointer:/loading_messages]")
	}
	if status := p["status"]; status != "" {
		s.statuses[key] = assistantStatus{status: status, loading: loading, at: time.Now()}
	} else {
		delete(s.statuses, key)
	}
	return ok(nil)
}

func (s *Server) setSuggestedPrompts(p params) result {
	_, res, valid := s.assistantThread(p)
	if !valid {
		return res
	}
	var prompts []struct {
		Title   string `json:"title"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal([]byte(p["prompts"]), &prompts); err != nil || len(prompts) == 0 {
		return fail("invalid_arguments", "prompts must be a non-empty JSON array")
	}
	return ok(nil)
}

func (s *Server) setTitle(p params) result {
	key, res, valid := s.assistantThread(p)
	if !valid {
		return res
	}
	s.titles[key] = p["title"]
	return ok(nil)
}

// handleResponseURL records a response_url post as an ephemeral response. It needs no
// token: the URL itself is the credential.
func (s *Server) handleResponseURL(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	p, _, err := readParams(r)
	broadcasts := broadcastsIn("response_url", p)
	s.mu.Lock()
	var res result
	if err != nil {
		res = fail("invalid_payload", err.Error())
	} else {
		res = s.respond(id, p)
	}
	p["response_id"] = id
	s.record("response_url", p, res, broadcasts)
	s.mu.Unlock()
	res.write(w)
}

func (s *Server) respond(id string, p params) result {
	if res, limited := s.takeRateLimit("response_url"); limited {
		return res
	}
	if code, failed := s.takeFailure("response_url"); failed {
		return fail(code)
	}
	var blocks checkedBlocks
	if rawBlocks, has := p["blocks"]; has {
		b, code, msgs := checkBlocks(rawBlocks)
		if code != "" {
			return fail(code, msgs...)
		}
		blocks = b
	}
	deleteOriginal := p["delete_original"] == "true"
	if !deleteOriginal && strings.TrimSpace(p["text"]) == "" && (len(blocks.raw) == 0 || blocks.empty) {
		return fail("no_text")
	}
	target := s.responses[id]
	s.ephemerals = append(s.ephemerals, Ephemeral{
		Channel:         target.channel,
		User:            target.user,
		ResponseID:      id,
		Text:            p["text"],
		Blocks:          blocks.raw,
		ThreadTS:        p["thread_ts"],
		ResponseType:    p["response_type"],
		ReplaceOriginal: p["replace_original"] == "true",
		DeleteOriginal:  deleteOriginal,
	})
	return ok(nil)
}
