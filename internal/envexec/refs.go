package envexec

import (
	"errors"
	"slices"

	"github.com/latchkey-dev/latchkey/internal/keyvault"
	"github.com/latchkey-dev/latchkey/internal/podcontract"
)

// Read is one Key Vault read and the variables it serves.
type Read struct {
	Ref   keyvault.Ref
	Binds []PlannedBinding
}

// PlannedBinding is a binding with the AzureKeyVaultSecret it names.
type PlannedBinding struct {
	Binding
	Ref podcontract.Ref
}

// PlanReads groups bindings by the Key Vault object they need, so each
// object is read once however many variables, queries and
// AzureKeyVaultSecrets use it. A binding naming an AzureKeyVaultSecret
// that refs lacks is a *VarError naming the variable. Reads come in the
// order of their first binding.
func PlanReads(bindings []Binding, refs podcontract.Refs) ([]Read, error) {
	var reads []Read
	index := map[keyvault.Ref]int{}
	var errs []error
	for _, b := range bindings {
		ref, ok := refs[b.AKVS]
		if !ok {
			errs = append(errs, &VarError{Vars: []string{b.Var}, AKVS: []string{b.AKVS}, Err: ErrUnknownAKVS})
			continue
		}
		kr := ref.Object(keyvault.Backend)
		i, seen := index[kr]
		if !seen {
			i = len(reads)
			index[kr] = i
			reads = append(reads, Read{Ref: kr})
		}
		reads[i].Binds = append(reads[i].Binds, PlannedBinding{Binding: b, Ref: ref})
	}
	return reads, errors.Join(errs...)
}

// vars lists the variables a read serves, and the AzureKeyVaultSecrets
// they name, each once, sorted.
func (r Read) vars() (vars, akvs []string) {
	for _, b := range r.Binds {
		vars = append(vars, b.Var)
		akvs = append(akvs, b.AKVS)
	}
	return sortedSet(vars), sortedSet(akvs)
}

// sortedSet sorts s and drops repeats.
func sortedSet(s []string) []string {
	slices.Sort(s)
	return slices.Compact(s)
}
