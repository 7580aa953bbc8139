package main

import (
	"strings"
	"testing"
	"time"
)

func TestLoadConfigLeaseTTL(t *testing.T) {
	tests := []struct {
		value string
		want  time.Duration // 0: rejected
	}{
		{"", 30 * time.Second},
		{"2s", 2 * time.Second},
		{" 5m ", 5 * time.Minute},
		{"1h", time.Hour},
		{"500ms", 0},
		{"2h", 0},
		{"thirty", 0},
		{"30", 0},
	}
	for _, tc := range tests {
		env := validEnv()
		env["LEASE_TTL"] = tc.value
		c, err := loadConfig(envOf(env))
		switch {
		case tc.want == 0 && (err == nil || !strings.Contains(err.Error(), "LEASE_TTL")):
			t.Errorf("LEASE_TTL=%q: err = %v; want an error naming LEASE_TTL", tc.value, err)
		case tc.want != 0 && err != nil:
			t.Errorf("LEASE_TTL=%q: %v", tc.value, err)
		case tc.want != 0 && c.LeaseTTL != tc.want:
			t.Errorf("LEASE_TTL=%q: LeaseTTL = %v; want %v", tc.value, c.LeaseTTL, tc.want)
		}
	}
}
