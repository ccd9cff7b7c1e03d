package resolver_test

import (
	"testing"

	"github.com/latchkey-dev/latchkey/internal/devtools/leakcheck"
)

// TestLeakCheckFindsLeaks shows noValues, the check of the resolver's logs,
// its answers to denied requests and the clients' logs, can fail: values of
// Key Vault planted in a log the way a log or an answer would show them
// (JSON-escaped JSON and YAML documents and their values, a line of a
// certificate's private key and its DER in base64, base64 and quoted
// values) are each reported.
func TestLeakCheckFindsLeaks(t *testing.T) {
	t.Parallel()
	log := suite.res.logs.String()
	for _, name := range []string{"settings", "settings-yaml", "web-tls", "basic", "db-password"} {
		for _, p := range leakcheck.PlantsOf(t, suite.seeded[vault+"/"+name]) {
			if !leakcheck.Caught(t, func(tb testing.TB) { noValues(tb, "the resolver's log", log+p.Text) }) {
				t.Errorf("%s planted as %s: not reported", name, p.Form)
			}
		}
	}
}
