package envexec_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/latchkey-dev/latchkey/internal/envexec"
	"github.com/latchkey-dev/latchkey/internal/keyvault"
	"github.com/latchkey-dev/latchkey/internal/output"
	"github.com/latchkey-dev/latchkey/internal/podcontract"
)

func TestParseRefs(t *testing.T) {
	tests := []struct {
		name    string
		json    string
		want    envexec.Refs
		wantErr string
	}{
		{"every field", `{"db":{"vault":"kv","name":"db-password","type":"secret","version":"abc123","contentType":"text/plain","transform":["trim","base64decode"]}}`,
			envexec.Refs{"db": {Vault: "kv", Name: "db-password", Type: "secret", Version: "abc123", ContentType: "text/plain", Transform: []string{"trim", "base64decode"}}}, ""},
		{"every type", `{"a":{"vault":"kv","name":"a","type":"secret"},"b.c":{"vault":"kv","name":"b","type":"certificate"},"d":{"vault":"kv","name":"d","type":"key"},"e":{"vault":"kv","name":"e","type":"multi-key-value-secret","contentType":"application/x-yaml"}}`,
			envexec.Refs{
				"a":   {Vault: "kv", Name: "a", Type: "secret"},
				"b.c": {Vault: "kv", Name: "b", Type: "certificate"},
				"d":   {Vault: "kv", Name: "d", Type: "key"},
				"e":   {Vault: "kv", Name: "e", Type: "multi-key-value-secret", ContentType: "application/x-yaml"},
			}, ""},
		{"empty object", `{}`, envexec.Refs{}, ""},
		{"surrounding space", " {}\n", envexec.Refs{}, ""},
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
			got, err := envexec.ParseRefs(tt.json)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, envexec.ErrInvalidRefs) {
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
			again, err := envexec.ParseRefs(got.String())
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
		_, err := envexec.ParseRefs(s)
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
		refs, err := envexec.ParseRefs(s)
		if err != nil {
			if refs != nil || !errors.Is(err, envexec.ErrInvalidRefs) {
				t.Fatalf("ParseRefs(%q) = %v, %v: want nil and ErrInvalidRefs", s, refs, err)
			}
			return
		}
		for name, r := range refs {
			if _, ok := podcontract.ParsePlaceholder(name + "@azurekeyvault"); !ok || r.Vault == "" || r.Name == "" {
				t.Fatalf("ParseRefs(%q) accepted %q: %+v", s, name, r)
			}
			if kr := r.KeyVaultRef(); kr.Kind == "" || kr.Store != r.Vault || kr.Name != r.Name || kr.Version != r.Version {
				t.Fatalf("KeyVaultRef of %+v = %+v", r, kr)
			}
		}
		again, err := envexec.ParseRefs(refs.String())
		if err != nil || !reflect.DeepEqual(normalize(again), normalize(refs)) {
			t.Fatalf("round trip of %q: %+v, %v; want %+v", s, again, err, refs)
		}
	})
}

// normalize makes an empty transform list and a missing one equal (both
// encode as no field).
func normalize(r envexec.Refs) envexec.Refs {
	out := envexec.Refs{}
	for k, v := range r {
		if len(v.Transform) == 0 {
			v.Transform = nil
		}
		out[k] = v
	}
	return out
}

func TestRefKeyVaultRefAndSpec(t *testing.T) {
	tests := []struct {
		ref  envexec.Ref
		kind keyvault.Kind
	}{
		{envexec.Ref{Vault: "kv", Name: "s", Type: output.ObjectSecret}, keyvault.KindSecret},
		{envexec.Ref{Vault: "kv", Name: "m", Type: output.ObjectMultiKeyValueSecret, ContentType: output.ContentTypeJSON}, keyvault.KindSecret},
		{envexec.Ref{Vault: "kv", Name: "c", Type: output.ObjectCertificate, Version: "v2"}, keyvault.KindCertificate},
		{envexec.Ref{Vault: "kv", Name: "k", Type: output.ObjectKey}, keyvault.KindKey},
	}
	for _, tt := range tests {
		want := keyvault.Ref{Backend: keyvault.Backend, Store: tt.ref.Vault, Kind: tt.kind, Name: tt.ref.Name, Version: tt.ref.Version}
		if got := tt.ref.KeyVaultRef(); got != want {
			t.Errorf("KeyVaultRef(%+v) = %+v, want %+v", tt.ref, got, want)
		}
		spec := tt.ref.Spec()
		if spec.ObjectType != tt.ref.Type || spec.ContentType != tt.ref.ContentType {
			t.Errorf("Spec(%+v) = %+v", tt.ref, spec)
		}
	}
	withTransform := envexec.Ref{Type: output.ObjectSecret, Transform: []string{output.TransformTrim}}
	if got := withTransform.Spec().Transforms; !reflect.DeepEqual(got, []string{output.TransformTrim}) {
		t.Errorf("Spec().Transforms = %v", got)
	}
}

func TestPlanReads(t *testing.T) {
	refs := envexec.Refs{
		"cert":     {Vault: "kv", Name: "tls", Type: "certificate"},
		"cert-too": {Vault: "kv", Name: "tls", Type: "certificate"},               // same object, another AKVS
		"cert-v1":  {Vault: "kv", Name: "tls", Type: "certificate", Version: "1"}, // another version
		"db":       {Vault: "kv", Name: "db", Type: "secret"},
		"db-other": {Vault: "other", Name: "db", Type: "secret"},
	}
	b := func(i int, v, akvs, q string) envexec.Binding {
		return envexec.Binding{Index: i, Var: v, Placeholder: podcontract.Placeholder{AKVS: akvs, Query: q}}
	}
	bindings := []envexec.Binding{
		b(0, "CRT", "cert", "tls.crt"),
		b(1, "DB", "db", ""),
		b(2, "KEY", "cert", "tls.key"),
		b(3, "RAW", "cert-too", "raw"),
		b(4, "OLD", "cert-v1", "tls.crt"),
		b(5, "DB2", "db-other", ""),
		b(6, "DB_AGAIN", "db", ""),
	}
	reads, err := envexec.PlanReads(bindings, refs)
	if err != nil {
		t.Fatal(err)
	}
	type summary struct {
		ref  keyvault.Ref
		vars string
	}
	var got []summary
	for _, r := range reads {
		var vars []string
		for _, pb := range r.Binds {
			vars = append(vars, pb.Var)
			if !reflect.DeepEqual(pb.Ref, refs[pb.AKVS]) {
				t.Errorf("binding %s carries ref %+v, want %+v", pb.Var, pb.Ref, refs[pb.AKVS])
			}
		}
		got = append(got, summary{r.Ref, strings.Join(vars, ",")})
	}
	want := []summary{
		{keyvault.Ref{Backend: keyvault.Backend, Store: "kv", Kind: keyvault.KindCertificate, Name: "tls"}, "CRT,KEY,RAW"},
		{keyvault.Ref{Backend: keyvault.Backend, Store: "kv", Kind: keyvault.KindSecret, Name: "db"}, "DB,DB_AGAIN"},
		{keyvault.Ref{Backend: keyvault.Backend, Store: "kv", Kind: keyvault.KindCertificate, Name: "tls", Version: "1"}, "OLD"},
		{keyvault.Ref{Backend: keyvault.Backend, Store: "other", Kind: keyvault.KindSecret, Name: "db"}, "DB2"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("PlanReads =\n%+v\nwant\n%+v", got, want)
	}

	_, err = envexec.PlanReads(append(bindings, b(7, "GONE", "missing", ""), b(8, "GONE2", "missing", "x")), refs)
	var ve *envexec.VarError
	if !errors.Is(err, envexec.ErrUnknownAKVS) || !errors.As(err, &ve) {
		t.Fatalf("PlanReads with an unknown AzureKeyVaultSecret: %v", err)
	}
	for _, want := range []string{"variable GONE (AzureKeyVaultSecret missing)", "variable GONE2 (AzureKeyVaultSecret missing)"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}

func TestVarErrorMessage(t *testing.T) {
	tests := []struct {
		err  *envexec.VarError
		want string
	}{
		{&envexec.VarError{Vars: []string{"A"}, AKVS: []string{"x"}, Err: keyvault.ErrNotFound}, "variable A (AzureKeyVaultSecret x): not found"},
		{&envexec.VarError{Vars: []string{"A", "B"}, AKVS: []string{"x"}, Err: keyvault.ErrNotFound}, "variables A, B (AzureKeyVaultSecret x): not found"},
		{&envexec.VarError{Vars: []string{"A", "B"}, AKVS: []string{"x", "y"}, Err: keyvault.ErrNotFound}, "variables A, B (AzureKeyVaultSecrets x, y): not found"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
		if !errors.Is(tt.err, keyvault.ErrNotFound) {
			t.Errorf("%v does not unwrap to its cause", tt.err)
		}
	}
}
