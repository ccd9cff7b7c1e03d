package v2beta1

import (
	"fmt"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/latchkey-dev/latchkey/internal/vaultref"
)

// Problem is one reason an AzureKeyVaultSecret cannot be used as stored.
// +kubebuilder:object:generate=false
type Problem struct {
	// Field is the JSON path of the field, e.g. spec.output.transform[1].
	Field string
	// Detail says what is wrong and what is allowed. It never quotes the
	// field's value: a value put in the wrong place may be a secret.
	Detail string
	// OutputOnly marks problems of spec.output.secret and
	// spec.output.configMap, which only the controller writes: the env
	// injector can still serve the object.
	OutputOnly bool
}

func (p Problem) String() string { return p.Field + " " + p.Detail }

// Problems are the problems of one AzureKeyVaultSecret, in field order.
// +kubebuilder:object:generate=false
type Problems []Problem

// String joins the problems into one message for a condition, an event or
// an error.
func (ps Problems) String() string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, "; ")
}

// ForInjection keeps the problems that stop the env injector from serving
// the object.
func (ps Problems) ForInjection() Problems {
	var out Problems
	for _, p := range ps {
		if !p.OutputOnly {
			out = append(out, p)
		}
	}
	return out
}

// Check decides whether an AzureKeyVaultSecret can be used as stored: the
// controller, the webhook and the resolver all ask it, so an object is
// valid or not for all of them alike.
//
// The CRD's schema accepts every object akv2k8s's accepted, so that every
// manifest users have applies; values it accepts that latchkey cannot act
// on (an empty vault name, an unknown transform, a multi-key-value-secret
// without a contentType), and fields of a stored object that could not be
// decoded at all (Unreadable), are problems here, reported on the object.
// The Secret's type is not checked here.
func Check(a *AzureKeyVaultSecret) Problems {
	var ps Problems
	for _, u := range a.Unreadable {
		ps = append(ps, Problem{Field: u.Path, Detail: "cannot be read: want " + u.Want, OutputOnly: outputOnly(u.Path)})
	}
	// A field that could not be read is zero, and so is all it holds: say
	// so once, not also "required" or "unknown" for the zero values.
	add := func(field, detail string) {
		for _, u := range a.Unreadable {
			if field == u.Path || strings.HasPrefix(field, u.Path+".") || strings.HasPrefix(field, u.Path+"[") {
				return
			}
		}
		ps = append(ps, Problem{Field: field, Detail: detail, OutputOnly: outputOnly(field)})
	}
	v, o := a.Spec.Vault, a.Spec.Vault.Object
	if v.HashiCorpVault != nil {
		checkHashiCorpVault(add, v)
	} else {
		if v.Name == "" {
			add("spec.vault.name", "is required: the name of the Key Vault")
		}
		if o.Name == "" {
			add("spec.vault.object.name", "is required: the name of the object in the vault")
		}
		switch o.Type {
		case ObjectTypeSecret, ObjectTypeCertificate, ObjectTypeKey:
		case ObjectTypeMultiKeyValueSecret:
			if o.ContentType != ContentTypeJSON && o.ContentType != ContentTypeYAML {
				add("spec.vault.object.contentType", fmt.Sprintf("must be %s or %s for a multi-key-value-secret", ContentTypeJSON, ContentTypeYAML))
			}
		case "":
			add("spec.vault.object.type", "is required: secret, certificate, key or multi-key-value-secret")
		default:
			add("spec.vault.object.type", "is not an object type: want secret, certificate, key or multi-key-value-secret")
		}
	}
	if out := a.Spec.Output; out != nil {
		field, list := transformField(out)
		for i, t := range list {
			switch t {
			case TransformTrim, TransformBase64Encode, TransformBase64Decode:
			default:
				add(fmt.Sprintf("%s[%d]", field, i), "is not a transform: want trim, base64encode or base64decode")
			}
		}
		if s := out.Secret; s != nil {
			checkOutputName(add, "spec.output.secret", "Secret", s.Name)
			checkDataKey(add, "spec.output.secret.dataKey", s.DataKey)
			if s.ChainOrder != "" && s.ChainOrder != ChainOrderEnsureServerFirst {
				add("spec.output.secret.chainOrder", "is not a chain order: want ensureserverfirst or nothing")
			}
		}
		if cm := out.ConfigMap; cm != nil {
			checkOutputName(add, "spec.output.configMap", "ConfigMap", cm.Name)
			checkDataKey(add, "spec.output.configMap.dataKey", cm.DataKey)
		}
	}
	return ps
}

// checkHashiCorpVault checks a spec that reads HashiCorp Vault: a mount, a
// path, a version number, a key for a secret (a multi-key-value-secret
// reads every key), and an address when one is given.
func checkHashiCorpVault(add func(field, detail string), v AzureKeyVault) {
	o, h := v.Object, v.HashiCorpVault
	if v.Name == "" {
		add("spec.vault.name", "is required: with hashicorpVault, the mount path of the KV version 2 engine (e.g. secret)")
	}
	if o.Name == "" {
		add("spec.vault.object.name", "is required: with hashicorpVault, the path of the secret in the engine")
	}
	if o.Version != "" {
		if n, err := strconv.Atoi(o.Version); err != nil || n < 1 {
			add("spec.vault.object.version", "must be a version number (1, 2, …) with hashicorpVault")
		}
	}
	switch o.Type {
	case ObjectTypeSecret:
		if h.Key == "" {
			add("spec.vault.hashicorpVault.key", "is required for a secret: the key of the secret's map to read (multi-key-value-secret reads every key)")
		}
	case ObjectTypeMultiKeyValueSecret:
		if h.Key != "" {
			add("spec.vault.hashicorpVault.key", "must be empty for a multi-key-value-secret, which reads every key")
		}
	case "":
		add("spec.vault.object.type", "is required: secret (one key) or multi-key-value-secret (every key) with hashicorpVault")
	default:
		add("spec.vault.object.type", "is not an object type of HashiCorp Vault's KV engine: want secret (one key) or multi-key-value-secret (every key)")
	}
	if h.Address != "" {
		if err := vaultref.CheckAddress(h.Address); err != nil {
			add("spec.vault.hashicorpVault.address", "is not a Vault address: want an http or https URL with a host and no query, fragment or user")
		}
	}
}

// checkOutputName checks an output's name. Empty is allowed: akv2k8s read
// it as "no output of that kind", and clients built on its Go types send
// an empty secret or configMap with every object.
func checkOutputName(add func(field, detail string), field, kind, name string) {
	if name != "" && len(validation.IsDNS1123Subdomain(name)) > 0 {
		add(field+".name", "is not a "+kind+" name: want lowercase letters, digits, '-' and '.', at most 253")
	}
}

// checkDataKey checks a data key as the API server checks the keys of a
// Secret or ConfigMap; whether one is needed depends on the object read.
func checkDataKey(add func(field, detail string), field, key string) {
	if key != "" && len(validation.IsConfigMapKey(key)) > 0 {
		add(field, "is not a data key: want letters, digits, '-', '_' and '.', at most 253")
	}
}

// outputOnly reports whether a field is one only the controller's outputs
// read.
func outputOnly(field string) bool {
	return strings.HasPrefix(field, "spec.output.secret") || strings.HasPrefix(field, "spec.output.configMap")
}

// TransformNames are the transforms of an output, in order, as strings: v2's
// transform, or v1alpha1's transforms when transform is empty (every served
// version declares both; transform wins). akv2k8s applied them to controller
// outputs and injected values alike, and so do the controller, the webhook
// and the resolver, all through this method. A nil output has none.
func (o *AzureKeyVaultOutput) TransformNames() []string {
	if o == nil {
		return nil
	}
	_, list := transformField(o)
	if len(list) == 0 {
		return nil
	}
	names := make([]string, len(list))
	for i, t := range list {
		names[i] = string(t)
	}
	return names
}

// transformField returns the list of transforms that applies and its path.
func transformField(o *AzureKeyVaultOutput) (string, []Transform) {
	if len(o.Transform) == 0 && len(o.Transforms) > 0 {
		return "spec.output.transforms", o.Transforms
	}
	return "spec.output.transform", o.Transform
}

// Identity returns the name in spec.vault.azureIdentity, "" when unset or
// empty (clients built on akv2k8s's Go types send an empty one with every
// object).
func (v AzureKeyVault) Identity() string {
	if v.AzureIdentity == nil {
		return ""
	}
	return v.AzureIdentity.Name
}
