package slackfake_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/deepagents-slack/slackbot/internal/slackpost/slackfake"
)

func button(text, actionID, value string) slack.Block {
	return slack.NewActionBlock("", slack.NewButtonBlockElement(actionID, value, slack.NewTextBlockObject(slack.PlainTextType, text, false, false)))
}

func TestElementLimits(t *testing.T) {
	tests := []struct {
		name   string
		blocks []slack.Block
		want   string
	}{
		{"button text 75", []slack.Block{button(strings.Repeat("b", 75), "a", "v")}, ""},
		{"button text 76", []slack.Block{button(strings.Repeat("b", 76), "a", "v")}, "must be less than 76 characters [json-pointer:/blocks/0/elements/0/text/text]"},
		{"button value 2001", []slack.Block{button("ok", "a", strings.Repeat("v", 2001))}, "[json-pointer:/blocks/0/elements/0/value]"},
		{"action_id 256", []slack.Block{button("ok", strings.Repeat("a", 256), "v")}, "[json-pointer:/blocks/0/elements/0/action_id]"},
		{"section field 2001", []slack.Block{slack.NewSectionBlock(nil, []*slack.TextBlockObject{slack.NewTextBlockObject(slack.MarkdownType, strings.Repeat("f", 2001), false, false)}, nil)}, "[json-pointer:/blocks/0/fields/0/text]"},
		{"block_id 256", []slack.Block{slack.NewDividerBlock(), slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, "x", false, false), nil, nil, slack.SectionBlockOptionBlockID(strings.Repeat("i", 256)))}, "[json-pointer:/blocks/1/block_id]"},
		{"empty section text", []slack.Block{section(0)}, "must be more than 0 characters"},
		{"input in a message", []slack.Block{slack.NewInputBlock("in", slack.NewTextBlockObject(slack.PlainTextType, "l", false, false), nil, slack.NewPlainTextInputBlockElement(nil, "v"))}, "unsupported type: input"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkBlocksVerdict(t, tt.blocks, tt.want) })
	}
}

func TestInvalidBlocksListsEveryError(t *testing.T) {
	fake, _ := newClient(t)
	raw, _ := json.Marshal([]slack.Block{section(3001), button(strings.Repeat("b", 80), "a", "v")})
	body := postRaw(t, fake, "chat.postMessage", url.Values{"channel": {channel}, "blocks": {string(raw)}})
	if body.Error != "invalid_blocks" || len(body.Errors) != 2 || len(body.Meta.Messages) != 2 {
		t.Fatalf("answer = %+v, want invalid_blocks with 2 errors", body)
	}
}

type rawAnswer struct {
	OK     bool     `json:"ok"`
	Error  string   `json:"error"`
	Errors []string `json:"errors"`
	Meta   struct {
		Messages []string `json:"messages"`
	} `json:"response_metadata"`
}

func postRaw(t *testing.T, fake *slackfake.Server, method string, form url.Values) rawAnswer {
	t.Helper()
	form.Set("token", "xoxb-test")
	resp, err := http.PostForm(fake.APIURL()+method, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body rawAnswer
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return body
}

func modal(title string, blocks int) slack.ModalViewRequest {
	bs := make([]slack.Block, blocks)
	for i := range bs {
		bs[i] = slack.NewDividerBlock()
	}
	return slack.ModalViewRequest{
		Type:   slack.VTModal,
		Title:  slack.NewTextBlockObject(slack.PlainTextType, title, false, false),
		Submit: slack.NewTextBlockObject(slack.PlainTextType, "Decide", false, false),
		Blocks: slack.Blocks{BlockSet: bs},
	}
}

func TestModalLimits(t *testing.T) {
	long := modal("ok", 1)
	long.PrivateMetadata = strings.Repeat("m", 3001)
	closeLong := modal("ok", 1)
	closeLong.Close = slack.NewTextBlockObject(slack.PlainTextType, strings.Repeat("c", 25), false, false)
	tests := []struct {
		name string
		view slack.ModalViewRequest
		want string
	}{
		{"title 24", modal(strings.Repeat("t", 24), 1), ""},
		{"title 25", modal(strings.Repeat("t", 25), 1), "[json-pointer:/view/title/text]"},
		{"the old review title", modal("Review the agent's request", 1), "must be less than 25 characters [json-pointer:/view/title/text]"},
		{"close 25", closeLong, "[json-pointer:/view/close/text]"},
		{"private_metadata 3001", long, "[json-pointer:/view/private_metadata]"},
		{"100 blocks", modal("ok", 100), ""},
		{"101 blocks", modal("ok", 101), "no more than 100 items allowed [json-pointer:/view/blocks]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake, api := newClient(t)
			_, err := api.OpenView("trigger", tt.view)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var se slack.SlackErrorResponse
			if !errors.As(err, &se) || se.Err != "invalid_arguments" {
				t.Fatalf("err = %v, want invalid_arguments", err)
			}
			if !strings.Contains(strings.Join(se.ResponseMetadata.Messages, "\n"), tt.want) {
				t.Errorf("messages %q do not mention %q", se.ResponseMetadata.Messages, tt.want)
			}
			if calls := fake.CallsTo("views.open"); len(calls) != 1 || calls[0].OK {
				t.Errorf("calls = %+v", calls)
			}
		})
	}
}

func TestRateTiers(t *testing.T) {
	_, api := newClient(t)
	_, ts, err := api.PostMessage(channel, slack.MsgOptionText("x", false))
	if err != nil {
		t.Fatal(err)
	}
	// chat.update is Tier 3: 50 calls, then 429 with Retry-After.
	var rl *slack.RateLimitedError
	for i := range 60 {
		_, _, _, err = api.UpdateMessage(channel, ts, slack.MsgOptionText("y", false))
		if errors.As(err, &rl) {
			if i < 50 {
				t.Fatalf("limited after %d updates, Tier 3 allows 50", i)
			}
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if rl == nil || rl.RetryAfter < time.Second {
		t.Fatalf("61st update not limited with a Retry-After: %v", err)
	}
	// chat.postMessage: about one per second per channel, with a burst.
	limited := false
	for range 20 {
		if _, _, err := api.PostMessage(channel, slack.MsgOptionText("x", false)); errors.As(err, &rl) {
			limited = true
			break
		}
	}
	if !limited {
		t.Error("20 posts in one channel at once were never limited")
	}
	if _, _, err := api.PostMessage("C0OTHER01", slack.MsgOptionText("x", false)); err != nil {
		t.Errorf("another channel shares the limit: %v", err)
	}
}

func TestRateTiersPerWorkspace(t *testing.T) {
	fake, api := newClient(t, slackfake.WithWorkspace("xoxb-other", "TOTHER001"))
	other := slack.New("xoxb-other", slack.OptionAPIURL(fake.APIURL()))
	if resp, err := other.AuthTest(); err != nil || resp.TeamID != "TOTHER001" {
		t.Fatalf("auth.test with the other token = %+v, %v", resp, err)
	}
	_, ts, err := api.PostMessage(channel, slack.MsgOptionText("x", false))
	if err != nil {
		t.Fatal(err)
	}
	// Workspace one spends chat.update's Tier 3 minute...
	var rl *slack.RateLimitedError
	for i := 0; ; i++ {
		_, _, _, err = api.UpdateMessage(channel, ts, slack.MsgOptionText("y", false))
		if errors.As(err, &rl) {
			break
		}
		if err != nil || i > 60 {
			t.Fatalf("update %d: %v", i, err)
		}
	}
	// ...and the other workspace still has its own.
	for i := range 50 {
		if _, _, _, err := other.UpdateMessage(channel, ts, slack.MsgOptionText("z", false)); err != nil {
			t.Fatalf("update %d in the other workspace: %v", i, err)
		}
	}
	if _, _, _, err := other.UpdateMessage(channel, ts, slack.MsgOptionText("z", false)); !errors.As(err, &rl) {
		t.Errorf("51st update in the other workspace = %v, want a 429", err)
	}
}

func TestRateTiersOff(t *testing.T) {
	_, api := newClient(t, slackfake.WithoutRateTiers())
	for range 30 {
		if _, _, err := api.PostMessage(channel, slack.MsgOptionText("x", false)); err != nil {
			t.Fatal(err)
		}
	}
}

func TestStreamChunks(t *testing.T) {
	fake, api := newClient(t)
	root := fake.UserMessage(channel, "UALICE", "go", "")
	_, ts, err := api.StartStream(channel, slack.MsgOptionTS(root), slack.MsgOptionRecipientUserID("UALICE"),
		slack.MsgOptionRecipientTeamID("T1"), slack.MsgOptionTaskDisplayMode(slack.TaskDisplayModePlan))
	if err != nil {
		t.Fatal(err)
	}
	task := slack.NewTaskUpdateChunk("t1", "Collect metrics")
	task.Status = slack.TaskCardStatusInProgress
	if _, _, err := api.AppendStream(channel, ts, slack.MsgOptionChunks(slack.NewPlanUpdateChunk("Weekly report"), task)); err != nil {
		t.Fatal(err)
	}
	task.Status = slack.TaskCardStatusComplete
	if _, _, err := api.AppendStream(channel, ts, slack.MsgOptionChunks(task, slack.NewMarkdownTextChunk("Done."))); err != nil {
		t.Fatal(err)
	}
	m, _ := fake.Message(channel, ts)
	if m.Plan != "Weekly report" || len(m.Tasks) != 1 || m.Tasks[0].Status != "complete" || m.Text != "Done." {
		t.Errorf("message = %+v", m)
	}
	bad := slack.NewTaskUpdateChunk("", "no id")
	bad.Status = "running"
	_, _, err = api.AppendStream(channel, ts, slack.MsgOptionChunks(bad))
	var se slack.SlackErrorResponse
	if !errors.As(err, &se) || se.Err != "invalid_chunks" || len(se.ResponseMetadata.Messages) != 2 {
		t.Errorf("bad chunk: %v %+v", err, se.ResponseMetadata)
	}
}

func TestBroadcastsAreRecorded(t *testing.T) {
	fake, api := newClient(t)
	if _, _, err := api.PostMessage(channel, slack.MsgOptionText("hi <@U1> and @\u2060here", false)); err != nil {
		t.Fatal(err)
	}
	if got := fake.Broadcasts(); len(got) != 0 {
		t.Fatalf("inert text recorded as broadcast: %v", got)
	}
	_, _, err := api.PostMessage(channel, slack.MsgOptionText("x", false),
		slack.MsgOptionBlocks(slack.NewMarkdownBlock("", "ping <!channel>")))
	if err != nil {
		t.Fatal(err)
	}
	if got := fake.Broadcasts(); len(got) != 1 || got[0] != "chat.postMessage blocks: <!channel>" {
		t.Errorf("broadcasts = %v", got)
	}
	fake.Reset()
	if len(fake.Broadcasts()) != 0 || len(fake.Calls()) != 0 {
		t.Error("Reset kept state")
	}
}

// checkBlocksVerdict posts blocks in a message and checks the fake's answer:
// accepted when want is "", else invalid_blocks with an error naming want.
func checkBlocksVerdict(t *testing.T, blocks []slack.Block, want string) {
	t.Helper()
	fake, _ := newClient(t)
	raw, _ := json.Marshal(blocks)
	body := postRaw(t, fake, "chat.postMessage", url.Values{"channel": {channel}, "text": {"x"}, "blocks": {string(raw)}})
	if want == "" {
		if !body.OK {
			t.Fatalf("rejected: %+v", body)
		}
		return
	}
	if body.OK || body.Error != "invalid_blocks" {
		t.Fatalf("answer = %+v, want invalid_blocks", body)
	}
	if !strings.Contains(strings.Join(body.Errors, "\n"), want) {
		t.Errorf("errors %q do not mention %q", body.Errors, want)
	}
}
