package controller

import (
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/latchkey-dev/latchkey/api/v2beta1"
	"github.com/latchkey-dev/latchkey/internal/keyvault"
	"github.com/latchkey-dev/latchkey/internal/output"
)

// target is one output of an AzureKeyVaultSecret: a Secret or a ConfigMap.
type target struct {
	kind outputKind
	name string
	spec output.Spec
	// createType is the type a Secret is created with: the spec's verbatim
	// (akv2k8s wrote "opaque" as given), else Opaque.
	createType string
}

func (t target) render(obj keyvault.Object) (map[string][]byte, error) {
	return output.Render(t.spec, obj)
}

// errNoOutputName is a spec problem the schema cannot catch in every version.
var errNoOutputName = errors.New("output.secret.name and output.configMap.name must not be empty")

// targetsOf lists the outputs an AzureKeyVaultSecret asks for.
func targetsOf(akvs *v2beta1.AzureKeyVaultSecret) ([]target, error) {
	out := akvs.Spec.Output
	if out == nil {
		return nil, nil
	}
	obj := akvs.Spec.Vault.Object
	base := output.Spec{
		ObjectType:  string(obj.Type),
		ContentType: string(obj.ContentType),
		Transforms:  transformsOf(out),
	}
	var ts []target
	if s := out.Secret; s != nil {
		if s.Name == "" {
			return nil, errNoOutputName
		}
		spec := base
		spec.Target, spec.SecretType, spec.DataKey = output.TargetSecret, string(s.Type), s.DataKey
		createType := string(s.Type)
		if createType == "" {
			createType = string(corev1.SecretTypeOpaque)
		}
		ts = append(ts, target{kind: secretKind{}, name: s.Name, spec: spec, createType: createType})
	}
	if cm := out.ConfigMap; cm != nil {
		if cm.Name == "" {
			return nil, errNoOutputName
		}
		spec := base
		spec.Target, spec.DataKey = output.TargetConfigMap, cm.DataKey
		ts = append(ts, target{kind: configMapKind{}, name: cm.Name, spec: spec})
	}
	return ts, nil
}

// transformsOf prefers v2's transform over v1alpha1's transforms.
func transformsOf(out *v2beta1.AzureKeyVaultOutput) []string {
	list := out.Transform
	if len(list) == 0 {
		list = out.Transforms
	}
	s := make([]string, len(list))
	for i, t := range list {
		s[i] = string(t)
	}
	return s
}

// targets reports whether akvs writes to the output kind/name.
func targets(akvs *v2beta1.AzureKeyVaultSecret, kind, name string) bool {
	ts, _ := targetsOf(akvs)
	for _, t := range ts {
		if t.kind.name() == kind && t.name == name {
			return true
		}
	}
	return false
}

// refOf names the Key Vault object an AzureKeyVaultSecret reads.
func refOf(akvs *v2beta1.AzureKeyVaultSecret) keyvault.Ref {
	obj := akvs.Spec.Vault.Object
	kind := keyvault.KindSecret
	switch obj.Type {
	case v2beta1.ObjectTypeCertificate:
		kind = keyvault.KindCertificate
	case v2beta1.ObjectTypeKey:
		kind = keyvault.KindKey
	}
	return keyvault.Ref{Vault: akvs.Spec.Vault.Name, Kind: kind, Name: obj.Name, Version: obj.Version}
}

func claimantOf(akvs *v2beta1.AzureKeyVaultSecret) claimant {
	return claimant{Name: akvs.Name, UID: akvs.UID, Created: akvs.CreationTimestamp.Time}
}

// setOwnerRef makes akvs an owner of obj, so deleting every owner lets the
// garbage collector delete an output latchkey created. It is not a controller
// reference: several AzureKeyVaultSecrets may share an output.
func setOwnerRef(c client.Client, akvs *v2beta1.AzureKeyVaultSecret, obj client.Object) error {
	if err := controllerutil.SetOwnerReference(akvs, obj, c.Scheme()); err != nil {
		return fmt.Errorf("set owner reference: %w", err)
	}
	return nil
}
