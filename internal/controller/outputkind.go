package controller

import (
	"maps"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/latchkey-dev/latchkey/api/v2beta1"
)

// outputKind is what differs between a Secret and a ConfigMap output; every
// rule above it (ownership, cleanup, status) is written once for both.
type outputKind interface {
	// name is "Secret" or "ConfigMap", for messages.
	name() string
	newObject() client.Object
	// state reduces an existing object to what the ownership rules need.
	state(obj client.Object) outputState
	// apply writes a plan's data, type and metadata into obj.
	apply(obj client.Object, p plan)
}

type secretKind struct{}

func (secretKind) name() string             { return "Secret" }
func (secretKind) newObject() client.Object { return &corev1.Secret{} }

func (secretKind) state(obj client.Object) outputState {
	s := obj.(*corev1.Secret)
	st := commonState(obj)
	st.Type = string(s.Type)
	st.Data = maps.Clone(s.Data)
	// stringData is write-only: the API server folds it into data.
	return st
}

func (secretKind) apply(obj client.Object, p plan) {
	s := obj.(*corev1.Secret)
	if s.ResourceVersion == "" {
		s.Type = corev1.SecretType(p.Type)
	}
	s.Data = p.Data
	applyMetadata(obj, p)
}

type configMapKind struct{}

func (configMapKind) name() string             { return "ConfigMap" }
func (configMapKind) newObject() client.Object { return &corev1.ConfigMap{} }

func (configMapKind) state(obj client.Object) outputState {
	cm := obj.(*corev1.ConfigMap)
	st := commonState(obj)
	st.Data = map[string][]byte{}
	for k, v := range cm.Data {
		st.Data[k] = []byte(v)
	}
	maps.Copy(st.Data, cm.BinaryData)
	return st
}

// apply puts text under data and anything that is not UTF-8 (a base64decode
// transform's output, say) under binaryData, which the API requires.
func (configMapKind) apply(obj client.Object, p plan) {
	cm := obj.(*corev1.ConfigMap)
	cm.Data, cm.BinaryData = nil, nil
	for k, v := range p.Data {
		if utf8.Valid(v) {
			if cm.Data == nil {
				cm.Data = map[string]string{}
			}
			cm.Data[k] = string(v)
			continue
		}
		if cm.BinaryData == nil {
			cm.BinaryData = map[string][]byte{}
		}
		cm.BinaryData[k] = v
	}
	applyMetadata(obj, p)
}

// commonState reads what Secrets and ConfigMaps share: metadata and owners.
func commonState(obj client.Object) outputState {
	st := outputState{
		Exists:      true,
		Owners:      parseOwners(obj.GetAnnotations()),
		Labels:      maps.Clone(obj.GetLabels()),
		Annotations: maps.Clone(obj.GetAnnotations()),
	}
	delete(st.Annotations, OwnersAnnotation)
	delete(st.Labels, ManagedLabel)
	for _, ref := range obj.GetOwnerReferences() {
		if isAKVSRef(ref.APIVersion, ref.Kind) {
			st.OwnerUIDs = append(st.OwnerUIDs, ref.UID)
		}
	}
	return st
}

// isAKVSRef matches ownerReferences to AzureKeyVaultSecrets of any served
// version: akv2k8s wrote them under its own versions.
func isAKVSRef(apiVersion, kind string) bool {
	gv := v2beta1.GroupVersion.Group + "/"
	return kind == "AzureKeyVaultSecret" && len(apiVersion) > len(gv) && apiVersion[:len(gv)] == gv
}

// applyMetadata writes labels, annotations and the owners record. The managed
// label is set while anyone owns keys here, so the controller's cache, which
// holds only labelled outputs, sees the object.
func applyMetadata(obj client.Object, p plan) {
	labels := maps.Clone(p.Labels)
	annotations := maps.Clone(p.Annotations)
	if len(p.Owners) > 0 {
		if labels == nil {
			labels = map[string]string{}
		}
		if annotations == nil {
			annotations = map[string]string{}
		}
		labels[ManagedLabel] = "true"
		annotations[OwnersAnnotation] = p.Owners.encode()
	}
	obj.SetLabels(labels)
	obj.SetAnnotations(annotations)
}
