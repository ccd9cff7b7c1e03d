// Command demoapp is the program of `make dev NODE=1`'s demo pod: a static
// binary, so the pod needs no base image, no shell and no internet. For each
// variable named on its command line it prints the name, the value's length
// and the first 8 hex digits of its SHA-256 — enough to see that a value was
// injected and which one, never the value itself — then waits for SIGTERM,
// as a long-running app would.
package main

import (
	"crypto/sha256"
	"encoding/hex"
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

// report prints one line about the variable name: its length and a short
// hash when set, so the output can be compared with the source of the
// value without disclosing it.
func report(w io.Writer, name string) {
	value, ok := os.LookupEnv(name)
	if !ok {
		fmt.Fprintf(w, "%s: not set\n", name)
		return
	}
	sum := sha256.Sum256([]byte(value))
	fmt.Fprintf(w, "%s: %d characters, sha256 %s…\n", name, len(value), hex.EncodeToString(sum[:])[:8])
}

// waitForTermination blocks until SIGTERM or SIGINT: the pod stays Running
// for its logs to be read, and stops at once when deleted.
func waitForTermination() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
}
