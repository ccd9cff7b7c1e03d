// Command dev is what `make dev` runs (see internal/devtools/devenv): latchkey locally,
// no Azure, no cluster; --node adds a real node (root). --teardown only cleans
// up a state folder a crashed run left behind (the e2e target calls it on
// every exit).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/latchkey-dev/latchkey/internal/devtools/devcluster"
	"github.com/latchkey-dev/latchkey/internal/devtools/devenv"
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
	bins, err := devcluster.BinariesFromEnv(node)
	if err != nil {
		return err
	}
	defer ownTerminal()()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return devenv.Run(ctx, devenv.Options{
		StateDir: state, ModuleDir: ".", Node: node, Binaries: bins,
		Kubectl: os.Getenv("TEST_ASSET_KUBECTL"), Out: os.Stdout, Progress: os.Stderr,
	})
}
