package threadmap

import (
	"fmt"
	"strings"
	"testing"
)

// FuzzCheckDSNNeverShowsThePassword: whatever the scheme and password, the
// error for a database URL and its redacted form never contain the
// password.
func FuzzCheckDSNNeverShowsThePassword(f *testing.F) {
	f.Add("pgsql", "bot", "s3cret-pw", "db.internal:5432")
	f.Add("mysql", "u", "p@ss/w#rd?x", "h")
	f.Add("postgress", "", "Zm9vYmFy%41", "[::1]:5432")
	f.Fuzz(func(t *testing.T, scheme, user, password, host string) {
		if len(password) < 6 || strings.Contains(scheme+user+host+"/db", password) ||
			strings.Contains(fmt.Sprintf("%q", scheme), password) {
			return // too short to tell apart from the rest of the URL (or its quoted scheme)
		}
		dsn := scheme + "://" + user + ":" + password + "@" + host + "/db"
		if err := CheckDSN(dsn); err != nil && strings.Contains(err.Error(), password) {
			t.Fatalf("CheckDSN error shows the password: %v", err)
		}
		if strings.Contains(dsn, "://") && !isPostgresDSN(dsn) {
			if got := RedactDSN(dsn); strings.Contains(got, password) {
				t.Fatalf("RedactDSN(%q) = %q shows the password", dsn, got)
			}
		}
	})
}
