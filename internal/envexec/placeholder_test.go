package envexec_test

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/latchkey-dev/latchkey/internal/envexec"
)

func TestParsePlaceholder(t *testing.T) {
	long := strings.Repeat("a", 63)
	name253 := strings.Join([]string{long, long, long, strings.Repeat("b", 61)}, ".")
	tests := []struct {
		value string
		want  envexec.Placeholder
		ok    bool
	}{
		{"db@azurekeyvault", envexec.Placeholder{AKVS: "db"}, true},
		{"my-cert@azurekeyvault?tls.crt", envexec.Placeholder{AKVS: "my-cert", Query: "tls.crt"}, true},
		{"my-cert@azurekeyvault?tls.key", envexec.Placeholder{AKVS: "my-cert", Query: "tls.key"}, true},
		{"cert@azurekeyvault?raw", envexec.Placeholder{AKVS: "cert", Query: "raw"}, true},
		{"basic@azurekeyvault?password", envexec.Placeholder{AKVS: "basic", Query: "password"}, true},
		{"a.b-c.0@azurekeyvault?key_2", envexec.Placeholder{AKVS: "a.b-c.0", Query: "key_2"}, true},
		{"multi@azurekeyvault?Key With Spaces", envexec.Placeholder{AKVS: "multi", Query: "Key With Spaces"}, true},
		{"m@azurekeyvault?a?b", envexec.Placeholder{AKVS: "m", Query: "a?b"}, true},
		{"m@azurekeyvault?x@azurekeyvault", envexec.Placeholder{AKVS: "m", Query: "x@azurekeyvault"}, true},
		{"0@azurekeyvault", envexec.Placeholder{AKVS: "0"}, true},
		{name253 + "@azurekeyvault", envexec.Placeholder{AKVS: name253}, true},
		// Not placeholders: left alone.
		{name253 + "b@azurekeyvault", envexec.Placeholder{}, false}, // 254 characters
		{"me@azurekeyvault.example.com", envexec.Placeholder{}, false},
		{"alerts+me@azurekeyvault", envexec.Placeholder{}, false},
		{"prefix db@azurekeyvault", envexec.Placeholder{}, false},
		{"db@azurekeyvault ", envexec.Placeholder{}, false},
		{" db@azurekeyvault", envexec.Placeholder{}, false},
		{"DB@azurekeyvault", envexec.Placeholder{}, false},
		{"db@AzureKeyVault", envexec.Placeholder{}, false},
		{"-db@azurekeyvault", envexec.Placeholder{}, false},
		{"db-@azurekeyvault", envexec.Placeholder{}, false},
		{"a..b@azurekeyvault", envexec.Placeholder{}, false},
		{".a@azurekeyvault", envexec.Placeholder{}, false},
		{"db_1@azurekeyvault", envexec.Placeholder{}, false},
		{"db@azurekeyvault?", envexec.Placeholder{}, false},
		{"db@azurekeyvault?a\nb", envexec.Placeholder{}, false},
		{"db@azurekeyvault#x", envexec.Placeholder{}, false},
		{"db@azurekeyvault@azurekeyvault", envexec.Placeholder{}, false},
		{"@azurekeyvault", envexec.Placeholder{}, false},
		{"@azurekeyvault?x", envexec.Placeholder{}, false},
		{"", envexec.Placeholder{}, false},
		{"plain value", envexec.Placeholder{}, false},
	}
	for _, tt := range tests {
		got, ok := envexec.ParsePlaceholder(tt.value)
		if got != tt.want || ok != tt.ok {
			t.Errorf("ParsePlaceholder(%q) = %+v, %v; want %+v, %v", tt.value, got, ok, tt.want, tt.ok)
		}
		if ok && got.String() != tt.value {
			t.Errorf("Placeholder(%q).String() = %q", tt.value, got.String())
		}
	}
}

// contractRE is the placeholder grammar of docs/design/injection.md as the
// webhook writes it (internal/webhook): both sides must agree on what is a
// placeholder, or a variable is rewritten without being resolved.
var contractRE = regexp.MustCompile(`^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)@azurekeyvault(\?(.+))?$`)

func FuzzParsePlaceholder(f *testing.F) {
	for _, s := range []string{
		"db@azurekeyvault", "c@azurekeyvault?tls.crt", "a.b@azurekeyvault?x?y", "x@y", "",
		"me@azurekeyvault.example.com", "db@azurekeyvault?", "d@azurekeyvault?\n", "a-@azurekeyvault", "é@azurekeyvault?é",
		"d@azurekeyvault?\xff",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, value string) {
		p, ok := envexec.ParsePlaceholder(value)
		m := contractRE.FindStringSubmatch(value)
		wantOK := m != nil && len(m[1]) <= 253
		if ok != wantOK {
			t.Fatalf("ParsePlaceholder(%q) ok = %v, the contract's grammar says %v", value, ok, wantOK)
		}
		if !ok {
			if p != (envexec.Placeholder{}) {
				t.Fatalf("ParsePlaceholder(%q) = %+v with ok false", value, p)
			}
			return
		}
		if p.AKVS != m[1] || p.Query != m[6] {
			t.Fatalf("ParsePlaceholder(%q) = %+v, the contract's grammar says %q, %q", value, p, m[1], m[6])
		}
		if p.String() != value {
			t.Fatalf("String() = %q, want %q", p.String(), value)
		}
	})
}

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
		{Index: 1, Var: "DB", Placeholder: envexec.Placeholder{AKVS: "db"}},
		{Index: 5, Var: "CRT", Placeholder: envexec.Placeholder{AKVS: "cert", Query: "tls.crt"}},
		{Index: 8, Var: "KEY", Placeholder: envexec.Placeholder{AKVS: "cert", Query: "tls.key"}},
	}
	if !slices.Equal(got, want) {
		t.Errorf("FindPlaceholders = %+v\nwant %+v", got, want)
	}
	if got := envexec.FindPlaceholders(nil); got != nil {
		t.Errorf("FindPlaceholders(nil) = %+v", got)
	}
}
