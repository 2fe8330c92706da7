package sharedstate_test

import (
	"os/exec"
	"strings"
	"testing"
)

// sharedstate depends on the standard library and fusebox's own breaker and
// events only: Redis and the like live in modules of their own.
func TestDependencies(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the go command")
	}
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}",
		"github.com/fusebox-go/fusebox/sharedstate", "github.com/fusebox-go/fusebox/sharedstate/sharedstatetest").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, p := range strings.Fields(string(out)) {
		switch p {
		case "github.com/fusebox-go/fusebox/breaker", "github.com/fusebox-go/fusebox/events",
			"github.com/fusebox-go/fusebox/sharedstate", "github.com/fusebox-go/fusebox/sharedstate/sharedstatetest":
		default:
			t.Errorf("sharedstate depends on %s", p)
		}
	}
}
