package chart

import "testing"

// TestAdmissionsEnforcerOptOut: the webhook configuration opts out of AKS's
// admissions enforcer, which would otherwise add expressions to its
// namespaceSelector (a field a server-side helm upgrade would then conflict
// over), in both certificate modes; cert-manager's annotation stays beside
// it.
func TestAdmissionsEnforcerOptOut(t *testing.T) {
	for _, sets := range [][]string{nil, {"certManager.enabled=true"}} {
		u := render(t, sets...)["MutatingWebhookConfiguration/latchkey-webhook"]
		if u == nil {
			t.Fatalf("%v: no MutatingWebhookConfiguration", sets)
		}
		a := u.GetAnnotations()
		if a["admissions.enforcer/disabled"] != "true" {
			t.Errorf("%v: annotations %v lack admissions.enforcer/disabled: \"true\"", sets, a)
		}
		if _, ok := a["cert-manager.io/inject-ca-from"]; ok != (sets != nil) {
			t.Errorf("%v: cert-manager.io/inject-ca-from present %v", sets, ok)
		}
	}
}
