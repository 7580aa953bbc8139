package agentstest

import (
	"strings"
	"time"
)

// writeFileTool is deepagents' file tool; its files live in the thread's
// state under "files".
const writeFileTool = "write_file"

// WriteFile is a write_file call that stores content at path in the
// thread's state files, as deepagents' default (state) backend does. Use
// MemoryWrite for /memories/, which needs approval.
func WriteFile(path, content string) Step {
	return Step{Tool: &ToolStep{
		Name:   writeFileTool,
		Args:   map[string]any{"file_path": path, "content": content},
		Result: "Updated file " + path,
	}}
}

// stateFiles renders files the way deepagents keeps them in state:
// {path: {content: [lines], created_at, modified_at}}.
func stateFiles(files map[string]string, at time.Time) map[string]any {
	out := make(map[string]any, len(files))
	stamp := at.UTC().Format(time.RFC3339Nano)
	for path, content := range files {
		out[path] = map[string]any{
			"content":     strings.Split(content, "\n"),
			"created_at":  stamp,
			"modified_at": stamp,
		}
	}
	return out
}
