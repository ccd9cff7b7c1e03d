package envexec_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/latchkey-dev/latchkey/internal/backend"
	"github.com/latchkey-dev/latchkey/internal/envexec"
	"github.com/latchkey-dev/latchkey/internal/podcontract"
)

func TestPlanReads(t *testing.T) {
	refs := podcontract.Refs{
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
		ref  backend.Ref
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
		{backend.Ref{Backend: "azurekeyvault", Store: "kv", Kind: backend.KindCertificate, Name: "tls"}, "CRT,KEY,RAW"},
		{backend.Ref{Backend: "azurekeyvault", Store: "kv", Kind: backend.KindSecret, Name: "db"}, "DB,DB_AGAIN"},
		{backend.Ref{Backend: "azurekeyvault", Store: "kv", Kind: backend.KindCertificate, Name: "tls", Version: "1"}, "OLD"},
		{backend.Ref{Backend: "azurekeyvault", Store: "other", Kind: backend.KindSecret, Name: "db"}, "DB2"},
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
		{&envexec.VarError{Vars: []string{"A"}, AKVS: []string{"x"}, Err: backend.ErrNotFound}, "variable A (AzureKeyVaultSecret x): not found"},
		{&envexec.VarError{Vars: []string{"A", "B"}, AKVS: []string{"x"}, Err: backend.ErrNotFound}, "variables A, B (AzureKeyVaultSecret x): not found"},
		{&envexec.VarError{Vars: []string{"A", "B"}, AKVS: []string{"x", "y"}, Err: backend.ErrNotFound}, "variables A, B (AzureKeyVaultSecrets x, y): not found"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
		if !errors.Is(tt.err, backend.ErrNotFound) {
			t.Errorf("%v does not unwrap to its cause", tt.err)
		}
	}
}
