// Command latchkey-env is latchkey's in-container binary
// (docs/design/injection.md):
//
//	latchkey-env install <dst>    copy itself to dst (the init container)
//	latchkey-env run -- argv…     resolve the placeholders, then exec argv
//	latchkey-env check [flags]    ask an install's parts to answer (helm test)
//	latchkey-env files write      write the pod's declared files (init container)
//	latchkey-env files refresh    keep them current (native sidecar)
//
// Everything it does lives in internal/envexec, including the fallback CA
// roots for images without a CA bundle (envexec.EnsureCARoots); check lives
// in internal/installcheck.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/latchkey-dev/latchkey/internal/envexec"
	"github.com/latchkey-dev/latchkey/internal/installcheck"
	"github.com/latchkey-dev/latchkey/internal/podcontract"
)

const usage = "usage: latchkey-env install <dst> | latchkey-env run -- program [args…] | latchkey-env check [flags] | latchkey-env files write|refresh\n"

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	switch {
	case len(args) == 2 && args[0] == podcontract.CmdInstall:
		err := envexec.Install(args[1])
		if err != nil {
			fmt.Fprintf(os.Stderr, "latchkey-env install: %v\n", err)
		}
		return envexec.ExitCode(err)
	case len(args) >= 3 && args[0] == podcontract.CmdRun && args[1] == "--":
		ctx, stop := envexec.NotifyContext(context.Background())
		defer stop()
		o := envexec.Options{Argv: args[2:], Environ: os.Environ(), Stderr: os.Stderr}
		return envexec.ExitCode(envexec.Run(ctx, o))
	case len(args) == 2 && args[0] == podcontract.CmdFiles && (args[1] == podcontract.CmdFilesWrite || args[1] == podcontract.CmdFilesRefresh):
		ctx, stop := envexec.NotifyContext(context.Background())
		defer stop()
		o := envexec.FilesOptions{Refresh: args[1] == podcontract.CmdFilesRefresh, Environ: os.Environ(), Stderr: os.Stderr}
		return envexec.ExitCode(envexec.Files(ctx, o))
	case len(args) >= 1 && args[0] == "check":
		return installcheck.Main(context.Background(), args[1:], os.Stdout, os.Stderr)
	}
	fmt.Fprint(os.Stderr, usage)
	return envexec.ExitUsage
}
