package controller

import "testing"

// TestClassifyPass: each pass is counted as akv2k8s 1.8.4 counted the
// informer event behind it (test/akv2k8s's fixture, internal/devtools/metricstest,
// lists the label values; azureKeyVaultSecret.go in akv2k8s increments them).
func TestClassifyPass(t *testing.T) {
	withOutput := seen{uid: "u1", generation: 1, metadata: 7, output: true}
	injectorOnly := seen{uid: "u1", generation: 1, metadata: 7}
	changed := func(s seen) seen { s.generation++; return s }
	relabelled := func(s seen) seen { s.metadata++; return s }
	recreated := func(s seen) seen { s.uid = "u2"; return s }
	unreadable := func(s seen) seen { s.unreadable = true; return s }
	synced := outcome{ready: true, reason: ReasonSynced}
	kvDown := outcome{reason: ReasonKeyVaultUnavailable}
	tests := []struct {
		name      string
		prev      *seen
		cur       seen
		o         outcome
		total     [2]string
		failed    [2]string
		wantTotal bool
	}{
		{"first seen", nil, withOutput, synced, [2]string{"add", "AzureKeyVaultSecret"}, [2]string{}, true},
		{"recreated under the same name", &withOutput, recreated(withOutput), synced, [2]string{"add", "AzureKeyVaultSecret"}, [2]string{}, true},
		{"spec changed", &withOutput, changed(withOutput), synced, [2]string{"update", "AzureKeyVaultSecret"}, [2]string{}, true},
		{"labels or annotations changed", &withOutput, relabelled(withOutput), synced, [2]string{"update", "AzureKeyVaultSecret"}, [2]string{}, true},
		{"refresh", &withOutput, withOutput, synced, [2]string{"update", "AzureKeyVault"}, [2]string{}, true},
		{"Key Vault down at first sight", nil, withOutput, kvDown, [2]string{"add", "AzureKeyVaultSecret"}, [2]string{"sync", "AzureKeyVault"}, true},
		{"Key Vault down at a refresh", &withOutput, withOutput, kvDown, [2]string{"update", "AzureKeyVault"}, [2]string{"sync", "AzureKeyVault"}, true},
		{"not found in Key Vault", &withOutput, withOutput, outcome{reason: ReasonObjectNotFound}, [2]string{"update", "AzureKeyVault"}, [2]string{"sync", "AzureKeyVault"}, true},
		{"a render failure is no Key Vault failure", &withOutput, withOutput, outcome{reason: ReasonInvalidOutput}, [2]string{"update", "AzureKeyVault"}, [2]string{}, true},
		{"a tenancy refusal is no Key Vault failure", &withOutput, withOutput, outcome{reason: ReasonVaultNotAllowed}, [2]string{"update", "AzureKeyVault"}, [2]string{}, true},
		{"injector only: not counted", nil, injectorOnly, synced, [2]string{}, [2]string{}, false},
		{"injector only, refreshed: not counted", &injectorOnly, injectorOnly, synced, [2]string{}, [2]string{}, false},
		{"output removed: an update", &withOutput, changed(injectorOnly), synced, [2]string{"update", "AzureKeyVaultSecret"}, [2]string{}, true},
		{"output added: an update", &injectorOnly, changed(withOutput), synced, [2]string{"update", "AzureKeyVaultSecret"}, [2]string{}, true},
		{"unreadable when added", nil, unreadable(withOutput), outcome{}, [2]string{}, [2]string{"add", "AzureKeyVaultSecret"}, false},
		{"unreadable after an update", &withOutput, unreadable(changed(withOutput)), outcome{}, [2]string{}, [2]string{"update", "AzureKeyVault"}, false},
		{"unreadable, without an output", nil, unreadable(injectorOnly), outcome{}, [2]string{}, [2]string{"add", "AzureKeyVaultSecret"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := classifyPass(tt.prev, tt.cur, tt.o)
			if got := [2]string{p.op, p.obj}; got != tt.total || (p.op != "") != tt.wantTotal {
				t.Errorf("akv2k8s_syncs_total%v, want %v", got, tt.total)
			}
			if got := [2]string{p.failedOp, p.failedObj}; got != tt.failed {
				t.Errorf("akv2k8s_syncs_failed_total%v, want %v", got, tt.failed)
			}
		})
	}
}

// TestHashMetadata: labels and annotations are told apart, in any order.
func TestHashMetadata(t *testing.T) {
	a := hashMetadata(map[string]string{"a": "1", "b": "2"}, nil)
	if a != hashMetadata(map[string]string{"b": "2", "a": "1"}, map[string]string{}) {
		t.Error("order changes the hash")
	}
	if a == hashMetadata(nil, map[string]string{"a": "1", "b": "2"}) {
		t.Error("labels and annotations with the same pairs hash alike")
	}
	if a == hashMetadata(map[string]string{"a": "12", "b": ""}, nil) {
		t.Error("moving a character between values keeps the hash")
	}
}
