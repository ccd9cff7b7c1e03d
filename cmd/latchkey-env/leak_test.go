package main

import (
	"testing"

	"github.com/latchkey-dev/latchkey/internal/devtools/leakcheck"
)

// TestLeakCheckFindsLeaks shows the check of latchkey-env's stderr and
// stdout can fail: Key Vault's values (a JSON document, a certificate with
// its private key, a plain secret) planted in a log in the forms a log
// would show them are each reported.
func TestLeakCheckFindsLeaks(t *testing.T) {
	w := newWorld(t, 1)
	for _, name := range []string{"multi", "web-tls", "secret-0"} {
		for _, p := range leakcheck.PlantsOf(t, w.seeded[name]) {
			if !leakcheck.Caught(t, func(tb testing.TB) { w.noValues(tb, "stderr", "time=… level=INFO msg=starting\n"+p.Text) }) {
				t.Errorf("%s planted as %s: not reported", name, p.Form)
			}
		}
	}
}
