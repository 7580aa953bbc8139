package relay

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestCoreDependencies keeps the core apart from the HTTP edge, its router
// and the store's implementation: relay speaks the domain (package
// slackbot) and the interfaces it declares in ports.go.
func TestCoreDependencies(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool on PATH to list dependencies with")
	}
	out, err := exec.Command(goTool, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) == 0 {
		t.Fatal("go list -deps listed nothing")
	}
	forbidden := []string{
		"github.com/deepagents-slack/slackbot/internal/slackhandler",
		"github.com/deepagents-slack/slackbot/internal/slacksocket",
		"github.com/deepagents-slack/slackbot/internal/threadmap",
		"github.com/gorilla/mux",
	}
	for _, f := range forbidden {
		if slices.Contains(deps, f) {
			t.Errorf("relay depends on %s", f)
		}
	}
	// The domain itself must be there, or the list is not relay's.
	if !slices.Contains(deps, "github.com/deepagents-slack/slackbot") {
		t.Error("relay's dependencies do not include the domain package slackbot")
	}

	// Block Kit lives with the Slack writer (slackpost): the core itself
	// builds none, so it does not import slack-go.
	out, err = exec.Command(goTool, "list", "-f", `{{join .Imports "\n"}}`, ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	if imports := strings.Fields(string(out)); slices.Contains(imports, "github.com/slack-go/slack") {
		t.Error("relay imports github.com/slack-go/slack; render Block Kit in internal/slackpost")
	} else if !slices.Contains(imports, "github.com/deepagents-slack/slackbot/internal/slackpost") {
		t.Errorf("relay's imports %v do not include slackpost: the list is not relay's", imports)
	}
}
