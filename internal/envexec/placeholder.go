package envexec

import "strings"

// placeholderMarker separates the AzureKeyVaultSecret's name from the
// optional query.
const placeholderMarker = "@azurekeyvault"

// Placeholder is a parsed `<akvs>@azurekeyvault[?query]` value.
type Placeholder struct {
	// AKVS names an AzureKeyVaultSecret in the pod's namespace.
	AKVS string
	// Query selects part of the object (tls.crt, password, a multi-key
	// key…); empty for the whole value.
	Query string
}

// String is the placeholder as written in the pod spec: names only.
func (p Placeholder) String() string {
	if p.Query == "" {
		return p.AKVS + placeholderMarker
	}
	return p.AKVS + placeholderMarker + "?" + p.Query
}

// ParsePlaceholder reports whether the whole of value is a placeholder,
// and its parts. The name must be a DNS-1123 subdomain and a query, when
// there is a "?", non-empty and on one line: exactly what the webhook
// treats as a placeholder, so a value that merely contains
// "@azurekeyvault" (an e-mail address) is left alone by both.
func ParsePlaceholder(value string) (Placeholder, bool) {
	name, rest, found := strings.Cut(value, placeholderMarker)
	if !found || !isDNS1123Subdomain(name) {
		return Placeholder{}, false
	}
	if rest == "" {
		return Placeholder{AKVS: name}, true
	}
	query, ok := strings.CutPrefix(rest, "?")
	if !ok || query == "" || strings.Contains(query, "\n") {
		return Placeholder{}, false
	}
	return Placeholder{AKVS: name, Query: query}, true
}

// isDNS1123Subdomain reports whether s is a Kubernetes object name: at most
// 253 characters, dot-separated labels of lower-case letters, digits and
// hyphens that start and end with a letter or digit.
func isDNS1123Subdomain(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
				return false
			}
		}
	}
	return true
}

// Binding is one environment entry that holds a placeholder.
type Binding struct {
	// Index is the entry's position in the environment it was found in.
	Index int
	// Var is the variable's name.
	Var string
	Placeholder
}

// FindPlaceholders returns the entries of environ ("NAME=value") whose
// whole value is a placeholder, in order. latchkey's own LATCHKEY_*
// variables are never placeholders: they are removed before the exec.
func FindPlaceholders(environ []string) []Binding {
	var out []Binding
	for i, kv := range environ {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || name == "" || isOwn(name) {
			continue
		}
		if p, ok := ParsePlaceholder(value); ok {
			out = append(out, Binding{Index: i, Var: name, Placeholder: p})
		}
	}
	return out
}
