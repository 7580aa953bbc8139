package slackfake_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/slack-go/slack"
)

func section(n int) slack.Block {
	return slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, strings.Repeat("s", n), false, false), nil, nil)
}

func markdown(n int) slack.Block { return slack.NewMarkdownBlock("", strings.Repeat("m", n)) }

func repeat(b slack.Block, n int) []slack.Block {
	out := make([]slack.Block, n)
	for i := range out {
		out[i] = b
	}
	return out
}

func TestBlockLimits(t *testing.T) {
	tests := []struct {
		name   string
		blocks []slack.Block
		want   string // Slack error, "" for accepted
	}{
		{"50 blocks", append(repeat(slack.NewDividerBlock(), 49), section(10)), ""},
		{"51 blocks", repeat(slack.NewDividerBlock(), 51), "invalid_blocks"},
		{"section of 3000", []slack.Block{section(3000)}, ""},
		{"section of 3001", []slack.Block{section(3001)}, "invalid_blocks"},
		{"empty section text", []slack.Block{section(0)}, "invalid_blocks"},
		{"header of 151", []slack.Block{slack.NewHeaderBlock(slack.NewTextBlockObject(slack.PlainTextType, strings.Repeat("h", 151), false, false))}, "invalid_blocks"},
		{"markdown of 12000", []slack.Block{markdown(12000)}, ""},
		{"markdown cumulative 12002", []slack.Block{markdown(6001), markdown(6001)}, "invalid_blocks"},
		{"total block text over 13200", repeat(section(2700), 5), "msg_blocks_too_long"},
		{"total block text 13200", append(repeat(section(3000), 4), section(1200)), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake, api := newClient(t)
			_, _, err := api.PostMessage(channel, slack.MsgOptionText("fallback", false), slack.MsgOptionBlocks(tt.blocks...))
			if tt.want == "" {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				return
			}
			if code := slackError(t, err); code != tt.want {
				t.Errorf("got %s, want %s", code, tt.want)
			}
			if n := len(fake.Messages(channel)); n != 0 {
				t.Errorf("rejected post stored %d messages", n)
			}
		})
	}
}

func TestInvalidBlocksJSON(t *testing.T) {
	fake, _ := newClient(t)
	resp, err := http.PostForm(fake.APIURL()+"chat.postMessage", url.Values{
		"token": {"xoxb-test"}, "channel": {channel}, "blocks": {`[{"type":`},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if body.OK || body.Error != "invalid_blocks_format" {
		t.Errorf("answer = %+v", body)
	}
}

func TestLongTextIsTruncatedWithWarning(t *testing.T) {
	fake, _ := newClient(t)
	resp, err := http.PostForm(fake.APIURL()+"chat.postMessage", url.Values{
		"token": {"xoxb-test"}, "channel": {channel}, "text": {strings.Repeat("é", 40001)},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		OK      bool   `json:"ok"`
		Warning string `json:"warning"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if !body.OK || body.Warning != "message_truncated" {
		t.Errorf("answer = %+v", body)
	}
	msgs := fake.Messages(channel)
	if len(msgs) != 1 || utf8.RuneCountInString(msgs[0].Text) != 40000 {
		t.Errorf("stored text is not 40,000 characters")
	}
}
