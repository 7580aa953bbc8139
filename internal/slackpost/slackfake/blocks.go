package slackfake

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Block Kit limits Slack enforces. Each cites where Slack documents it; the
// reference notes are in shared/reference/slack-platform.md (§5, Additions).
const (
	// Slack: "up to 50 blocks in each message"; "up to 100 blocks" in modals
	// (docs.slack.dev/reference/block-kit/blocks, /reference/views/modal-views).
	maxBlocks      = 50
	maxModalBlocks = 100
	// Slack: section text "Maximum length for the text in this field is
	// 3000 characters"; fields "Maximum number of items is 10. Maximum length
	// for the text in each item is 2000 characters"
	// (docs.slack.dev/reference/block-kit/blocks/section-block).
	maxSectionText      = 3000
	maxSectionFieldText = 2000
	maxSectionFields    = 10
	// Slack: header text "Maximum length for the text in this field is 150
	// characters" (docs.slack.dev/reference/block-kit/blocks/header-block).
	maxHeaderText = 150
	// Slack: block_id "Maximum length for this field is 255 characters"
	// (every block's reference page).
	maxBlockID = 255
	// Slack: context "Maximum number of items is 10"; actions "There is a
	// maximum of 25 elements in each action block"
	// (docs.slack.dev/reference/block-kit/blocks/context-block, actions-block).
	maxContextElements = 10
	maxActionElements  = 25
	// Slack: context_actions "elements: An array of feedback buttons or
	// icon button elements. Maximum number of items is 5"
	// (docs.slack.dev/reference/block-kit/blocks/context-actions-block).
	maxContextActionElements = 5
	// Slack: input label and hint "Maximum length … is 2000 characters"
	// (docs.slack.dev/reference/block-kit/blocks/input-block).
	maxInputLabel = 2000
	// Slack: button text "Maximum length … is 75 characters"; value "2000";
	// url "3000"; action_id "255" for every interactive element
	// (docs.slack.dev/reference/block-kit/block-elements/button-element).
	maxButtonText  = 75
	maxButtonValue = 2000
	maxURL         = 3000
	maxActionID    = 255
	// Slack: option text 75, value 150, description 75; radio buttons hold at
	// most 10 options (docs.slack.dev/reference/block-kit/composition-objects/option-object,
	// block-elements/radio-button-group-element).
	maxOptionText   = 75
	maxOptionValue  = 150
	maxRadioOptions = 10
	// Slack: plain_text_input max_length "Maximum … 3000"; placeholder 150
	// (docs.slack.dev/reference/block-kit/block-elements/plain-text-input-element).
	maxInputLength = 3000
	maxPlaceholder = 150
	// Slack: "The cumulative limit for all markdown blocks in a single
	// payload is 12,000 characters" (docs.slack.dev/reference/block-kit/blocks/markdown-block).
	maxMarkdownTotal = 12000
	// Undocumented: about 13.2k characters of block text in total answer
	// msg_blocks_too_long (bolt-js #2509, #2867; metabase PR #79908).
	maxBlockTextTotal = 13200
	// Slack: text above 40,000 characters is truncated with the warning
	// message_truncated (docs.slack.dev/reference/methods/chat.postMessage,
	// changelog 2018-04).
	maxMessageText = 40000
	// Slack: markdown_text "limited to 12,000 characters" per call
	// (docs.slack.dev/reference/methods/chat.appendStream, chat.startStream).
	maxMarkdownTextParam = 12000
	// Slack: modal title, submit and close are plain_text of at most 24
	// characters; private_metadata at most 3000; callback_id 255
	// (docs.slack.dev/reference/views/modal-views).
	maxModalTitle    = 24
	maxPrivateMeta   = 3000
	maxCallbackID    = 255
	maxExternalIDLen = 255
)

// checkedBlocks is a validated blocks payload.
type checkedBlocks struct {
	raw      json.RawMessage
	rendered string   // readable text of markdown/section/context/header/rich_text blocks
	buttons  []string // labels of buttons in actions blocks, for transcripts
	empty    bool     // "[]": no blocks
}

// surface is where blocks are shown: messages and modals allow different
// block types and counts.
type surface int

const (
	surfaceMessage surface = iota
	surfaceModal
)

// blockTypes are the block types each surface accepts (Slack: "Available
// in surfaces" on each block's reference page).
var blockTypes = map[surface]map[string]bool{
	surfaceMessage: {"section": true, "markdown": true, "header": true, "context": true, "actions": true,
		"divider": true, "image": true, "rich_text": true, "video": true, "file": true, "context_actions": true, "table": true},
	surfaceModal: {"section": true, "header": true, "context": true, "actions": true, "divider": true,
		"image": true, "rich_text": true, "input": true, "video": true},
}

// validator collects every problem of a payload, as Slack lists them.
type validator struct {
	errs          []string
	parts         []string
	buttons       []string
	markdownTotal int
	textTotal     int
}

func (v *validator) failf(pointer, format string, args ...any) {
	v.errs = append(v.errs, fmt.Sprintf(format, args...)+" [json-pointer:"+pointer+"]")
}

// maxLen reports a text longer than limit at pointer.
func (v *validator) maxLen(pointer, text string, limit int) bool {
	if slackLen(text) > limit {
		v.failf(pointer, "must be less than %d characters", limit+1)
		return false
	}
	return true
}

// slackLen counts like Slack: UTF-16 code units.
func slackLen(s string) int {
	n := 0
	for _, r := range s {
		n++
		if r >= 0x10000 {
			n++
		}
	}
	return n
}

// checkBlocks validates a message's blocks payload like Slack does and
// renders its readable text. On rejection it returns the Slack error code
// and every problem found.
func checkBlocks(payload string) (checkedBlocks, string, []string) {
	var docs []json.RawMessage
	if err := json.Unmarshal([]byte(payload), &docs); err != nil {
		return checkedBlocks{}, "invalid_blocks_format", []string{err.Error()}
	}
	v := &validator{}
	v.blocks("/blocks", docs, surfaceMessage)
	if len(v.errs) > 0 {
		return checkedBlocks{}, "invalid_blocks", v.errs
	}
	if v.textTotal > maxBlockTextTotal {
		return checkedBlocks{}, "msg_blocks_too_long", nil
	}
	return checkedBlocks{
		raw:      json.RawMessage(payload),
		rendered: strings.Join(nonEmpty(v.parts), "\n"),
		buttons:  v.buttons,
		empty:    len(docs) == 0,
	}, "", nil
}

// blocks checks a list of blocks at pointer.
func (v *validator) blocks(pointer string, docs []json.RawMessage, on surface) {
	limit := maxBlocks
	if on == surfaceModal {
		limit = maxModalBlocks
	}
	if len(docs) > limit {
		v.failf(pointer, "no more than %d items allowed", limit)
		return
	}
	ids := map[string]bool{}
	for i, raw := range docs {
		at := fmt.Sprintf("%s/%d", pointer, i)
		var b map[string]json.RawMessage
		if err := json.Unmarshal(raw, &b); err != nil {
			v.failf(at, "expected an object")
			continue
		}
		typ := str(b["type"])
		if typ == "" {
			v.failf(at, "missing required field: type")
			continue
		}
		if !blockTypes[on][typ] {
			v.failf(at+"/type", "unsupported type: %s", typ)
			continue
		}
		if id := str(b["block_id"]); id != "" {
			v.maxLen(at+"/block_id", id, maxBlockID)
			if ids[id] {
				v.failf(at+"/block_id", "duplicate block_id: %s", id)
			}
			ids[id] = true
		}
		v.block(at, typ, b)
	}
}

func (v *validator) block(at, typ string, b map[string]json.RawMessage) {
	switch typ {
	case "markdown":
		text, ok := strOK(b["text"])
		if !ok || text == "" {
			v.failf(at+"/text", "must be a non-empty string")
			return
		}
		n := slackLen(text)
		v.markdownTotal += n
		v.textTotal += n
		if v.markdownTotal > maxMarkdownTotal {
			v.failf(at+"/text", "markdown blocks exceed the cumulative limit of %d characters", maxMarkdownTotal)
		}
		v.parts = append(v.parts, text)
	case "header":
		if t, ok := v.textObject(at+"/text", b["text"], true, true); ok {
			v.maxLen(at+"/text/text", t, maxHeaderText)
			v.addText(t)
		}
	case "section":
		v.section(at, b)
	case "context":
		var els []json.RawMessage
		_ = json.Unmarshal(b["elements"], &els)
		if len(els) == 0 {
			v.failf(at+"/elements", "must contain at least 1 item")
		}
		if len(els) > maxContextElements {
			v.failf(at+"/elements", "no more than %d items allowed", maxContextElements)
		}
		for i, el := range els {
			var t textObject
			if json.Unmarshal(el, &t) == nil && (t.Type == "mrkdwn" || t.Type == "plain_text") {
				if t.Text == "" {
					v.failf(fmt.Sprintf("%s/elements/%d/text", at, i), "must be more than 0 characters")
				}
				v.addText(t.Text)
			}
		}
	case "context_actions":
		var els []json.RawMessage
		_ = json.Unmarshal(b["elements"], &els)
		if len(els) == 0 {
			v.failf(at+"/elements", "must contain at least 1 item")
		}
		if len(els) > maxContextActionElements {
			v.failf(at+"/elements", "no more than %d items allowed", maxContextActionElements)
		}
		for i, el := range els {
			v.contextAction(fmt.Sprintf("%s/elements/%d", at, i), el)
		}
	case "actions":
		var els []json.RawMessage
		_ = json.Unmarshal(b["elements"], &els)
		if len(els) == 0 {
			v.failf(at+"/elements", "must contain at least 1 item")
		}
		if len(els) > maxActionElements {
			v.failf(at+"/elements", "no more than %d items allowed", maxActionElements)
		}
		actionIDs := map[string]bool{}
		for i, el := range els {
			id := v.element(fmt.Sprintf("%s/elements/%d", at, i), el)
			if id != "" && actionIDs[id] {
				v.failf(fmt.Sprintf("%s/elements/%d/action_id", at, i), "duplicate action_id in block: %s", id)
			}
			actionIDs[id] = true
		}
	case "input":
		if t, ok := v.textObject(at+"/label", b["label"], true, true); ok {
			v.maxLen(at+"/label/text", t, maxInputLabel)
		}
		if raw, has := b["hint"]; has {
			if t, ok := v.textObject(at+"/hint", raw, true, true); ok {
				v.maxLen(at+"/hint/text", t, maxInputLabel)
			}
		}
		if _, has := b["element"]; !has {
			v.failf(at+"/element", "missing required field: element")
			return
		}
		v.element(at+"/element", b["element"])
	case "rich_text":
		var els []json.RawMessage
		_ = json.Unmarshal(b["elements"], &els)
		for _, el := range els {
			if t := richText(el); t != "" {
				v.parts = append(v.parts, t)
				v.textTotal += slackLen(t)
			}
		}
	}
}

func (v *validator) addText(t string) {
	v.textTotal += slackLen(t)
	v.parts = append(v.parts, t)
}

func (v *validator) section(at string, b map[string]json.RawMessage) {
	has := false
	if raw, ok := b["text"]; ok && string(raw) != "null" {
		has = true
		if t, ok := v.textObject(at+"/text", raw, false, true); ok {
			v.maxLen(at+"/text/text", t, maxSectionText)
			v.addText(t)
		}
	}
	var fields []json.RawMessage
	_ = json.Unmarshal(b["fields"], &fields)
	if len(fields) > 0 {
		has = true
	}
	if len(fields) > maxSectionFields {
		v.failf(at+"/fields", "no more than %d items allowed", maxSectionFields)
	}
	for i, f := range fields {
		ptr := fmt.Sprintf("%s/fields/%d", at, i)
		if t, ok := v.textObject(ptr, f, false, true); ok {
			v.maxLen(ptr+"/text", t, maxSectionFieldText)
			v.addText(t)
		}
	}
	if raw, ok := b["accessory"]; ok && string(raw) != "null" {
		v.element(at+"/accessory", raw)
	}
	if !has {
		v.failf(at, "must provide either text or fields")
	}
}

// textObject checks a text object; plainOnly requires plain_text.
func (v *validator) textObject(at string, raw json.RawMessage, plainOnly, required bool) (string, bool) {
	if len(raw) == 0 || string(raw) == "null" {
		if required {
			v.failf(at, "missing required field: text")
		}
		return "", false
	}
	var t textObject
	if err := json.Unmarshal(raw, &t); err != nil {
		v.failf(at, "expected a text object")
		return "", false
	}
	switch {
	case plainOnly && t.Type != "plain_text":
		v.failf(at+"/type", "must be plain_text")
		return "", false
	case t.Type != "mrkdwn" && t.Type != "plain_text":
		v.failf(at+"/type", "must be mrkdwn or plain_text")
		return "", false
	case t.Text == "":
		v.failf(at+"/text", "must be more than 0 characters")
		return "", false
	}
	return t.Text, true
}

// element checks an interactive element and returns its action_id.
func (v *validator) element(at string, raw json.RawMessage) string {
	var el map[string]json.RawMessage
	if err := json.Unmarshal(raw, &el); err != nil {
		v.failf(at, "expected an object")
		return ""
	}
	id := str(el["action_id"])
	v.maxLen(at+"/action_id", id, maxActionID)
	switch str(el["type"]) {
	case "button":
		if t, ok := v.textObject(at+"/text", el["text"], true, true); ok {
			v.maxLen(at+"/text/text", t, maxButtonText)
			v.buttons = append(v.buttons, t)
		}
		v.maxLen(at+"/value", str(el["value"]), maxButtonValue)
		v.maxLen(at+"/url", str(el["url"]), maxURL)
		if style := str(el["style"]); style != "" && style != "primary" && style != "danger" {
			v.failf(at+"/style", "must be one of primary, danger")
		}
	case "radio_buttons", "checkboxes", "static_select":
		var opts []json.RawMessage
		_ = json.Unmarshal(el["options"], &opts)
		if len(opts) == 0 {
			v.failf(at+"/options", "must contain at least 1 item")
		}
		if len(opts) > maxRadioOptions && str(el["type"]) != "static_select" {
			v.failf(at+"/options", "no more than %d items allowed", maxRadioOptions)
		}
		values := map[string]bool{}
		for i, o := range opts {
			values[v.option(fmt.Sprintf("%s/options/%d", at, i), o)] = true
		}
		if raw, has := el["initial_option"]; has && string(raw) != "null" {
			if val := v.option(at+"/initial_option", raw); !values[val] {
				v.failf(at+"/initial_option", "must match one of the options")
			}
		}
	case "plain_text_input":
		max := maxInputLength
		if raw, has := el["max_length"]; has {
			var n int
			if json.Unmarshal(raw, &n) != nil || n < 1 || n > maxInputLength {
				v.failf(at+"/max_length", "must be between 1 and %d", maxInputLength)
			} else {
				max = n
			}
		}
		v.maxLen(at+"/initial_value", str(el["initial_value"]), max)
		if raw, has := el["placeholder"]; has {
			if t, ok := v.textObject(at+"/placeholder", raw, true, true); ok {
				v.maxLen(at+"/placeholder/text", t, maxPlaceholder)
			}
		}
	case "":
		v.failf(at+"/type", "missing required field: type")
	}
	return id
}

// option checks an option object and returns its value.
func (v *validator) option(at string, raw json.RawMessage) string {
	var o map[string]json.RawMessage
	if err := json.Unmarshal(raw, &o); err != nil {
		v.failf(at, "expected an object")
		return ""
	}
	if t, ok := v.textObject(at+"/text", o["text"], false, true); ok {
		v.maxLen(at+"/text/text", t, maxOptionText)
	}
	value := str(o["value"])
	if value == "" {
		v.failf(at+"/value", "must be more than 0 characters")
	}
	v.maxLen(at+"/value", value, maxOptionValue)
	if raw, has := o["description"]; has {
		if t, ok := v.textObject(at+"/description", raw, false, false); ok {
			v.maxLen(at+"/description/text", t, maxOptionText)
		}
	}
	return value
}

// checkModal validates a views.open/update/push view like Slack does and
// returns every problem found (Slack answers invalid_arguments with them).
func checkModal(raw string) (map[string]any, View, []string) {
	var view map[string]json.RawMessage
	if err := json.Unmarshal([]byte(raw), &view); err != nil {
		return nil, View{}, []string{"[ERROR] view must be a JSON object [json-pointer:/view]"}
	}
	text := func(name string) string {
		var t textObject
		_ = json.Unmarshal(view[name], &t)
		return t.Text
	}
	v := &validator{}
	if str(view["type"]) != "modal" {
		v.failf("/view/type", "must be modal")
	}
	if t, ok := v.textObject("/view/title", view["title"], true, true); ok {
		v.maxLen("/view/title/text", t, maxModalTitle)
	}
	for _, name := range []string{"submit", "close"} {
		if r, has := view[name]; has && string(r) != "null" {
			if t, ok := v.textObject("/view/"+name, r, true, true); ok {
				v.maxLen("/view/"+name+"/text", t, maxModalTitle)
			}
		}
	}
	v.maxLen("/view/private_metadata", str(view["private_metadata"]), maxPrivateMeta)
	v.maxLen("/view/callback_id", str(view["callback_id"]), maxCallbackID)
	v.maxLen("/view/external_id", str(view["external_id"]), maxExternalIDLen)
	var docs []json.RawMessage
	if err := json.Unmarshal(view["blocks"], &docs); err != nil {
		v.failf("/view/blocks", "missing required field: blocks")
	}
	v.blocks("/view/blocks", docs, surfaceModal)
	hasInput := false
	for _, d := range docs {
		var b struct {
			Type string `json:"type"`
		}
		if json.Unmarshal(d, &b) == nil && b.Type == "input" {
			hasInput = true
		}
	}
	// Slack: submit is required when a modal holds input blocks.
	if r, has := view["submit"]; hasInput && (!has || string(r) == "null") {
		v.failf("/view/submit", "missing required field: submit (the view has input blocks)")
	}
	if len(v.errs) > 0 {
		msgs := make([]string, len(v.errs))
		for i, e := range v.errs {
			msgs[i] = "[ERROR] " + e
		}
		return nil, View{}, msgs
	}
	var out map[string]any
	_ = json.Unmarshal([]byte(raw), &out)
	return out, View{
		Title: text("title"), Submit: text("submit"), Close: text("close"),
		CallbackID: str(view["callback_id"]), PrivateMetadata: str(view["private_metadata"]),
		Rendered: strings.Join(nonEmpty(v.parts), "\n"),
	}, nil
}

type textObject struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// str is a JSON string value, or "".
func str(raw json.RawMessage) string {
	s, _ := strOK(raw)
	return s
}

func strOK(raw json.RawMessage) (string, bool) {
	var s string
	if len(raw) == 0 || json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
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
	if slackLen(text) <= maxMessageText {
		return text, false
	}
	n := 0
	for i, r := range text {
		n += slackLen(string(r))
		if n > maxMessageText {
			return text[:i], true
		}
	}
	return text, true
}

// contextAction checks an element of a context_actions block: only
// feedback_buttons and icon_button are allowed there. A feedback_buttons
// element needs a positive and a negative button, each with plain_text of
// at most 75 characters and a value of at most 2000
// (docs.slack.dev/reference/block-kit/block-elements/feedback-buttons-element).
func (v *validator) contextAction(at string, raw json.RawMessage) {
	var el map[string]json.RawMessage
	if err := json.Unmarshal(raw, &el); err != nil {
		v.failf(at, "expected an object")
		return
	}
	v.maxLen(at+"/action_id", str(el["action_id"]), maxActionID)
	switch typ := str(el["type"]); typ {
	case "feedback_buttons":
		for _, side := range []string{"positive_button", "negative_button"} {
			var b map[string]json.RawMessage
			if err := json.Unmarshal(el[side], &b); err != nil || b == nil {
				v.failf(at+"/"+side, "missing required field: %s", side)
				continue
			}
			if t, ok := v.textObject(at+"/"+side+"/text", b["text"], true, true); ok {
				v.maxLen(at+"/"+side+"/text/text", t, maxButtonText)
			}
			value, ok := strOK(b["value"])
			if !ok || value == "" {
				v.failf(at+"/"+side+"/value", "missing required field: value")
			}
			v.maxLen(at+"/"+side+"/value", value, maxButtonValue)
			v.maxLen(at+"/"+side+"/accessibility_label", str(b["accessibility_label"]), maxButtonText)
		}
	case "icon_button":
	default:
		v.failf(at+"/type", "must be one of feedback_buttons, icon_button")
	}
}
