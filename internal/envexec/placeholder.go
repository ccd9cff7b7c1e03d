package envexec

import (
	"strings"

	"github.com/latchkey-dev/latchkey/internal/podcontract"
)

// Binding is one environment entry that holds a placeholder.
type Binding struct {
	// Index is the entry's position in the environment it was found in.
	Index int
	// Var is the variable's name.
	Var string
	podcontract.Placeholder
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
		if p, ok := podcontract.ParsePlaceholder(value); ok {
			out = append(out, Binding{Index: i, Var: name, Placeholder: p})
		}
	}
	return out
}
