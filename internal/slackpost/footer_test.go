package slackpost

import (
	"testing"

	"github.com/slack-go/slack"
)

func TestWithFooter(t *testing.T) {
	footer := []slack.Block{slack.NewDividerBlock()}
	blocks := func(n int) []slack.Block {
		out := make([]slack.Block, n)
		for i := range out {
			out[i] = mrkdwnSection("x")
		}
		return out
	}
	tests := []struct {
		name       string
		parts      []int // blocks per part
		wantParts  int
		wantOnLast int // blocks of the last part after
	}{
		{"one part", []int{1}, 1, 2},
		{"under the last of two", []int{3, 2}, 2, 3},
		{"full last part gets its own", []int{49}, 2, 1},
		{"no parts", nil, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var msgs []Message
			for _, n := range tc.parts {
				msgs = append(msgs, Message{Text: "t", Blocks: blocks(n)})
			}
			got := withFooter(msgs, footer)
			if len(got) != tc.wantParts {
				t.Fatalf("%d parts, want %d", len(got), tc.wantParts)
			}
			if len(got) > 0 && len(got[len(got)-1].Blocks) != tc.wantOnLast {
				t.Errorf("last part has %d blocks, want %d", len(got[len(got)-1].Blocks), tc.wantOnLast)
			}
			for i, n := range tc.parts {
				if len(msgs[i].Blocks) != n {
					t.Errorf("input part %d changed", i)
				}
			}
		})
	}
}
