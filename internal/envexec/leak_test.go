package envexec_test

import (
	"errors"
	"testing"

	"github.com/latchkey-dev/latchkey/internal/devtools/leakcheck"
)

// TestLeakChecksFindLeaks shows both leak checks of these tests can fail.
// The check of every run reports the emulator's values (its JSON and YAML
// documents, a certificate with its private key, a user:pass, a plain
// value) planted in the logs or the error in the forms they would take
// there; noneOf reports each planted leak of a value it is given.
func TestLeakChecksFindLeaks(t *testing.T) {
	e := newEmu(t)
	for _, name := range []string{"multi-json", "multi-yaml", "web-tls", "basic", "db-password"} {
		for _, p := range leakcheck.PlantsOf(t, e.seeded[name]) {
			for where, r := range map[string]result{"logs": {logs: "level=INFO msg=starting\n" + p.Text}, "error": {err: errors.New("cannot start: " + p.Text)}} {
				if !leakcheck.Caught(t, func(tb testing.TB) { e.noValues(tb, r) }) {
					t.Errorf("%s planted in the %s as %s: not reported", name, where, p.Form)
				}
			}
		}
	}
	for _, p := range leakcheck.Plants(t) {
		if !leakcheck.Caught(t, func(tb testing.TB) { noneOf(tb, "variable X: "+p.Text, p.Secret) }) {
			t.Errorf("noneOf: %s not reported", p.Form)
		}
	}
}
