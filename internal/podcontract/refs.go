package podcontract

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/latchkey-dev/latchkey/internal/backend"
	"github.com/latchkey-dev/latchkey/internal/output"
	"github.com/latchkey-dev/latchkey/internal/vaultref"
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
	// HashiCorpVault is set when the object is read from HashiCorp Vault
	// (spec.vault.hashicorpVault): Vault is then the KV mount and Name the
	// path.
	HashiCorpVault *HashiCorpVaultRef `json:"hashicorpVault,omitempty"`
}

// HashiCorpVaultRef is spec.vault.hashicorpVault and the namespace that
// logs in (the AzureKeyVaultSecret's). Empty fields are the install's.
type HashiCorpVaultRef struct {
	Address        string `json:"address,omitempty"`
	Role           string `json:"role,omitempty"`
	AuthMount      string `json:"authMount,omitempty"`
	ServiceAccount string `json:"serviceAccount,omitempty"`
	Namespace      string `json:"namespace"`
	Key            string `json:"key,omitempty"`
}

// Refs maps AzureKeyVaultSecret names to their Ref: the JSON of LATCHKEY_REFS.
type Refs map[string]Ref

// ErrInvalidRefs is the class of a malformed LATCHKEY_REFS.
var ErrInvalidRefs = errors.New("invalid " + EnvRefs)

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
		if !IsObjectName(name) {
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
var kinds = map[string]backend.Kind{
	output.ObjectSecret:              backend.KindSecret,
	output.ObjectMultiKeyValueSecret: backend.KindSecret,
	output.ObjectCertificate:         backend.KindCertificate,
	output.ObjectKey:                 backend.KindKey,
}

// Object is the object the ref names, in the store of backendName (direct
// mode reads Key Vault; the servers name the backend their plan selects).
// A HashiCorp Vault ref names its own backend (vaultref), whatever
// backendName says: what the install leaves empty, its Source completes.
func (r Ref) Object(backendName string) backend.Ref {
	if h := r.HashiCorpVault; h != nil {
		return vaultref.Ref(vaultref.Location{Address: h.Address, Mount: r.Vault, Path: r.Name},
			vaultref.Principal{AuthMount: h.AuthMount, Role: h.Role, Namespace: h.Namespace, ServiceAccount: h.ServiceAccount}, r.Version)
	}
	return backend.Ref{Backend: backendName, Store: r.Vault, Kind: kinds[r.Type], Name: r.Name, Version: r.Version}
}

// Spec is what output.Query needs to answer the ref's placeholders. A
// HashiCorp Vault secret is read as a JSON map: a secret selects its key,
// a multi-key-value-secret takes every key.
func (r Ref) Spec() output.Spec {
	s := output.Spec{ObjectType: r.Type, ContentType: r.ContentType, Transforms: r.Transform}
	if h := r.HashiCorpVault; h != nil {
		s.ContentType, s.Key = output.ContentTypeJSON, h.Key
	}
	return s
}

// String encodes refs as LATCHKEY_REFS, keys sorted.
func (r Refs) String() string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(map[string]Ref(r)) // strings only: cannot fail
	return strings.TrimSuffix(b.String(), "\n")
}
