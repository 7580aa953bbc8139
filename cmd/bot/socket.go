package main

import (
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/slack-go/slack"

	"github.com/deepagents-slack/slackbot/internal/slackhandler"
	"github.com/deepagents-slack/slackbot/internal/slacksocket"
)

// newSocketEdge wires the Socket Mode edge: the same handler as the HTTP
// routes, reached over a WebSocket opened with the app-level token.
func newSocketEdge(cfg Config, h *slackhandler.Handler, httpClient *http.Client, log *slog.Logger) (*slacksocket.Edge, error) {
	apiURL := cfg.SlackAPIURL
	if cfg.socketAPIURL != "" {
		apiURL = cfg.socketAPIURL
	}
	api := slack.New(cfg.BotToken,
		slack.OptionAppLevelToken(cfg.AppToken),
		slack.OptionAPIURL(apiURL),
		slack.OptionHTTPClient(httpClient))
	edge, err := slacksocket.New(api, h, slacksocket.WithLogger(log))
	if err != nil {
		return nil, fmt.Errorf("socket mode: %w", err)
	}
	return edge, nil
}

// socketLine describes the socket for /healthz and /readyz.
func socketLine(st slacksocket.Status) string {
	line := fmt.Sprintf("socket: %s since %s, %d connects", st.State, st.Since.UTC().Format(time.RFC3339), st.Connects)
	if st.LastError != "" && !st.Connected() {
		line += ", last error: " + st.LastError
	}
	return line + "\n"
}
