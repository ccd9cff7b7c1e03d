package devenv

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/internal/devtools/devcluster"
	"github.com/latchkey-dev/latchkey/internal/devtools/leakcheck"
	"github.com/latchkey-dev/latchkey/internal/podcontract"
)

// TestRunShowsAnInjectedPod runs what `make dev` runs, without a node, until
// it reports ready: the printed demo pod must be the webhook's work in
// resolver mode, and cancelling must stop everything and return nil.
// Without the control plane's binaries the test fails: run it through make.
func TestRunShowsAnInjectedPod(t *testing.T) {
	bins, err := devcluster.BinariesFromEnv(false)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out, progress := &leakcheck.Buffer{}, &leakcheck.Buffer{}
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{
			StateDir: t.TempDir(), ModuleDir: "../../..", Binaries: bins, Kubectl: "kubectl",
			Out: out, Progress: progress, Ready: func() { close(ready) },
		})
	}()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("Run returned before ready: %v\nprogress:\n%s", err, progress)
	case <-time.After(2 * time.Minute):
		t.Fatalf("not ready after 2m\nprogress:\n%s", progress)
	}

	got := out.String()
	for _, want := range []string{
		"/latchkey/bin/latchkey-env",             // the rewritten command
		podcontract.EnvResolverURL,               // resolver mode
		"value: https://127.0.0.1:",              // the resolver's URL as its value
		"my-azure-keyvault-secret@azurekeyvault", // the placeholder stays a placeholder
		"latchkey-env-install",                   // the init container
		"latchkey/demoapp:dev",                   // the demo program's image, named only
		"- /demoapp",                             // its explicit command, passed on
		"kubectl -n injection-demo get configmap latchkey-resolver-ca -o yaml",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	// The seeded value of test-secret (config/samples/emulator-seed.yaml).
	if strings.Contains(got, "asdfasdfasdf") {
		t.Errorf("output shows a secret value:\n%s", got)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Run did not return within 1m of cancel")
	}
}
