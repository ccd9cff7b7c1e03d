// Package runner is the main function latchkey's server commands share
// (latchkey-controller, latchkey-webhook, latchkey-resolver): the command
// line into the component's Config, validation before anything starts,
// the process logger, the API server's configuration (in-cluster or
// KUBECONFIG), the component's Setup, and a run until SIGTERM or SIGINT;
// and how each serves its metrics (MetricsOptions).
package runner

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/go-logr/logr"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/latchkey-dev/latchkey/internal/logging"
)

// Config is what a component's configuration offers the runner: its flags,
// a check of the whole, and its logging options. P is *C.
type Config[C any] interface {
	*C
	BindFlags(fs *flag.FlagSet)
	Validate() error
	Logging() logging.Options
}

// Starter is what a component's Setup returns: it runs until ctx ends.
type Starter interface {
	Start(ctx context.Context) error
}

// Main runs the command name: defaults with the command line's flags,
// then setup, until a signal. An error goes to stderr, prefixed by name,
// and the process exits 1.
func Main[C any, P Config[C], S Starter](name string, defaults C, setup func(*rest.Config, C, logr.Logger) (S, error)) {
	cfg := defaults
	P(&cfg).BindFlags(flag.CommandLine)
	flag.Parse()
	if err := run(P(&cfg), setup); err != nil {
		fmt.Fprintln(os.Stderr, name+":", err)
		os.Exit(1)
	}
}

func run[C any, P Config[C], S Starter](cfg P, setup func(*rest.Config, C, logr.Logger) (S, error)) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	log, err := logging.New(os.Stderr, cfg.Logging())
	if err != nil {
		return err
	}
	logging.SetProcessLogger(log)
	restCfg, err := ctrl.GetConfig()
	if err != nil {
		return err
	}
	s, err := setup(restCfg, *cfg, log)
	if err != nil {
		return err
	}
	return s.Start(ctrl.SetupSignalHandler())
}
