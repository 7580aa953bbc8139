package slackbot

import "testing"

// The expected ids were computed with github.com/google/uuid's
// NewSHA1(NameSpaceURL, name); the store tests compare the two for more keys.
func TestThreadID(t *testing.T) {
	tests := []struct {
		key  Key
		want string
	}{
		{Key{TeamID: "T0001", ChannelID: "C0001", RootTS: "1700000001.000200"}, "0a1f3cae-66ea-5b42-b6c3-08dc960aab49"},
		{Key{}, "350b4257-a992-52c0-ba56-ec3b907029f4"},
	}
	for _, tt := range tests {
		if got := ThreadID(tt.key); got != tt.want {
			t.Errorf("ThreadID(%v) = %s, want %s", tt.key, got, tt.want)
		}
	}
}
