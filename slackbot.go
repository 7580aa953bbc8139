// Package slackbot holds the domain every part of the bot shares: the Slack
// work the edge accepts (commands, messages, clicks, modal submissions), the
// conversations it binds to agent threads, and the jobs and approval cards
// the core keeps in the store's ledger. It imports only the standard
// library, so the edge (internal/slackhandler, internal/slacksocket), the
// core (internal/relay), the store (internal/threadmap) and the Slack writer
// (internal/slackpost) all speak it without depending on each other.
package slackbot

import "errors"

// Errors returned by every store.
var (
	ErrNotFound  = errors.New("slackbot: not found")
	ErrNoJob     = errors.New("slackbot: no job ready")
	ErrLeaseLost = errors.New("slackbot: lease not held")
	// ErrClosed is returned for writes asked of a closed store.
	ErrClosed = errors.New("slackbot: store closed")
)
