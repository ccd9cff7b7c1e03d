// Command akv-emulator runs the Azure Key Vault emulator (internal/devtools/akvemu)
// on its own, for local development and for tests outside Go.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/latchkey-dev/latchkey/internal/devtools/akvemu"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "akv-emulator:", err)
		os.Exit(1)
	}
}

func run() error {
	var o akvemu.Options
	var seed string
	var level slog.Level
	flag.StringVar(&o.Listen, "listen", "127.0.0.1:8443", "HTTPS listen address")
	flag.StringVar(&seed, "seed", "", "seed YAML file (tenants, apps, identities, vaults)")
	flag.StringVar(&o.CAOut, "ca-out", "", "write the CA certificate (PEM) to this file")
	flag.StringVar(&o.TLSCertFile, "tls-cert", "", "serving certificate PEM (default: generated)")
	flag.StringVar(&o.TLSKeyFile, "tls-key", "", "serving key PEM")
	flag.StringVar(&o.CACertFile, "ca-cert", "", "CA certificate PEM that signs the serving certificate (default: generated)")
	flag.StringVar(&o.CAKeyFile, "ca-key", "", "CA key PEM")
	flag.Func("extra-names", "comma-separated extra DNS names or IPs for the serving certificate", func(v string) error {
		o.ExtraNames = strings.Split(v, ",")
		return nil
	})
	flag.BoolVar(&o.AutoCreateVaults, "auto-create-vaults", false, "create unknown vaults on first use (needs --default-tenant)")
	flag.StringVar(&o.DefaultTenantID, "default-tenant", "", "tenant ID of auto-created vaults")
	flag.TextVar(&level, "log-level", slog.LevelInfo, "log level: debug, info, warn or error")
	flag.Parse()

	o.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	if seed != "" {
		s, err := akvemu.LoadSeedFile(seed)
		if err != nil {
			return err
		}
		o.Seed = s
	}
	if err := o.Validate(); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return akvemu.Run(ctx, o, os.Stdout)
}
