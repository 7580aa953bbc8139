package main

import (
	"strings"
	"testing"
)

func TestLoadConfigSocketModeAndOpsToken(t *testing.T) {
	tests := []struct {
		name    string
		set     map[string]string
		unset   []string
		wantErr []string
		check   func(t *testing.T, c Config)
	}{
		{
			name:  "socket mode needs no signing secret",
			set:   map[string]string{"SLACK_APP_TOKEN": "xapp-1-A1-secretvalue"},
			unset: []string{"SLACK_SIGNING_SECRET"},
			check: func(t *testing.T, c Config) {
				if !c.SocketMode() || c.AppToken != "xapp-1-A1-secretvalue" || c.PublicURL != "" {
					t.Errorf("config = %+v", c)
				}
			},
		},
		{
			name:    "the app token must be an app-level token",
			set:     map[string]string{"SLACK_APP_TOKEN": "xoxb-not-an-app-token"},
			wantErr: []string{"SLACK_APP_TOKEN must be an app-level token"},
		},
		{
			name:    "no completion webhook in socket mode",
			set:     map[string]string{"SLACK_APP_TOKEN": "xapp-1-A1-x", "PUBLIC_URL": "https://bot.example.com"},
			wantErr: []string{"PUBLIC_URL must be unset with SLACK_APP_TOKEN"},
		},
		{
			name:    "over HTTP the signing secret stays required",
			unset:   []string{"SLACK_SIGNING_SECRET"},
			wantErr: []string{"SLACK_SIGNING_SECRET is required"},
		},
		{
			name:    "a short ops token is refused",
			set:     map[string]string{"OPS_API_TOKEN": "short-secret"},
			wantErr: []string{"OPS_API_TOKEN must be at least 16 characters"},
		},
		{
			name: "ops token",
			set:  map[string]string{"OPS_API_TOKEN": " 0123456789abcdef0123 "},
			check: func(t *testing.T, c Config) {
				if c.OpsAPIToken != "0123456789abcdef0123" || c.SocketMode() {
					t.Errorf("config = %+v", c)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := validEnv()
			for k, v := range tt.set {
				env[k] = v
			}
			for _, k := range tt.unset {
				delete(env, k)
			}
			c, err := loadConfig(envOf(env))
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				tt.check(t, c)
				return
			}
			if err == nil {
				t.Fatal("want an error")
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			for _, secret := range []string{"xoxb-not-an-app-token", "short-secret", "xapp-1-A1-x"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error leaks %q: %s", secret, err)
				}
			}
		})
	}
}
