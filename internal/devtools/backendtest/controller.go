package backendtest

import (
	"context"
	"io"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/rest"

	"github.com/latchkey-dev/latchkey/internal/backend"
	"github.com/latchkey-dev/latchkey/internal/controller"
	"github.com/latchkey-dev/latchkey/internal/logging"
)

// RunController runs production's controller on the API server cfg names,
// configured by c, with sources as its only backend registration (what
// controller.Setup would open from flags), logging to logs, until t ends.
// It is how a backend's tests show that the controller serves it through the
// seam alone: nothing in the controller knows which backend answered.
func RunController(t testing.TB, cfg *rest.Config, c controller.Config, sources backend.Sources, logs io.Writer) {
	t.Helper()
	log, err := logging.New(logs, c.Log)
	if err != nil {
		t.Fatal(err)
	}
	mgr, err := controller.NewManager(cfg, c.Manager, log)
	if err != nil {
		t.Fatal(err)
	}
	r := &controller.Reconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(),
		Source:   sources,
		Recorder: mgr.GetEventRecorder("latchkey-controller"),
		Metrics:  controller.NewMetrics(prometheus.NewRegistry()),
		Options:  c.Manager.Controller,
	}
	if err := r.SetupWithManager(mgr, c.Manager.Workers); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("controller: %v", err)
		}
	})
}
