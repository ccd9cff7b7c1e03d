// Package layout holds the tree's architecture to what the README says:
// shipped commands are built from internal/ alone (never from the
// development and test tooling in internal/devtools), and the in-container
// binary carries neither Kubernetes' libraries nor a server component.
package layout

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/latchkey-dev/latchkey"

// shipped are the commands in latchkey's images.
var shipped = []string{"latchkey-controller", "latchkey-webhook", "latchkey-resolver", "latchkey-env"}

// deps lists every package pkg is built from (tests excluded).
func deps(t *testing.T, pkg string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", pkg).Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	return strings.Fields(string(out))
}

func TestShippedCommandsUseNoDevTools(t *testing.T) {
	for _, cmd := range shipped {
		all := deps(t, module+"/cmd/"+cmd)
		if len(all) < 10 {
			t.Fatalf("%s: only %d packages listed", cmd, len(all))
		}
		for _, d := range all {
			if strings.HasPrefix(d, module+"/internal/devtools/") || strings.HasPrefix(d, module+"/test/") || strings.HasPrefix(d, module+"/hack/") {
				t.Errorf("%s is built from %s", cmd, d)
			}
		}
	}
}

func TestInContainerBinaryStaysSmallInDeps(t *testing.T) {
	for _, d := range deps(t, module+"/cmd/latchkey-env") {
		for _, banned := range []string{"k8s.io/", "sigs.k8s.io/", module + "/internal/controller", module + "/internal/webhook", module + "/internal/resolver"} {
			// The resolver's wire protocol is the binary's too.
			if strings.HasPrefix(d, banned) && d != module+"/internal/resolver/protocol" {
				t.Errorf("latchkey-env is built from %s", d)
			}
		}
	}
}

// TestDevToolsAreListed: the test above guards every package under
// internal/devtools; a tooling package elsewhere would escape it.
func TestDevToolsAreListed(t *testing.T) {
	out, err := exec.Command("go", "list", module+"/internal/devtools/...").Output()
	if err != nil {
		t.Fatal(err)
	}
	if n := len(strings.Fields(string(out))); n < 7 {
		t.Errorf("internal/devtools holds %d packages, want the emulator, local cluster, dev environment, image builder and test kits", n)
	}
}
