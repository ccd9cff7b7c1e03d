package podcontract_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/latchkey-dev/latchkey/internal/backend"
	"github.com/latchkey-dev/latchkey/internal/output"
	"github.com/latchkey-dev/latchkey/internal/podcontract"
)

func TestParseRefs(t *testing.T) {
	tests := []struct {
		name    string
		json    string
		want    podcontract.Refs
		wantErr string
	}{
		{"every field", `{"db":{"vault":"kv","name":"db-password","type":"secret","version":"abc123","contentType":"text/plain","transform":["trim","base64decode"]}}`,
			podcontract.Refs{"db": {Vault: "kv", Name: "db-password", Type: "secret", Version: "abc123", ContentType: "text/plain", Transform: []string{"trim", "base64decode"}}}, ""},
		{"every type", `{"a":{"vault":"kv","name":"a","type":"secret"},"b.c":{"vault":"kv","name":"b","type":"certificate"},"d":{"vault":"kv","name":"d","type":"key"},"e":{"vault":"kv","name":"e","type":"multi-key-value-secret","contentType":"application/x-yaml"}}`,
			podcontract.Refs{
				"a":   {Vault: "kv", Name: "a", Type: "secret"},
				"b.c": {Vault: "kv", Name: "b", Type: "certificate"},
				"d":   {Vault: "kv", Name: "d", Type: "key"},
				"e":   {Vault: "kv", Name: "e", Type: "multi-key-value-secret", ContentType: "application/x-yaml"},
			}, ""},
		{"empty object", `{}`, podcontract.Refs{}, ""},
		{"surrounding space", " {}\n", podcontract.Refs{}, ""},
		{"unknown field", `{"db":{"vault":"kv","name":"n","type":"secret","chainOrder":"x"}}`, nil, `unknown field "chainOrder"`},
		{"unknown type", `{"db":{"vault":"kv","name":"n","type":"Secret"}}`, nil, `unknown object type "Secret"`},
		{"no vault", `{"db":{"name":"n","type":"secret"}}`, nil, "no vault"},
		{"no name", `{"db":{"vault":"kv","type":"secret"}}`, nil, "no object name"},
		{"bad AzureKeyVaultSecret name", `{"DB":{"vault":"kv","name":"n","type":"secret"}}`, nil, `"DB" is not an AzureKeyVaultSecret name`},
		{"wrong field type", `{"db":{"vault":1}}`, nil, `field "vault" has the wrong type`},
		{"array", `[]`, nil, "wrong type"},
		{"null", `null`, nil, "want a JSON object"},
		{"truncated", `{"db":{"vault":"kv"`, nil, "not valid JSON"},
		{"syntax", `{"db":}`, nil, "not valid JSON (offset 7)"},
		{"trailing data", `{} {}`, nil, "data after the JSON object"},
		{"empty", ``, nil, "not valid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := podcontract.ParseRefs(tt.json)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, podcontract.ErrInvalidRefs) {
					t.Fatalf("ParseRefs error = %v, want ErrInvalidRefs containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseRefs: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseRefs = %+v, want %+v", got, tt.want)
			}
			again, err := podcontract.ParseRefs(got.String())
			if err != nil || !reflect.DeepEqual(again, got) {
				t.Errorf("ParseRefs(String()) = %+v, %v; want %+v", again, err, got)
			}
		})
	}
}

// TestRefErrorsQuoteNoValue: LATCHKEY_REFS holds names only, but a
// malformed one is still reported by position and field, never echoed.
func TestRefErrorsQuoteNoValue(t *testing.T) {
	const marker = "Zz-not-echoed-9"
	for _, s := range []string{`{"db":` + marker + `}`, `{"db":{"vault":["` + marker + `"]}}`, `"` + marker + `"`} {
		_, err := podcontract.ParseRefs(s)
		if err == nil || strings.Contains(err.Error(), marker) {
			t.Errorf("ParseRefs(%q) = %v: want an error that does not quote the input", s, err)
		}
	}
}

func FuzzParseRefs(f *testing.F) {
	for _, s := range []string{
		`{"db":{"vault":"kv","name":"n","type":"secret"}}`,
		`{"c":{"vault":"kv","name":"n","type":"certificate","version":"v1","transform":["trim"]}}`,
		`{}`, `[]`, `null`, `{"a":{}}`, `{"a":{"vault":"","name":"","type":""}}`, `{"a": 1} x`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		refs, err := podcontract.ParseRefs(s)
		if err != nil {
			if refs != nil || !errors.Is(err, podcontract.ErrInvalidRefs) {
				t.Fatalf("ParseRefs(%q) = %v, %v: want nil and ErrInvalidRefs", s, refs, err)
			}
			return
		}
		for name, r := range refs {
			if _, ok := podcontract.ParsePlaceholder(name + "@azurekeyvault"); !ok || r.Vault == "" || r.Name == "" {
				t.Fatalf("ParseRefs(%q) accepted %q: %+v", s, name, r)
			}
			if kr := r.Object("b"); kr.Kind == "" || kr.Store != r.Vault || kr.Name != r.Name || kr.Version != r.Version {
				t.Fatalf("Object of %+v = %+v", r, kr)
			}
		}
		again, err := podcontract.ParseRefs(refs.String())
		if err != nil || !reflect.DeepEqual(normalize(again), normalize(refs)) {
			t.Fatalf("round trip of %q: %+v, %v; want %+v", s, again, err, refs)
		}
	})
}

// normalize makes an empty transform list and a missing one equal (both
// encode as no field).
func normalize(r podcontract.Refs) podcontract.Refs {
	out := podcontract.Refs{}
	for k, v := range r {
		if len(v.Transform) == 0 {
			v.Transform = nil
		}
		out[k] = v
	}
	return out
}

func TestRefObjectAndSpec(t *testing.T) {
	tests := []struct {
		ref  podcontract.Ref
		kind backend.Kind
	}{
		{podcontract.Ref{Vault: "kv", Name: "s", Type: output.ObjectSecret}, backend.KindSecret},
		{podcontract.Ref{Vault: "kv", Name: "m", Type: output.ObjectMultiKeyValueSecret, ContentType: output.ContentTypeJSON}, backend.KindSecret},
		{podcontract.Ref{Vault: "kv", Name: "c", Type: output.ObjectCertificate, Version: "v2"}, backend.KindCertificate},
		{podcontract.Ref{Vault: "kv", Name: "k", Type: output.ObjectKey}, backend.KindKey},
	}
	for _, tt := range tests {
		want := backend.Ref{Backend: "azurekeyvault", Store: tt.ref.Vault, Kind: tt.kind, Name: tt.ref.Name, Version: tt.ref.Version}
		if got := tt.ref.Object("azurekeyvault"); got != want {
			t.Errorf("Object(%+v) = %+v, want %+v", tt.ref, got, want)
		}
		spec := tt.ref.Spec()
		if spec.ObjectType != tt.ref.Type || spec.ContentType != tt.ref.ContentType {
			t.Errorf("Spec(%+v) = %+v", tt.ref, spec)
		}
	}
	withTransform := podcontract.Ref{Type: output.ObjectSecret, Transform: []string{output.TransformTrim}}
	if got := withTransform.Spec().Transforms; !reflect.DeepEqual(got, []string{output.TransformTrim}) {
		t.Errorf("Spec().Transforms = %v", got)
	}
}
