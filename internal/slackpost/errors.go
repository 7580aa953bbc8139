package slackpost

import (
	"errors"
	"net/http"
	"strings"

	"github.com/slack-go/slack"
)

// SlackErrorCode is the error code Slack answered with ("not_in_channel"),
// "ratelimited" for a 429, or "" when err is not an answer from Slack.
func SlackErrorCode(err error) string {
	var resp slack.SlackErrorResponse
	if errors.As(err, &resp) {
		return resp.Err
	}
	var respPtr *slack.SlackErrorResponse
	if errors.As(err, &respPtr) && respPtr != nil {
		return respPtr.Err
	}
	var rl *slack.RateLimitedError
	if errors.As(err, &rl) {
		return "ratelimited"
	}
	return ""
}

// IsNotInChannel reports whether err means the bot cannot post in that
// channel (not a member, channel gone or archived, posting restricted, or a
// scope missing), so the user should be told to invite it or pick another
// channel rather than see a generic failure.
func IsNotInChannel(err error) bool {
	code := SlackErrorCode(err)
	switch code {
	case "not_in_channel", "channel_not_found", "is_archived", "missing_scope",
		"ekm_access_denied", "team_access_not_granted", "access_denied", "no_permission",
		"cant_post", "not_allowed_to_post":
		return true
	}
	return strings.HasPrefix(code, "restricted_action")
}

// httpStatus is the HTTP status of a failed Slack call, or 0.
func httpStatus(err error) int {
	var sc slack.StatusCodeError
	if errors.As(err, &sc) {
		return sc.Code
	}
	return 0
}

// isStreamingUnavailable reports whether a chat.*Stream error means this
// message cannot (or can no longer) be streamed, so the live reply should
// carry on with chat.update: the method is unknown to this workspace or API
// host, the stream has timed out, or streaming is not allowed here.
func isStreamingUnavailable(err error) bool {
	switch SlackErrorCode(err) {
	case "unknown_method", "method_not_supported", "message_not_in_streaming_state",
		"not_allowed", "not_authed_for_streaming", "feature_not_enabled",
		"invalid_arguments", "streaming_not_supported", "message_not_found":
		return true
	}
	switch httpStatus(err) {
	case http.StatusNotFound, http.StatusMethodNotAllowed, http.StatusNotImplemented:
		return true
	}
	return false
}
