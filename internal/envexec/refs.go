package envexec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/latchkey-dev/latchkey/internal/keyvault"
	"github.com/latchkey-dev/latchkey/internal/output"
	"github.com/latchkey-dev/latchkey/internal/podcontract"
)

// Ref is what direct mode needs to read one AzureKeyVaultSecret's object:
// its spec.vault and spec.output.transform, names only, never a value. The
// webhook writes one per AzureKeyVaultSecret into LATCHKEY_REFS.
type Ref struct {
	// Vault is spec.vault.name.
	Vault string `json:"vault"`
	// Name, Type, Version and ContentType are spec.vault.object's.
	Name        string `json:"name"`
	Type        string `json:"type"`
	Version     string `json:"version,omitempty"`
	ContentType string `json:"contentType,omitempty"`
	// Transform is spec.output.transform (or v1alpha1's transforms), which
	// akv2k8s also applied to injected secret objects.
	Transform []string `json:"transform,omitempty"`
}

// Refs maps AzureKeyVaultSecret names to their Ref: the JSON of LATCHKEY_REFS.
type Refs map[string]Ref

// ErrInvalidRefs is the class of a malformed LATCHKEY_REFS.
var ErrInvalidRefs = errors.New("invalid " + podcontract.EnvRefs)

// ParseRefs decodes LATCHKEY_REFS strictly: an unknown field is an error,
// so a binary older than its webhook says so instead of ignoring, say, a
// transform. Every entry must name a valid AzureKeyVaultSecret, a vault, an
// object and a known type.
func ParseRefs(s string) (Refs, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	var refs Refs
	if err := dec.Decode(&refs); err != nil {
		return nil, fmt.Errorf("%w: %s", ErrInvalidRefs, jsonProblem(err))
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: data after the JSON object", ErrInvalidRefs)
	}
	if refs == nil {
		return nil, fmt.Errorf("%w: want a JSON object", ErrInvalidRefs)
	}
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(refs)) {
		if !podcontract.IsObjectName(name) {
			errs = append(errs, fmt.Errorf("%w: %q is not an AzureKeyVaultSecret name", ErrInvalidRefs, name))
		} else if err := refs[name].validate(); err != nil {
			errs = append(errs, fmt.Errorf("%w: AzureKeyVaultSecret %q: %w", ErrInvalidRefs, name, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return refs, nil
}

// jsonProblem describes a decoding error by its kind and offset: the
// json package's messages can quote the input.
func jsonProblem(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("not valid JSON (offset %d)", syn.Offset)
	case errors.As(err, &typ):
		return fmt.Sprintf("field %q has the wrong type", typ.Field)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	}
	return "not valid JSON"
}

func (r Ref) validate() error {
	var errs []error
	if r.Vault == "" {
		errs = append(errs, errors.New("no vault"))
	}
	if r.Name == "" {
		errs = append(errs, errors.New("no object name"))
	}
	if _, ok := kinds[r.Type]; !ok {
		errs = append(errs, fmt.Errorf("unknown object type %q", r.Type))
	}
	return errors.Join(errs...)
}

// kinds maps AzureKeyVaultSecret object types to the Key Vault object read.
var kinds = map[string]keyvault.Kind{
	output.ObjectSecret:              keyvault.KindSecret,
	output.ObjectMultiKeyValueSecret: keyvault.KindSecret,
	output.ObjectCertificate:         keyvault.KindCertificate,
	output.ObjectKey:                 keyvault.KindKey,
}

// KeyVaultRef is the Key Vault object the ref names.
func (r Ref) KeyVaultRef() keyvault.Ref {
	return keyvault.Ref{Backend: keyvault.Backend, Store: r.Vault, Kind: kinds[r.Type], Name: r.Name, Version: r.Version}
}

// Spec is what output.Query needs to answer the ref's placeholders.
func (r Ref) Spec() output.Spec {
	return output.Spec{ObjectType: r.Type, ContentType: r.ContentType, Transforms: r.Transform}
}

// String encodes refs as LATCHKEY_REFS, keys sorted.
func (r Refs) String() string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(map[string]Ref(r)) // strings only: cannot fail
	return strings.TrimSuffix(b.String(), "\n")
}

// Read is one Key Vault read and the variables it serves.
type Read struct {
	Ref   keyvault.Ref
	Binds []PlannedBinding
}

// PlannedBinding is a binding with the AzureKeyVaultSecret it names.
type PlannedBinding struct {
	Binding
	Ref Ref
}

// PlanReads groups bindings by the Key Vault object they need, so each
// object is read once however many variables, queries and
// AzureKeyVaultSecrets use it. A binding naming an AzureKeyVaultSecret
// that refs lacks is a *VarError naming the variable. Reads come in the
// order of their first binding.
func PlanReads(bindings []Binding, refs Refs) ([]Read, error) {
	var reads []Read
	index := map[keyvault.Ref]int{}
	var errs []error
	for _, b := range bindings {
		ref, ok := refs[b.AKVS]
		if !ok {
			errs = append(errs, &VarError{Vars: []string{b.Var}, AKVS: []string{b.AKVS}, Err: ErrUnknownAKVS})
			continue
		}
		kr := ref.KeyVaultRef()
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
