package certbundle_test

import (
	"fmt"
	"testing"

	"github.com/latchkey-dev/latchkey/internal/certbundle"
	"github.com/latchkey-dev/latchkey/internal/devtools/certtest"
	"github.com/latchkey-dev/latchkey/internal/devtools/leakcheck"
)

// TestAssertNoLeakFindsLeaks shows the check of Parse's errors can fail:
// an error that shows its input in any planted form (a line of a PEM key or
// of a PFX's key, base64, JSON-escaped, quoted…) or quotes 12 bytes of a
// PEM bundle is reported.
func TestAssertNoLeakFindsLeaks(t *testing.T) {
	for _, p := range leakcheck.Plants(t) {
		err := fmt.Errorf("%w: %s", certbundle.ErrMalformed, p.Text)
		if !leakcheck.Caught(t, func(tb testing.TB) { assertNoLeak(tb, err, []byte(p.Secret)) }) {
			t.Errorf("%s: not reported", p.Form)
		}
	}
	chain := certtest.Chain(t, certtest.RSA, 0)
	bundle := certtest.PEM(t, chain[0].Key, certtest.PKCS1, certtest.Certs(chain...)...)
	err := fmt.Errorf("%w: bad block %q", certbundle.ErrMalformed, bundle[100:112])
	if !leakcheck.Caught(t, func(tb testing.TB) { assertNoLeak(tb, err, bundle) }) {
		t.Error("12 bytes of the input: not reported")
	}
}
