// Command latchkey-resolver answers injected pods for the values of the
// placeholders in their own stored spec. See internal/resolver.
package main

import (
	"flag"
	"fmt"
	"os"

	_ "golang.org/x/crypto/x509roots/fallback" // CA roots for images without a CA bundle
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/latchkey-dev/latchkey/internal/logging"
	"github.com/latchkey-dev/latchkey/internal/resolver"
)

func main() {
	cfg := resolver.DefaultConfig()
	cfg.BindFlags(flag.CommandLine)
	flag.Parse()
	if err := run(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "latchkey-resolver:", err)
		os.Exit(1)
	}
}

func run(cfg resolver.Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	log, err := logging.New(os.Stderr, cfg.Log)
	if err != nil {
		return err
	}
	logging.SetProcessLogger(log)
	restCfg, err := ctrl.GetConfig()
	if err != nil {
		return err
	}
	r, err := resolver.Setup(restCfg, cfg, log)
	if err != nil {
		return err
	}
	return r.Start(ctrl.SetupSignalHandler())
}
