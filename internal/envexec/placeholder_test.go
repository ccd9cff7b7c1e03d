package envexec_test

import (
	"slices"
	"testing"

	"github.com/latchkey-dev/latchkey/internal/envexec"
	"github.com/latchkey-dev/latchkey/internal/podcontract"
)

func TestFindPlaceholders(t *testing.T) {
	environ := []string{
		"PATH=/usr/bin",
		"DB=db@azurekeyvault",
		"MAIL=me@azurekeyvault.example.com",
		"LATCHKEY_REFS={}",
		"LATCHKEY_X=db@azurekeyvault", // ours: never resolved, removed
		"CRT=cert@azurekeyvault?tls.crt",
		"=db@azurekeyvault", // no name
		"NOEQUALS",
		"KEY=cert@azurekeyvault?tls.key",
		"AZURE_CLIENT_ID=abc",
		"EMPTY=",
	}
	got := envexec.FindPlaceholders(environ)
	want := []envexec.Binding{
		{Index: 1, Var: "DB", Placeholder: podcontract.Placeholder{AKVS: "db"}},
		{Index: 5, Var: "CRT", Placeholder: podcontract.Placeholder{AKVS: "cert", Query: "tls.crt"}},
		{Index: 8, Var: "KEY", Placeholder: podcontract.Placeholder{AKVS: "cert", Query: "tls.key"}},
	}
	if !slices.Equal(got, want) {
		t.Errorf("FindPlaceholders = %+v\nwant %+v", got, want)
	}
	if got := envexec.FindPlaceholders(nil); got != nil {
		t.Errorf("FindPlaceholders(nil) = %+v", got)
	}
}
