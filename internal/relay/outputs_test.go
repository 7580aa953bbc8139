package relay

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestOutputFiles(t *testing.T) {
	values := json.RawMessage(`{"messages":[],"files":{
		"/outputs/b.md":{"content":["line 1","line 2"],"modified_at":"2026-01-01T00:00:00Z"},
		"/outputs/a.csv":{"content":"x,y\n1,2"},
		"/outputs/big.txt":{"content":"01234567890123456789"},
		"/outputs/empty.txt":{"content":[]},
		"/outputs/../memories/x.md":{"content":"sneaky"},
		"/memories/prefs.md":{"content":"private"},
		"/scratch/notes.md":{"content":"draft"},
		"/outputs/c.md":{"content":"third"},
		"/outputs/d.md":{"content":{"not":"text"}}
	}}`)
	tests := []struct {
		name      string
		prefix    string
		maxFiles  int
		maxBytes  int
		wantPaths []string
		wantLeft  []string
	}{
		{"under the prefix, by path", "/outputs/", 10, 13, []string{"/outputs/a.csv", "/outputs/b.md", "/outputs/c.md"}, []string{"/outputs/big.txt"}},
		{"count limit", "/outputs/", 2, 100, []string{"/outputs/a.csv", "/outputs/b.md"}, []string{"/outputs/big.txt", "/outputs/c.md"}},
		{"whole tree still skips memories", "/", 10, 100, []string{"/outputs/a.csv", "/outputs/b.md", "/outputs/big.txt", "/outputs/c.md", "/scratch/notes.md"}, nil},
		{"off", "", 10, 100, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			share, left := outputFiles(values, tc.prefix, tc.maxFiles, tc.maxBytes)
			var paths []string
			for _, f := range share {
				paths = append(paths, f.path)
			}
			if !reflect.DeepEqual(paths, tc.wantPaths) || !reflect.DeepEqual(left, tc.wantLeft) {
				t.Errorf("shared %v, left %v; want %v and %v", paths, left, tc.wantPaths, tc.wantLeft)
			}
		})
	}
	share, _ := outputFiles(values, "/outputs/", 10, 100)
	if string(share[1].content) != "line 1\nline 2" {
		t.Errorf("lines joined as %q", share[1].content)
	}
	if s, l := outputFiles(json.RawMessage(`not json`), "/outputs/", 10, 100); s != nil || l != nil {
		t.Errorf("bad state gave %v %v", s, l)
	}
}
