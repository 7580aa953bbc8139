package agents

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Content block types the bot sends.
const (
	BlockText  = "text"
	BlockImage = "image"
)

// ContentBlock is one part of a multimodal message, in LangChain's standard
// content block form: {"type":"text","text":…} or
// {"type":"image","source_type":"base64","data":…,"mime_type":…}.
//
// LangChain's standard blocks rather than OpenAI's image_url: a deep agent's
// model may be any provider's, and langchain-core converts standard blocks
// into each provider's own form (OpenAI image_url, Anthropic image source,
// Gemini inline data), while image_url is OpenAI's and only some other
// integrations translate it. The source_type form is the one langchain-core
// has accepted since 0.3 and v1 still reads.
type ContentBlock struct {
	Type       string `json:"type"`
	Text       string `json:"text,omitempty"`
	SourceType string `json:"source_type,omitempty"`
	Data       string `json:"data,omitempty"`
	MimeType   string `json:"mime_type,omitempty"`
}

// TextBlock is a text content block.
func TextBlock(text string) ContentBlock { return ContentBlock{Type: BlockText, Text: text} }

// ImageBlock is an inline image content block.
func ImageBlock(mimeType string, data []byte) ContentBlock {
	return ContentBlock{
		Type: BlockImage, SourceType: "base64", MimeType: mimeType,
		Data: base64.StdEncoding.EncodeToString(data),
	}
}

// Check reports what is wrong with a block, as a runtime would refuse it.
func (b ContentBlock) Check() error {
	switch b.Type {
	case BlockText:
		if b.Data != "" || b.SourceType != "" {
			return errors.New("a text block carries only text")
		}
		return nil
	case BlockImage:
		if b.SourceType != "base64" {
			return fmt.Errorf("image source_type %q: want base64", b.SourceType)
		}
		if !strings.HasPrefix(b.MimeType, "image/") {
			return fmt.Errorf("image mime_type %q: want image/*", b.MimeType)
		}
		if _, err := base64.StdEncoding.DecodeString(b.Data); err != nil || b.Data == "" {
			return errors.New("image data must be non-empty standard base64")
		}
		return nil
	case "":
		return errors.New("block without a type")
	}
	return fmt.Errorf("block type %q: want text or image", b.Type)
}

// blocksText joins the text of the text blocks.
func blocksText(blocks []ContentBlock) string {
	var b strings.Builder
	for _, bl := range blocks {
		if bl.Type == BlockText {
			b.WriteString(bl.Text)
		}
	}
	return b.String()
}

type messageJSON struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

// MarshalJSON writes content as a string, or as the block list when Blocks is set.
func (m Message) MarshalJSON() ([]byte, error) {
	var content any = m.Content
	if len(m.Blocks) > 0 {
		content = m.Blocks
	}
	raw, err := json.Marshal(content)
	if err != nil {
		return nil, err
	}
	return json.Marshal(messageJSON{Role: m.Role, Content: raw})
}

// UnmarshalJSON reads content as a string or a list of blocks; every block
// must pass Check.
func (m *Message) UnmarshalJSON(b []byte) error {
	var raw messageJSON
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*m = Message{Role: raw.Role}
	if len(raw.Content) == 0 || string(raw.Content) == "null" {
		return errors.New("message without content")
	}
	if json.Unmarshal(raw.Content, &m.Content) == nil {
		return nil
	}
	if err := json.Unmarshal(raw.Content, &m.Blocks); err != nil || len(m.Blocks) == 0 {
		return errors.New("content must be a string or a non-empty list of content blocks")
	}
	for i, bl := range m.Blocks {
		if err := bl.Check(); err != nil {
			return fmt.Errorf("content[%d]: %w", i, err)
		}
	}
	m.Content = blocksText(m.Blocks)
	return nil
}
