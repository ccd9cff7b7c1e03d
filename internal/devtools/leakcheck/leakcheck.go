// Package leakcheck is a test kit: it looks for secret values in what
// latchkey shows (logs, events, status, error messages, pod specs, answers),
// in every form a value can take there. Our logs are slog JSON or quoted
// text and print byte slices as base64, so a check for the raw value alone
// misses a JSON-escaped document, a line of a PEM key or a value printed as
// bytes. Given a value, a Set derives its forms (see Set.Add) and reports
// where one appears without ever printing the value. Plants and Caught prove
// that a check built on it can fail. Only tests import it.
package leakcheck

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
)

// MinLength is the length of the shortest text looked for: shorter ones
// would match unrelated text. Test values are long and distinctive; a value
// shorter than this, trimmed, is not looked for at all.
const MinLength = 8

// Set is the values a test must never find, each with its forms. The zero
// value is an empty set; a Set is safe for concurrent use.
type Set struct {
	// Window, when set before the first Add, also looks for every run of
	// Window bytes of each text form: for error messages, which may quote a
	// piece of what failed to parse.
	Window int

	mu      sync.RWMutex
	secrets []secret
	index   index
}

// secret is one value: its label and the texts that would show it.
type secret struct {
	label   string
	size    int
	needles []needle
}

// NewSet returns a set of values labelled "value #1", "value #2"…
func NewSet(values ...string) *Set {
	s := &Set{}
	s.AddValues(values...)
	return s
}

// Of is NewSet for a test that names its values: it fails t if one is too
// short to be looked for, as a check for it could not fail.
func Of(t testing.TB, values ...string) *Set {
	t.Helper()
	for i, v := range values {
		if len(strings.TrimSpace(v)) < MinLength {
			t.Fatalf("leakcheck: value #%d is shorter than %d bytes: a check for it could not fail; make it longer", i+1, MinLength)
		}
	}
	return NewSet(values...)
}

// AddValues adds values labelled by their position in the set.
func (s *Set) AddValues(values ...string) {
	for _, v := range values {
		s.Add("", v)
	}
}

// Add adds a value under label (which names it in reports, so it must not
// hold it; "" numbers it). It looks for the value and, each on its own,
// what is inside it: its lines (a PEM key leaked one line at a time), each
// value of a JSON or YAML document, the user and password of user:pass,
// what a base64 value decodes to, the private key of a PEM bundle or a PFX
// in its PKCS #8, PKCS #1 or SEC 1 PEM and DER forms and as its secret
// scalar, and a PFX's certificates as PEM (tls.crt). Each of those is looked for raw, JSON-escaped (encoding/json's
// HTML-safe escaping and slog's), Go-quoted (%q, slog's text handler) and
// one inside another, as base64 (standard and URL, padded or not, at any
// offset in a longer byte slice), as hex and as a Go byte list.
func (s *Set) Add(label, value string) {
	if len(strings.TrimSpace(value)) < MinLength {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if label == "" {
		label = fmt.Sprintf("value #%d", len(s.secrets)+1)
	}
	sec := secret{label: label, size: len(value), needles: needles(value, s.Window)}
	for i, n := range sec.needles {
		s.index.add(n.text, ref{secret: len(s.secrets), needle: i})
	}
	s.secrets = append(s.secrets, sec)
}

// Len is how many values the set looks for.
func (s *Set) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.secrets)
}

// Leak is one value found in one place. It never holds the value.
type Leak struct {
	// Secret is the value's label.
	Secret string
	// Size is the value's length in bytes.
	Size int
	// Form is what was found: "raw", "JSON-escaped line 3", "base64 of the
	// private key (PKCS #8 DER)"…
	Form string
	// Where names the haystack; Offset is where in it the form starts.
	Where  string
	Offset int
}

func (l Leak) String() string {
	return fmt.Sprintf("%s (%d bytes) leaked into %s at byte %d, as %s", l.Secret, l.Size, l.Where, l.Offset, l.Form)
}

// Find returns the values found in haystack, one leak per value (where
// one of its forms first appears), in the order they were added.
func (s *Set) Find(where, haystack string) []Leak {
	s.mu.RLock()
	defer s.mu.RUnlock()
	first := map[int]Leak{}
	s.index.scan(haystack, func(offset int, r ref) {
		if _, seen := first[r.secret]; !seen {
			sec := s.secrets[r.secret]
			first[r.secret] = Leak{Secret: sec.label, Size: sec.size, Form: sec.needles[r.needle].form, Where: where, Offset: offset}
		}
	})
	leaks := make([]Leak, 0, len(first))
	for i := range s.secrets {
		if l, ok := first[i]; ok {
			leaks = append(leaks, l)
		}
	}
	return leaks
}

// FindAll is Find for each haystack, keyed by where; the leaks are sorted
// by place, then value.
func (s *Set) FindAll(haystacks map[string]string) []Leak {
	var leaks []Leak
	for where, text := range haystacks {
		leaks = append(leaks, s.Find(where, text)...)
	}
	slices.SortFunc(leaks, func(a, b Leak) int {
		return cmp.Or(cmp.Compare(a.Where, b.Where), cmp.Compare(a.Secret, b.Secret))
	})
	return leaks
}

// Check fails t once for each value found in haystack.
func (s *Set) Check(t testing.TB, where, haystack string) {
	t.Helper()
	for _, l := range s.Find(where, haystack) {
		t.Error(l)
	}
}

// ErrorWindow is the run of bytes CheckError looks for: a parser's error
// may quote the piece of its input it stopped at.
const ErrorWindow = 12

// CheckError fails t if err's message shows secret, a parser's input: in
// any form, or any run of ErrorWindow bytes of it. A secret shorter than
// MinLength (a marker every input of a test holds) is looked for as is.
func CheckError(t testing.TB, err error, secret string) {
	t.Helper()
	if err == nil || secret == "" {
		return
	}
	if len(strings.TrimSpace(secret)) < MinLength {
		if i := strings.Index(err.Error(), secret); i >= 0 {
			t.Errorf("a marker of the secret input (%d bytes) leaked into the error at byte %d", len(secret), i)
		}
		return
	}
	set := &Set{Window: ErrorWindow}
	set.Add("the secret input", secret)
	set.Check(t, "the error", err.Error())
}
