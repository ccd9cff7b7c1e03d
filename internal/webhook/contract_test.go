package webhook

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/latchkey-dev/latchkey/internal/envexec"
)

// TestRefsDecodeInTheBinary: what the webhook writes into LATCHKEY_REFS, the
// binary reads with unknown fields refused, field for field.
func TestRefsDecodeInTheBinary(t *testing.T) {
	in := map[string]Ref{"cert": {Vault: "kv", Name: "tls", Type: "certificate", Version: "v1", ContentType: "application/x-json", Transform: []string{"trim"}}}
	raw, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var out map[string]envexec.Ref
	if err := dec.Decode(&out); err != nil {
		t.Fatal(err)
	}
	got := out["cert"]
	want := envexec.Ref{Vault: "kv", Name: "tls", Type: "certificate", Version: "v1", ContentType: "application/x-json", Transform: []string{"trim"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("binary read %+v, want %+v", got, want)
	}
	if _, err := envexec.ParseRefs(string(raw)); err != nil {
		t.Errorf("ParseRefs: %v", err)
	}
}

// TestPlaceholderGrammarsAgree: the webhook and the binary must agree on
// what a placeholder is.
func TestPlaceholderGrammarsAgree(t *testing.T) {
	for _, v := range []string{"db@azurekeyvault", "c@azurekeyvault?tls.crt", "a.b@azurekeyvault?k", "me@azurekeyvault.example.com", "X@azurekeyvault", "x@azurekeyvault?", ""} {
		_, _, ours := parsePlaceholder(v)
		_, theirs := envexec.ParsePlaceholder(v)
		if ours != theirs {
			t.Errorf("%q: webhook says %v, binary says %v", v, ours, theirs)
		}
	}
}

// TestDirectModeAgrees: every value of ENV_INJECTOR_DISABLE_AUTH_SERVICE
// the binary takes as direct mode, the webhook does too (and then mounts
// no resolver token), and the other way round.
func TestDirectModeAgrees(t *testing.T) {
	for _, v := range []string{"true", "TRUE", "True", "1", "t", " true ", "false", "0", "no", "yes", ""} {
		cfg, _ := envexec.ConfigFromEnv(func(k string) string {
			if k == envexec.EnvDisableAuthService {
				return v
			}
			return ""
		})
		webhookSays := directMode([]corev1.EnvVar{{Name: DirectModeEnv, Value: v}})
		if cfg.DirectMode != webhookSays {
			t.Errorf("%s=%q: binary direct mode %v, webhook %v", DirectModeEnv, v, cfg.DirectMode, webhookSays)
		}
	}
}
