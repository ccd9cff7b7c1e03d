// Command demoapp is the program of `make dev NODE=1`'s demo pod: a static
// binary, so the pod needs no base image, no shell and no internet. For each
// variable named on its command line it prints the name and the value's
// length — enough to see that a value was injected, nothing derived from
// the value itself (even a short hash lets anyone who reads the log confirm
// a guess of a weak secret) — then waits for SIGTERM, as a long-running app
// would.
package main

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: demoapp VARIABLE...")
		os.Exit(2)
	}
	for _, name := range os.Args[1:] {
		report(os.Stdout, name)
	}
	waitForTermination()
}

// report prints one line about the variable name: whether it is set, and
// its length.
func report(w io.Writer, name string) {
	value, ok := os.LookupEnv(name)
	if !ok {
		fmt.Fprintf(w, "%s: not set\n", name)
		return
	}
	fmt.Fprintf(w, "%s: %d characters\n", name, len(value))
}

// waitForTermination blocks until SIGTERM or SIGINT: the pod stays Running
// for its logs to be read, and stops at once when deleted.
func waitForTermination() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
}
