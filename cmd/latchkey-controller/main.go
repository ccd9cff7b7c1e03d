// Command latchkey-controller syncs AzureKeyVaultSecrets into Secrets and
// ConfigMaps. See internal/controller.
package main

import (
	"flag"
	"fmt"
	"os"

	_ "golang.org/x/crypto/x509roots/fallback" // CA roots for images without a CA bundle
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/latchkey-dev/latchkey/internal/controller"
	"github.com/latchkey-dev/latchkey/internal/logging"
)

func main() {
	cfg := controller.DefaultConfig()
	cfg.BindFlags(flag.CommandLine)
	flag.Parse()
	if err := run(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "latchkey-controller:", err)
		os.Exit(1)
	}
}

func run(cfg controller.Config) error {
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
	mgr, err := controller.Setup(restCfg, cfg, log)
	if err != nil {
		return err
	}
	return mgr.Start(ctrl.SetupSignalHandler())
}
