//go:build e2e

// Package e2e runs latchkey's end-to-end tests on a real node: a local
// Kubernetes built from source (internal/devtools/devcluster) whose kubelet runs pods
// with containerd and runc, pulling images from a registry on loopback.
package e2e

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/internal/devtools/akvemu"
	"github.com/latchkey-dev/latchkey/internal/devtools/devcluster"
	"github.com/latchkey-dev/latchkey/internal/devtools/leakcheck"
)

var stateDir = flag.String("e2e.state", filepath.Join(os.TempDir(), "latchkey-e2e"), "folder for the cluster's state and logs")

// env is what every e2e test uses: the cluster, the images pushed to its
// registry, and the Key Vault emulator latchkey talks to.
var env struct {
	cluster *devcluster.Cluster
	// toolbox is the reference of the test image (see ./toolbox).
	toolbox string
	// app runs `toolbox env-hashes --wait` from its image's ENTRYPOINT/CMD.
	app string
	emu *akvemu.Server
	// leaks are what no log, event or pod may show (see seededValues);
	// seeded are the Key Vault objects' values by name.
	leaks  *leakcheck.Set
	seeded map[string]string
	// chart is the chart folder and values the values file it was installed with.
	chart, values string
	// vaultListen is where TestHashiCorpVault's Vault listens (the node's
	// address, which pods reach): the install's hashicorpVault.address.
	vaultListen string
}

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	bins, err := devcluster.BinariesFromEnv(true)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	moduleDir, err := filepath.Abs("../..")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	start := time.Now()
	c, err := devcluster.Start(ctx, devcluster.Options{
		StateDir: *stateDir, Binaries: bins, Node: true, ModuleDir: moduleDir,
		Logf: func(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) },
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: cluster:", err)
		return 1
	}
	// Stop on every way out: return, Ctrl-C, SIGTERM from CI. (A test timeout
	// kills the process without running this; the Makefile's teardown and the
	// children's parent-death signal cover that case.)
	defer c.Stop()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		s := <-sigs
		fmt.Fprintf(os.Stderr, "e2e: %v: tearing the cluster down\n", s)
		c.Stop()
		os.Exit(130)
	}()
	fmt.Fprintf(os.Stderr, "e2e: cluster up in %s (logs: %s)\n", time.Since(start).Round(time.Millisecond), c.LogDir())
	env.cluster = c

	if err := setup(ctx, moduleDir); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	return m.Run()
}
