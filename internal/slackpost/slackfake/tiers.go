package slackfake

import (
	"math"
	"time"
)

// Slack's Web API rate tiers, as calls per minute an app may make per
// workspace, with short bursts allowed (docs.slack.dev/apis/web-api/rate-limits:
// Tier 1 1+/min, Tier 2 20+/min, Tier 3 50+/min, Tier 4 100+/min). Over the
// limit Slack answers HTTP 429 with Retry-After and does nothing.
const (
	tier2 = 20
	tier3 = 50
	tier4 = 100
)

// methodTiers assigns the documented tiers of the methods the bot writes
// with. Sources: Slack's java-slack-sdk MethodsRateLimits (chat.update
// Tier 3, chat.postEphemeral Tier 4, reactions.add Tier 3, chat.delete
// Tier 3); docs.slack.dev/reference/methods/chat.appendStream (Tier 4);
// chat.startStream and chat.stopStream Tier 2 (slack-morphism; see
// shared/reference/slack-platform.md §5). Methods not listed are not limited
// by the fake: their limits are special or undocumented
// (assistant.threads.setStatus has a "special" limit).
var methodTiers = map[string]int{
	"chat.update":        tier3,
	"chat.delete":        tier3,
	"chat.postEphemeral": tier4,
	"reactions.add":      tier3,
	"chat.appendStream":  tier4,
	"chat.startStream":   tier2,
	"chat.stopStream":    tier2,
	// Tier 3 (docs.slack.dev/reference/methods/conversations.replies); apps
	// distributed outside the Marketplace get 1/min and 15 messages a page
	// since 2025 (docs.slack.dev/changelog/2025/05/29/rate-limit-changes-for-non-marketplace-apps).
	"conversations.replies": tier3,
}

// chat.postMessage is limited per channel: "generally allows posting one
// message per second per channel, while also maintaining a workspace-wide
// limit", with short bursts allowed (docs.slack.dev/apis/web-api/rate-limits,
// "Posting messages"). The burst size is not documented; postMessageBurst is
// the fake's choice.
const (
	postMessagePerSecond = 1
	postMessageBurst     = 10
)

// bucket is a token bucket: capacity calls at once, refilled at rate per
// second.
type bucket struct {
	tokens   float64
	capacity float64
	rate     float64
	last     time.Time
}

// take spends one call, or returns how long until one is available.
func (b *bucket) take(now time.Time) (time.Duration, bool) {
	if elapsed := now.Sub(b.last).Seconds(); elapsed > 0 {
		b.tokens = math.Min(b.capacity, b.tokens+elapsed*b.rate)
	}
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return 0, true
	}
	return time.Duration((1 - b.tokens) / b.rate * float64(time.Second)), false
}

// takeTier applies the method's rate tier in team's workspace to one
// call: Slack evaluates rate limits per app, per workspace and per method
// (docs.slack.dev/apis/web-api/rate-limits). Callers hold s.mu.
func (s *Server) takeTier(team, method string, p params, now time.Time) (result, bool) {
	scale := s.cfg.tierScale
	if scale <= 0 {
		return result{}, false
	}
	key, capacity, rate := team+" "+method, 0.0, 0.0
	if method == "chat.postMessage" {
		key += " " + p["channel"]
		capacity, rate = postMessageBurst*scale, postMessagePerSecond*scale
	} else if perMinute, limited := methodTiers[method]; limited {
		capacity, rate = float64(perMinute)*scale, float64(perMinute)*scale/60
	} else {
		return result{}, false
	}
	b := s.buckets[key]
	if b == nil {
		b = &bucket{tokens: capacity, capacity: capacity, rate: rate, last: now}
		s.buckets[key] = b
	}
	wait, allowed := b.take(now)
	if allowed {
		return result{}, false
	}
	// Retry-After is whole seconds (slack-go parses an integer).
	return result{err: "ratelimited", retryAfter: max(1, int(math.Ceil(wait.Seconds())))}, true
}
