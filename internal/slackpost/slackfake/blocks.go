package slackfake

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Block Kit limits Slack enforces (see shared/reference/slack-platform.md §5).
const (
	maxBlocks            = 50
	maxSectionText       = 3000
	maxSectionFieldText  = 2000
	maxSectionFields     = 10
	maxHeaderText        = 150
	maxMarkdownTotal     = 12000 // cumulative over all markdown blocks of one payload
	maxBlockTextTotal    = 13200 // undocumented total that yields msg_blocks_too_long
	maxMessageText       = 40000 // longer text is truncated with a warning
	maxMarkdownTextParam = 12000 // markdown_text per call
)

// blockDoc is the part of a block the fake reads.
type blockDoc struct {
	Type     string            `json:"type"`
	Text     json.RawMessage   `json:"text"` // text object; a plain string for markdown blocks
	Fields   []textObject      `json:"fields"`
	Elements []json.RawMessage `json:"elements"`
}

type textObject struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// checkedBlocks is a validated blocks payload.
type checkedBlocks struct {
	raw      json.RawMessage
	rendered string   // readable text of markdown/section/context/header/rich_text blocks
	buttons  []string // labels of buttons in actions blocks, for transcripts
	empty    bool     // "[]": no blocks
}

// checkBlocks validates a blocks payload like Slack does and renders its readable text.
// It returns a Slack error code and detail messages when the payload is rejected.
func checkBlocks(payload string) (checkedBlocks, string, []string) {
	var docs []blockDoc
	if err := json.Unmarshal([]byte(payload), &docs); err != nil {
		return checkedBlocks{}, "invalid_blocks_format", []string{err.Error()}
	}
	if len(docs) > maxBlocks {
		return checkedBlocks{}, "invalid_blocks",
			[]string{fmt.Sprintf("no more than %d items allowed [json-pointer:/blocks]", maxBlocks)}
	}
	var (
		parts         []string
		buttons       []string
		markdownTotal int
		textTotal     int
	)
	for i, b := range docs {
		texts, err := blockTexts(b)
		if err != "" {
			return checkedBlocks{}, "invalid_blocks", []string{fmt.Sprintf("%s [json-pointer:/blocks/%d]", err, i)}
		}
		for _, t := range texts {
			n := utf8.RuneCountInString(t)
			textTotal += n
			if b.Type == "markdown" {
				markdownTotal += n
			}
		}
		if markdownTotal > maxMarkdownTotal {
			return checkedBlocks{}, "invalid_blocks", []string{fmt.Sprintf(
				"markdown blocks exceed the cumulative limit of %d characters [json-pointer:/blocks/%d]", maxMarkdownTotal, i)}
		}
		parts = append(parts, texts...)
		if b.Type == "actions" {
			buttons = append(buttons, buttonLabels(b.Elements)...)
		}
	}
	if textTotal > maxBlockTextTotal {
		return checkedBlocks{}, "msg_blocks_too_long", nil
	}
	return checkedBlocks{
		raw:      json.RawMessage(payload),
		rendered: strings.Join(nonEmpty(parts), "\n"),
		buttons:  buttons,
		empty:    len(docs) == 0,
	}, "", nil
}

// blockTexts returns the readable texts of one block, or why Slack would reject it.
func blockTexts(b blockDoc) ([]string, string) {
	switch b.Type {
	case "":
		return nil, "missing required field: type"
	case "markdown":
		var text string
		if err := json.Unmarshal(b.Text, &text); err != nil || text == "" {
			return nil, "markdown block needs a non-empty text string"
		}
		return []string{text}, ""
	case "header":
		t, err := textOf(b.Text)
		if err != "" {
			return nil, err
		}
		if t == "" {
			return nil, "must be more than 0 characters [text]"
		}
		if utf8.RuneCountInString(t) > maxHeaderText {
			return nil, fmt.Sprintf("must be less than %d characters [text]", maxHeaderText+1)
		}
		return []string{t}, ""
	case "section":
		return sectionTexts(b)
	case "context":
		var texts []string
		for _, el := range b.Elements {
			var t textObject
			if json.Unmarshal(el, &t) == nil && (t.Type == "mrkdwn" || t.Type == "plain_text") {
				texts = append(texts, t.Text)
			}
		}
		return texts, ""
	case "rich_text":
		var texts []string
		for _, el := range b.Elements {
			if t := richText(el); t != "" {
				texts = append(texts, t)
			}
		}
		return texts, ""
	default:
		return nil, ""
	}
}

func sectionTexts(b blockDoc) ([]string, string) {
	var texts []string
	if len(b.Text) > 0 && string(b.Text) != "null" {
		t, err := textOf(b.Text)
		if err != "" {
			return nil, err
		}
		if t == "" {
			return nil, "must be more than 0 characters [text/text]"
		}
		if utf8.RuneCountInString(t) > maxSectionText {
			return nil, fmt.Sprintf("must be less than %d characters [text/text]", maxSectionText+1)
		}
		texts = append(texts, t)
	}
	if len(b.Fields) > maxSectionFields {
		return nil, fmt.Sprintf("no more than %d items allowed [fields]", maxSectionFields)
	}
	for _, f := range b.Fields {
		if utf8.RuneCountInString(f.Text) > maxSectionFieldText {
			return nil, fmt.Sprintf("must be less than %d characters [fields]", maxSectionFieldText+1)
		}
		texts = append(texts, f.Text)
	}
	if len(texts) == 0 {
		return nil, "must provide either text or fields"
	}
	return texts, ""
}

func textOf(raw json.RawMessage) (string, string) {
	var t textObject
	if len(raw) == 0 || json.Unmarshal(raw, &t) != nil {
		return "", "missing required field: text"
	}
	if t.Type != "mrkdwn" && t.Type != "plain_text" {
		return "", "text type must be mrkdwn or plain_text"
	}
	return t.Text, ""
}

// richText flattens a rich_text element tree to its text, one line per list item.
func richText(raw json.RawMessage) string {
	var el struct {
		Type     string            `json:"type"`
		Text     string            `json:"text"`
		URL      string            `json:"url"`
		UserID   string            `json:"user_id"`
		Name     string            `json:"name"`
		Elements []json.RawMessage `json:"elements"`
	}
	if json.Unmarshal(raw, &el) != nil {
		return ""
	}
	switch el.Type {
	case "text":
		return el.Text
	case "link":
		if el.Text != "" {
			return el.Text
		}
		return el.URL
	case "user":
		return "<@" + el.UserID + ">"
	case "emoji":
		return ":" + el.Name + ":"
	}
	sep := ""
	if el.Type == "rich_text_list" {
		sep = "\n"
	}
	parts := make([]string, 0, len(el.Elements))
	for _, child := range el.Elements {
		parts = append(parts, richText(child))
	}
	return strings.Join(parts, sep)
}

func buttonLabels(elements []json.RawMessage) []string {
	var labels []string
	for _, raw := range elements {
		var el struct {
			Type string     `json:"type"`
			Text textObject `json:"text"`
		}
		if json.Unmarshal(raw, &el) == nil && el.Type == "button" {
			labels = append(labels, el.Text.Text)
		}
	}
	return labels
}

func nonEmpty(in []string) []string {
	out := in[:0:0]
	for _, s := range in {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// truncateText cuts text to Slack's 40,000 characters, reporting whether it did.
func truncateText(text string) (string, bool) {
	if utf8.RuneCountInString(text) <= maxMessageText {
		return text, false
	}
	return string([]rune(text)[:maxMessageText]), true
}
