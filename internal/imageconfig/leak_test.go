package imageconfig

import (
	"testing"

	"github.com/latchkey-dev/latchkey/internal/devtools/leakcheck"
)

// noCredentials fails if s, a log or an error message, shows a credential
// of the pull secrets (their whole document, each value in it, the
// user:password an auth field decodes to) or one of others, in any form
// (leakcheck).
func noCredentials(t testing.TB, what, s string, pullSecrets []PullSecret, others ...string) {
	t.Helper()
	creds := leakcheck.Of(t, others...)
	for _, ps := range pullSecrets {
		creds.Add("pull secret "+ps.Name, string(ps.Data))
	}
	creds.Check(t, what, s)
}

// TestNoCredentialsFindsLeaks shows the check above can fail: a pull
// secret's password, planted in a message in the forms a log or an error
// would show it (JSON-escaped, quoted, base64, inside its document), and
// every planted form of another secret, are reported.
func TestNoCredentialsFindsLeaks(t *testing.T) {
	ps := PullSecret{Name: "regcred", Type: SecretTypeDockerConfigJSON, Data: dockerConfigJSON("reg.example.com", "alice", `s3cret "pass" <word>`)}
	for _, p := range leakcheck.PlantsOf(t, `s3cret "pass" <word>`) {
		msg := "registry reg.example.com: " + p.Text
		if !leakcheck.Caught(t, func(tb testing.TB) { noCredentials(tb, "the error", msg, []PullSecret{ps}) }) {
			t.Errorf("the pull secret's password planted as %s: not reported", p.Form)
		}
	}
	for _, p := range leakcheck.Plants(t) {
		if !leakcheck.Caught(t, func(tb testing.TB) { noCredentials(tb, "the log", "token exchange: "+p.Text, nil, p.Secret) }) {
			t.Errorf("%s: not reported", p.Form)
		}
	}
}
