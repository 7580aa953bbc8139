package threadmap

import "testing"

// Both dialects must describe the same schema history, version by version.
func TestMigrationsMatchAcrossDialects(t *testing.T) {
	lite, err := loadMigrations("sqlite")
	if err != nil {
		t.Fatalf("sqlite: %v", err)
	}
	pg, err := loadMigrations("postgres")
	if err != nil {
		t.Fatalf("postgres: %v", err)
	}
	if len(lite) == 0 || len(lite) != len(pg) {
		t.Fatalf("sqlite has %d migrations, postgres %d; want the same, at least one", len(lite), len(pg))
	}
	for i := range lite {
		if lite[i].version != pg[i].version || lite[i].name != pg[i].name {
			t.Errorf("migration %d: sqlite %s, postgres %s; want the same file names", i, lite[i].name, pg[i].name)
		}
		if i > 0 && lite[i].version <= lite[i-1].version {
			t.Errorf("migrations out of order: %s after %s", lite[i].name, lite[i-1].name)
		}
	}
}

func TestSQLitePath(t *testing.T) {
	tests := []struct{ dsn, want string }{
		{"", DefaultSQLitePath},
		{"sqlite:x.db", "x.db"},
		{"sqlite:///var/lib/bot.db", "/var/lib/bot.db"},
		{"sqlite::memory:", ":memory:"},
		{"/data/bot.db", "/data/bot.db"},
	}
	for _, tc := range tests {
		if got := sqlitePath(tc.dsn); got != tc.want {
			t.Errorf("sqlitePath(%q) = %q; want %q", tc.dsn, got, tc.want)
		}
	}
}
