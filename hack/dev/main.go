// Command dev runs latchkey's local environment for `make dev`: a Kubernetes
// control plane built from source (and, with --node, a real node; root), until
// Ctrl-C, which tears it all down. --teardown only cleans up a state folder a
// crashed run left behind (the e2e target calls it on every exit).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/latchkey-dev/latchkey/internal/devcluster"
)

func main() {
	state := flag.String("state", ".cache/dev", "folder for the cluster's state and logs")
	node := flag.Bool("node", false, "add a real node (root; containerd, runc, CNI plugins)")
	teardown := flag.Bool("teardown", false, "only tear down what a previous run left in --state")
	flag.Parse()
	if err := run(*state, *node, *teardown); err != nil {
		fmt.Fprintln(os.Stderr, "dev:", err)
		os.Exit(1)
	}
}

func run(state string, node, teardown bool) error {
	if teardown {
		return devcluster.Teardown(state)
	}
	bins, err := devcluster.BinariesFromEnv()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logf := func(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }
	c, err := devcluster.Start(ctx, devcluster.Options{StateDir: state, Binaries: bins, Node: node, ModuleDir: ".", Logf: logf})
	if err != nil {
		return err
	}
	defer c.Stop()
	fmt.Printf("\nlatchkey dev cluster is up. In another terminal:\n\n  export KUBECONFIG=%s\n  %s get nodes,namespaces\n\nLogs: %s. Ctrl-C stops everything.\n",
		c.Kubeconfig, os.Getenv("TEST_ASSET_KUBECTL"), c.LogDir())
	<-ctx.Done()
	fmt.Fprintln(os.Stderr, "\ndev: stopping")
	return nil
}
