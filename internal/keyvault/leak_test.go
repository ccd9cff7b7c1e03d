package keyvault_test

import (
	"testing"

	"github.com/latchkey-dev/latchkey/internal/devtools/leakcheck"
)

// TestNoneOfFindsLeaks shows the check of this package's error messages can
// fail: a message showing a secret in any planted form (JSON-escaped,
// quoted, base64, a line of a PEM key…) is reported.
func TestNoneOfFindsLeaks(t *testing.T) {
	for _, p := range leakcheck.Plants(t) {
		msg := "authentication failed for identity x: " + p.Text
		if !leakcheck.Caught(t, func(tb testing.TB) { noneOf(tb, msg, p.Secret) }) {
			t.Errorf("%s: not reported", p.Form)
		}
	}
}
