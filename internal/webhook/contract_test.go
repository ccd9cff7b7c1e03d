package webhook

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/latchkey-dev/latchkey/internal/podcontract"
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
	var out map[string]podcontract.Ref
	if err := dec.Decode(&out); err != nil {
		t.Fatal(err)
	}
	got := out["cert"]
	want := podcontract.Ref{Vault: "kv", Name: "tls", Type: "certificate", Version: "v1", ContentType: "application/x-json", Transform: []string{"trim"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("binary read %+v, want %+v", got, want)
	}
	if _, err := podcontract.ParseRefs(string(raw)); err != nil {
		t.Errorf("ParseRefs: %v", err)
	}
}
