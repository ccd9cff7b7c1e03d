package podcontract

import (
	"errors"
	"strings"
)

// PlaceholderMarker separates the AzureKeyVaultSecret's name from the
// optional query.
const PlaceholderMarker = "@azurekeyvault"

// Placeholder is a parsed `<akvs>@azurekeyvault[?query]` value: what it
// refers to, names only.
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
		return p.AKVS + PlaceholderMarker
	}
	return p.AKVS + PlaceholderMarker + "?" + p.Query
}

// ParsePlaceholder reports whether the whole of value is a placeholder,
// and its parts. The name must be a DNS-1123 subdomain and a query, when
// there is a "?", non-empty and on one line. A value that merely contains
// "@azurekeyvault" (an e-mail address) is not a placeholder: the webhook
// leaves it alone, the binary passes it through, the resolver refuses it.
func ParsePlaceholder(value string) (Placeholder, bool) {
	name, rest, found := strings.Cut(value, PlaceholderMarker)
	if !found || !IsObjectName(name) {
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

// IsObjectName reports whether s can name an AzureKeyVaultSecret (a
// Kubernetes object name, a DNS-1123 subdomain): at most 253 characters,
// dot-separated labels of lower-case letters, digits and hyphens that start
// and end with a letter or digit.
func IsObjectName(s string) bool {
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

// ErrNULByte is the class of a value no environment variable can carry:
// the resolver does not serve it, the binary does not set it.
var ErrNULByte = errors.New("the value holds a NUL byte, which an environment variable cannot carry")
