package runner

import (
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/go-logr/logr"
	"k8s.io/client-go/rest"

	"github.com/latchkey-dev/latchkey/internal/logging"
)

type testConfig struct {
	Name string
	Log  logging.Options
}

func (c *testConfig) BindFlags(fs *flag.FlagSet) { fs.StringVar(&c.Name, "name", c.Name, "") }

func (c testConfig) Validate() error {
	if c.Name == "" {
		return errors.New("name is required")
	}
	return nil
}

func (c testConfig) Logging() logging.Options { return c.Log }

type starter struct{ started bool }

func (s *starter) Start(context.Context) error { s.started = true; return nil }

// A configuration that does not validate stops the run before anything
// connects or starts.
func TestRunRefusesAnInvalidConfig(t *testing.T) {
	called := false
	err := run(&testConfig{Log: logging.Options{Level: "info", Format: "json"}}, func(*rest.Config, testConfig, logr.Logger) (*starter, error) {
		called = true
		return &starter{}, nil
	})
	if err == nil || err.Error() != "name is required" {
		t.Fatalf("err = %v, want the validation error", err)
	}
	if called {
		t.Error("setup ran on an invalid configuration")
	}
}

// A valid configuration reaches setup as given, with the API server named
// by KUBECONFIG, and what setup returns is started.
func TestRunSetsUpAndStarts(t *testing.T) {
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://192.0.2.1:6443"}}]
users: [{name: u, user: {token: not-a-real-token}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KUBECONFIG", kubeconfig)
	s := &starter{}
	var got testConfig
	var host string
	err := run(&testConfig{Name: "n", Log: logging.Options{Level: "info", Format: "json"}}, func(r *rest.Config, c testConfig, _ logr.Logger) (*starter, error) {
		got, host = c, r.Host
		return s, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "n" || host != "https://192.0.2.1:6443" || !s.started {
		t.Errorf("setup saw config %+v and host %q; started %v", got, host, s.started)
	}
}
