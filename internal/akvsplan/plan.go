// Package akvsplan turns a stored AzureKeyVaultSecret into what to read and what to render: the one view of the
// resource the controller, the webhook and the resolver share (and, through LATCHKEY_REFS, direct mode).
package akvsplan

import (
	"math"
	"time"

	"github.com/latchkey-dev/latchkey/api/v2beta1"
	"github.com/latchkey-dev/latchkey/internal/backend"
	"github.com/latchkey-dev/latchkey/internal/keyvault"
	"github.com/latchkey-dev/latchkey/internal/output"
	"github.com/latchkey-dev/latchkey/internal/podcontract"
	"github.com/latchkey-dev/latchkey/internal/vaultref"
)

// Plan is what one AzureKeyVaultSecret asks for. It names objects and
// outputs, never values.
type Plan struct {
	// Backend is the backend the spec selects: an AzureKeyVaultSecret
	// reads Azure Key Vault, or HashiCorp Vault when
	// spec.vault.hashicorpVault is set.
	Backend string
	// Ref is the object read and how its placeholders are answered
	// (spec.vault and spec.output.transform), in the form direct mode gets
	// it in LATCHKEY_REFS: the webhook writes it, the binary decodes it, the
	// resolver answers from it, so both modes answer a placeholder alike.
	Ref podcontract.Ref
	// Outputs are the Secret and the ConfigMap asked for, in that order. An
	// output with an empty name is no output, as akv2k8s read it
	// (v2beta1.Check decides everything else about the names).
	Outputs []Output
	// RefreshInterval is spec.refreshInterval when positive, never below
	// v2beta1.MinRefreshInterval; zero means the process's own.
	RefreshInterval time.Duration
}

// Output is one Secret or ConfigMap to render; Spec.Target says which.
type Output struct {
	Name string
	Spec output.Spec
	// CreateType is the type a Secret is created with: the spec's verbatim
	// (akv2k8s wrote "opaque" as given), else Opaque. Empty for a ConfigMap.
	CreateType string
}

// Of is the plan of akvs. It is pure and total: a spec v2beta1.Check
// refuses still has a plan, which callers do not act on.
func Of(akvs *v2beta1.AzureKeyVaultSecret) Plan {
	o := akvs.Spec.Vault.Object
	p := Plan{Backend: keyvault.Backend, Ref: podcontract.Ref{Vault: akvs.Spec.Vault.Name, Name: o.Name, Type: string(o.Type), Version: o.Version,
		ContentType: string(o.ContentType), Transform: akvs.Spec.Output.TransformNames()}}
	if h := akvs.Spec.Vault.HashiCorpVault; h != nil {
		// The namespace that logs in is the resource's own: Vault's roles
		// decide what each namespace reads.
		p.Backend = vaultref.Backend
		p.Ref.ContentType = ""
		p.Ref.HashiCorpVault = &podcontract.HashiCorpVaultRef{Address: h.Address, Role: h.Role, AuthMount: h.AuthMount,
			ServiceAccount: h.ServiceAccountName, Namespace: akvs.Namespace, Key: h.Key}
	}
	// An interval below the minimum (stored before the CRD refused it) is
	// raised to it; the controller's status says so.
	p.RefreshInterval, _ = akvs.Spec.EffectiveRefreshInterval(0)
	out := akvs.Spec.Output
	if out == nil {
		return p
	}
	base := p.Ref.Spec()
	if s := out.Secret; s != nil && s.Name != "" {
		spec := base
		spec.Target, spec.SecretType, spec.DataKey = output.TargetSecret, string(s.Type), s.DataKey
		createType := string(s.Type)
		if createType == "" {
			createType = output.SecretTypeOpaque
		}
		p.Outputs = append(p.Outputs, Output{Name: s.Name, Spec: spec, CreateType: createType})
	}
	if cm := out.ConfigMap; cm != nil && cm.Name != "" {
		spec := base
		spec.Target, spec.DataKey = output.TargetConfigMap, cm.DataKey
		p.Outputs = append(p.Outputs, Output{Name: cm.Name, Spec: spec})
	}
	return p
}

// Object is the object the plan reads, in its backend's store.
func (p Plan) Object() backend.Ref {
	r := p.Ref.Object(p.Backend)
	r.Backend = p.Backend
	return r
}

// Pinned reports whether the plan reads one version, which never changes.
func (p Plan) Pinned() bool { return p.Ref.Version != "" }

// Interval is how often the object is read again: spec.refreshInterval, or
// def, the process's.
func (p Plan) Interval(def time.Duration) time.Duration {
	if p.RefreshInterval > 0 {
		return p.RefreshInterval
	}
	return def
}

// MaxAge is how old a shared read of the object may be to serve the plan:
// one refresh interval, or any age for a pinned version (repairing an
// edited output or starting a pod then costs no read).
func (p Plan) MaxAge(def time.Duration) time.Duration {
	if p.Pinned() {
		return math.MaxInt64
	}
	return p.Interval(def)
}
