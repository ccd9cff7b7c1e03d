// Command latchkey-webhook is the env injector's mutating admission webhook.
// See internal/webhook. It holds no Key Vault credential.
package main

import (
	"flag"
	"fmt"
	"os"

	_ "golang.org/x/crypto/x509roots/fallback" // CA roots for registries, in images without a CA bundle
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/latchkey-dev/latchkey/internal/logging"
	"github.com/latchkey-dev/latchkey/internal/webhook"
)

func main() {
	cfg := webhook.DefaultConfig()
	cfg.BindFlags(flag.CommandLine)
	flag.Parse()
	if err := run(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "latchkey-webhook:", err)
		os.Exit(1)
	}
}

func run(cfg webhook.Config) error {
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
	mgr, err := webhook.Setup(restCfg, cfg, log)
	if err != nil {
		return err
	}
	return mgr.Start(ctrl.SetupSignalHandler())
}
