package podcontract_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/latchkey-dev/latchkey/internal/podcontract"
)

func TestParsePlaceholder(t *testing.T) {
	long := strings.Repeat("a", 63)
	name253 := strings.Join([]string{long, long, long, strings.Repeat("b", 61)}, ".")
	type P = podcontract.Placeholder
	tests := []struct {
		value string
		want  P
		ok    bool
	}{
		{"db@azurekeyvault", P{AKVS: "db"}, true},
		{"my-cert@azurekeyvault?tls.crt", P{AKVS: "my-cert", Query: "tls.crt"}, true},
		{"my-cert@azurekeyvault?tls.key", P{AKVS: "my-cert", Query: "tls.key"}, true},
		{"cert@azurekeyvault?raw", P{AKVS: "cert", Query: "raw"}, true},
		{"basic@azurekeyvault?password", P{AKVS: "basic", Query: "password"}, true},
		{"a.b-c@azurekeyvault?key2", P{AKVS: "a.b-c", Query: "key2"}, true},
		{"a.b-c.0@azurekeyvault?key_2", P{AKVS: "a.b-c.0", Query: "key_2"}, true},
		{"multi@azurekeyvault?Key With Spaces", P{AKVS: "multi", Query: "Key With Spaces"}, true},
		{"m@azurekeyvault?a?b", P{AKVS: "m", Query: "a?b"}, true},
		{"m@azurekeyvault?x@azurekeyvault", P{AKVS: "m", Query: "x@azurekeyvault"}, true},
		{"0@azurekeyvault", P{AKVS: "0"}, true},
		{name253 + "@azurekeyvault", P{AKVS: name253}, true},
		// Not placeholders: left alone.
		{name253 + "b@azurekeyvault", P{}, false},    // 254 characters
		{"me@azurekeyvault.example.com", P{}, false}, // an address, not a placeholder
		{"alerts+me@azurekeyvault", P{}, false},
		{"prefix db@azurekeyvault", P{}, false},
		{"db@azurekeyvault ", P{}, false},
		{" db@azurekeyvault", P{}, false},
		{"DB@azurekeyvault", P{}, false}, // not a Kubernetes name
		{"db@AzureKeyVault", P{}, false},
		{"-db@azurekeyvault", P{}, false},
		{"db-@azurekeyvault", P{}, false},
		{"a..b@azurekeyvault", P{}, false},
		{".a@azurekeyvault", P{}, false},
		{"db_1@azurekeyvault", P{}, false},
		{"db@azurekeyvault?", P{}, false},
		{"db@azurekeyvault?a\nb", P{}, false},
		{"db@azurekeyvault#x", P{}, false},
		{"db@azurekeyvault@azurekeyvault", P{}, false},
		{"@azurekeyvault", P{}, false},
		{"@azurekeyvault?x", P{}, false},
		{"", P{}, false},
		{"plain value", P{}, false},
	}
	for _, tt := range tests {
		got, ok := podcontract.ParsePlaceholder(tt.value)
		if got != tt.want || ok != tt.ok {
			t.Errorf("ParsePlaceholder(%q) = %+v, %v; want %+v, %v", tt.value, got, ok, tt.want, tt.ok)
		}
		if ok && got.String() != tt.value {
			t.Errorf("Placeholder(%q).String() = %q", tt.value, got.String())
		}
	}
}

// grammarRE is the placeholder grammar as docs/design/injection.md states
// it, written independently of the parser: a DNS-1123 subdomain (at most
// 253 characters, checked beside it), "@azurekeyvault", and an optional
// non-empty query on one line.
var grammarRE = regexp.MustCompile(`^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)@azurekeyvault(\?(.+))?$`)

// FuzzParsePlaceholder holds the parser to the grammar (what is a
// placeholder, and its parts) and to a round trip through String.
func FuzzParsePlaceholder(f *testing.F) {
	for _, s := range []string{
		"db@azurekeyvault", "c@azurekeyvault?tls.crt", "a.b@azurekeyvault?x?y", "x@y", "",
		"me@azurekeyvault.example.com", "db@azurekeyvault?", "d@azurekeyvault?\n", "a-@azurekeyvault", "é@azurekeyvault?é",
		"d@azurekeyvault?\xff",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, value string) {
		p, ok := podcontract.ParsePlaceholder(value)
		m := grammarRE.FindStringSubmatch(value)
		wantOK := m != nil && len(m[1]) <= 253
		if ok != wantOK {
			t.Fatalf("ParsePlaceholder(%q) ok = %v, the grammar says %v", value, ok, wantOK)
		}
		if !ok {
			if p != (podcontract.Placeholder{}) {
				t.Fatalf("ParsePlaceholder(%q) = %+v with ok false", value, p)
			}
			return
		}
		if p.AKVS != m[1] || p.Query != m[6] {
			t.Fatalf("ParsePlaceholder(%q) = %+v, the grammar says %q, %q", value, p, m[1], m[6])
		}
		if p.String() != value {
			t.Fatalf("String() = %q, want %q", p.String(), value)
		}
	})
}
