package v2beta1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ObjectType is the kind of Key Vault object an AzureKeyVaultSecret reads.
// The enum is akv2k8s's, so the schema refuses what akv2k8s's refused.
// +kubebuilder:validation:Enum=secret;certificate;key;multi-key-value-secret
type ObjectType string

// The object types akv2k8s defined; users' manifests name them verbatim.
const (
	ObjectTypeSecret              ObjectType = "secret"
	ObjectTypeCertificate         ObjectType = "certificate"
	ObjectTypeKey                 ObjectType = "key"
	ObjectTypeMultiKeyValueSecret ObjectType = "multi-key-value-secret" //nolint:gosec // an object type, not a credential
)

// ContentType says how a multi-key-value-secret is encoded.
// +kubebuilder:validation:Enum=application/x-json;application/x-yaml
type ContentType string

// The two encodings of a multi-key-value-secret.
const (
	ContentTypeJSON ContentType = "application/x-json"
	ContentTypeYAML ContentType = "application/x-yaml"
)

// Transform is one step applied to a value before it is written. The schema
// takes any string, as akv2k8s's did: an unknown one is reported on the
// object (Ready=False, reason InvalidSpec, see Check) rather than refused,
// so every manifest akv2k8s accepted still applies.
type Transform string

// The transforms akv2k8s defined, applied in the order listed in the spec.
const (
	TransformTrim         Transform = "trim"
	TransformBase64Encode Transform = "base64encode"
	TransformBase64Decode Transform = "base64decode"
)

// ChainOrder reorders a certificate chain in the output.
// +kubebuilder:validation:Enum=ensureserverfirst
type ChainOrder string

// ChainOrderEnsureServerFirst puts the leaf first; latchkey always orders the
// chain leaf first then by issuer, so this is accepted for compatibility.
const ChainOrderEnsureServerFirst ChainOrder = "ensureserverfirst"

// AzureKeyVaultSecretSpec says which Key Vault object to read and where to put it.
//
// The schema accepts every object akv2k8s's CRD accepted, in every version
// (test/migration checks it against akv2k8s's CRD and documentation).
// Constraints akv2k8s's schema did not have, such as contentType being
// required for multi-key-value-secret, are decided by Check and reported on
// the object instead of refused by the API server.
type AzureKeyVaultSecretSpec struct {
	// Vault names the Key Vault and the object in it to read.
	Vault AzureKeyVault `json:"vault"`
	// Output is where the controller writes the object: a Secret, a
	// ConfigMap or both. The env injector reads only its transform: an
	// AzureKeyVaultSecret without output only serves pods.
	// +optional
	Output *AzureKeyVaultOutput `json:"output,omitempty"`
	// RefreshInterval overrides the controller's refresh interval for this
	// object, as a duration such as "90s", "10m" or "1h", at least 30s:
	// every read spends a budget the whole vault shares. Objects pinned to
	// a version are never polled. A latchkey field, unknown to akv2k8s.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$')",message="must be a duration such as 90s, 10m or 1h30m (units h, m, s, ms, us, ns)"
	// +kubebuilder:validation:XValidation:rule="!self.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$') || duration(self) >= duration('30s')",message="must be at least 30s: every read spends the vault's budget, shared by every namespace reading it"
	RefreshInterval *metav1.Duration `json:"refreshInterval,omitempty"`
}

// AzureKeyVault names a vault and an object in it.
type AzureKeyVault struct {
	// Name of the Key Vault: the first label of its DNS name
	// (<name>.vault.azure.net in the public cloud). Required. With
	// hashicorpVault, the mount path of the KV version 2 secrets engine
	// (e.g. secret).
	Name string `json:"name"`
	// Object names the object to read in the vault.
	Object AzureKeyVaultObject `json:"object"`
	// AzureIdentity is akv2k8s's per-object identity (an aad-pod-identity
	// binding). It is accepted so existing manifests apply unchanged, and
	// not honoured: latchkey reads Key Vault with the one identity of its
	// install (keyVaultAuth), so the controller sets the condition
	// AzureIdentity=False, reason Ignored, when it is set.
	// +optional
	AzureIdentity *AzureIdentity `json:"azureIdentity,omitempty"`
	// HashiCorpVault reads the object from a HashiCorp Vault's KV version 2
	// secrets engine instead of Azure Key Vault: name is then the engine's
	// mount, object.name the secret's path, object.version a version
	// number, and object.type secret (one key of the secret's map, named by
	// key) or multi-key-value-secret (every key; contentType is not needed).
	// The controller and the resolver log in with Vault's Kubernetes auth as
	// a ServiceAccount of this object's namespace. A latchkey field, unknown
	// to akv2k8s.
	// +optional
	HashiCorpVault *HashiCorpVault `json:"hashicorpVault,omitempty"`
}

// HashiCorpVault says which HashiCorp Vault to read and who logs in. Every
// field but key falls back to the install's value (the chart's
// hashicorpVault settings).
type HashiCorpVault struct {
	// Address of the Vault, e.g. https://vault.example:8200.
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	Address string `json:"address,omitempty"`
	// Role of Vault's Kubernetes auth method to log in with.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	Role string `json:"role,omitempty"`
	// AuthMount is the mount path of the Kubernetes auth method (default
	// the install's, else kubernetes).
	// +optional
	// +kubebuilder:validation:MaxLength=256
	AuthMount string `json:"authMount,omitempty"`
	// ServiceAccountName is the ServiceAccount of this object's namespace
	// that logs in: Vault's role must bind it and the namespace.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	ServiceAccountName string `json:"serviceAccountName,omitempty"`
	// Key of the secret's key/value map to read, for object type secret.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Key string `json:"key,omitempty"`
}

// AzureIdentity is akv2k8s's spec.vault.azureIdentity, an object with a
// name. An object stored when the field was a plain string (an earlier
// latchkey schema) decodes too: the string is the name.
type AzureIdentity struct {
	// Name of the identity akv2k8s would have used (an AzureIdentity of
	// aad-pod-identity). Not honoured by latchkey: see azureIdentity.
	// +optional
	Name string `json:"name,omitempty"`
}

// AzureKeyVaultObject names one object in a vault.
type AzureKeyVaultObject struct {
	// Name of the object in the vault. Required.
	Name string `json:"name"`
	// Type of the object: secret, certificate, key, or
	// multi-key-value-secret (a secret holding a JSON or YAML document
	// whose top-level keys become separate keys).
	Type ObjectType `json:"type"`
	// Version pins the object to one version; it is then read once, never
	// polled. Empty reads the current version.
	// +optional
	Version string `json:"version,omitempty"`
	// ContentType says how a multi-key-value-secret's document is encoded:
	// application/x-json or application/x-yaml. Required for that type,
	// ignored for the others.
	// +optional
	ContentType ContentType `json:"contentType,omitempty"`
	// Poll is akv2k8s's never-used polling switch (serialized as "bool"),
	// accepted so existing manifests apply unchanged, and ignored.
	// +optional
	Poll *bool `json:"bool,omitempty"`
}

// AzureKeyVaultOutput is where the controller writes the object.
type AzureKeyVaultOutput struct {
	// Transform lists steps applied in order to the value of a secret
	// object, for the controller's outputs and the env injector's
	// placeholders alike: trim, base64encode, base64decode. Any other name
	// is accepted, as akv2k8s's schema did, and reported on the object
	// (Ready=False, reason InvalidSpec).
	// +optional
	Transform []Transform `json:"transform,omitempty"`
	// Transforms is v1alpha1's spelling of transform, served in every
	// version; transform wins when both are set.
	// +optional
	Transforms []Transform `json:"transforms,omitempty"`
	// Secret is the Secret to write. An empty name means no Secret, as in
	// akv2k8s.
	// +optional
	Secret *AzureKeyVaultOutputSecret `json:"secret,omitempty"`
	// ConfigMap is the ConfigMap to write, beside or instead of the
	// Secret. An empty name means no ConfigMap, as in akv2k8s.
	// +optional
	ConfigMap *AzureKeyVaultOutputConfigMap `json:"configMap,omitempty"`
}

// AzureKeyVaultOutputSecret describes the Secret to write.
type AzureKeyVaultOutputSecret struct {
	// Name of the Secret, in the AzureKeyVaultSecret's namespace.
	Name string `json:"name"`
	// Type of a Secret this creates, verbatim (akv2k8s wrote "opaque" as given);
	// it also selects the keys written. An existing Secret's type is never changed.
	// Opaque, kubernetes.io/basic-auth, kubernetes.io/dockerconfigjson,
	// kubernetes.io/dockercfg, kubernetes.io/ssh-auth, kubernetes.io/tls, or a
	// custom type outside the domains kubernetes.io, k8s.io and helm.sh (and
	// their subdomains): types there have a meaning to Kubernetes or Helm (a
	// service-account or bootstrap token, a release record), so they are
	// refused.
	// +optional
	// +kubebuilder:validation:XValidation:rule="!self.lowerAscii().matches('^([^/]*[.])?(kubernetes[.]io|k8s[.]io|helm[.]sh)/') || self in ['Opaque', 'kubernetes.io/basic-auth', 'kubernetes.io/dockerconfigjson', 'kubernetes.io/dockercfg', 'kubernetes.io/ssh-auth', 'kubernetes.io/tls']",message="is not allowed: use Opaque, kubernetes.io/basic-auth, kubernetes.io/dockerconfigjson, kubernetes.io/dockercfg, kubernetes.io/ssh-auth, kubernetes.io/tls, or a custom type outside the domains kubernetes.io, k8s.io and helm.sh, to which Kubernetes and Helm give a meaning (a service-account or bootstrap token, a release record)"
	Type corev1.SecretType `json:"type,omitempty"`
	// DataKey is the key the value is written under, for types that do not
	// define their own keys (Opaque and custom types).
	// +optional
	DataKey string `json:"dataKey,omitempty"`
	// ChainOrder ensureserverfirst put the server certificate first in
	// akv2k8s; it is accepted, and latchkey always writes chains leaf first.
	// +optional
	ChainOrder ChainOrder `json:"chainOrder,omitempty"`
}

// AzureKeyVaultOutputConfigMap describes the ConfigMap to write.
type AzureKeyVaultOutputConfigMap struct {
	// Name of the ConfigMap, in the AzureKeyVaultSecret's namespace.
	Name string `json:"name"`
	// DataKey is the key the value is written under (every object type but
	// multi-key-value-secret, whose keys are the document's).
	// +optional
	DataKey string `json:"dataKey,omitempty"`
}

// AzureKeyVaultSecretStatus is what the controller last did. It never holds a
// value: only versions, hashes, names and times.
type AzureKeyVaultSecretStatus struct {
	// Conditions: Ready says whether the outputs hold the object as the
	// spec asks, with a reason; AzureIdentity=False (reason Ignored) says
	// that spec.vault.azureIdentity is set and not honoured.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// ObservedGeneration is the generation of the spec the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// ObjectVersion is the Key Vault version last written to the output.
	// +optional
	ObjectVersion string `json:"objectVersion,omitempty"`
	// LastOutputChange is when the output's content last changed.
	// +optional
	LastOutputChange *metav1.Time `json:"lastOutputChange,omitempty"`

	// The fields below are akv2k8s's, kept for users' tooling. Its hashes
	// covered values; a hash of a short value can be reversed by trying
	// candidates, so latchkey's cover only what identifies the content.

	// SecretHash changes when the Secret's content does: a hash of the Key
	// Vault version, the Secret's name and its keys, never of values.
	// +optional
	SecretHash string `json:"secretHash,omitempty"`
	// SecretName is the Secret the last successful sync wrote.
	// +optional
	SecretName string `json:"secretName,omitempty"`
	// ConfigMapHash is SecretHash for the ConfigMap.
	// +optional
	ConfigMapHash string `json:"configMapHash,omitempty"`
	// ConfigMapName is the ConfigMap the last successful sync wrote.
	// +optional
	ConfigMapName string `json:"configMapName,omitempty"`
	// LastAzureUpdate is akv2k8s's name for lastOutputChange.
	// +optional
	LastAzureUpdate *metav1.Time `json:"lastAzureUpdate,omitempty"`

	// Rollouts are the last workloads latchkey rolled out because this
	// object's version changed (docs/rollouts.md), newest first: at most
	// MaxStatusRollouts, one per workload.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=10
	Rollouts []WorkloadRollout `json:"rollouts,omitempty"`
}

// MaxStatusRollouts bounds status.rollouts.
const MaxStatusRollouts = 10

// WorkloadRollout is one workload rolled out for a new version.
type WorkloadRollout struct {
	// Kind is Deployment, StatefulSet or DaemonSet.
	Kind string `json:"kind"`
	// Name is the workload's, in the AzureKeyVaultSecret's namespace.
	Name string `json:"name"`
	// Version is the object version it was rolled out for.
	// +optional
	Version string `json:"version,omitempty"`
	// Time is when.
	Time metav1.Time `json:"time"`
}

// AzureKeyVaultSecret syncs one Azure Key Vault object into a Secret or
// ConfigMap, and names it for the env injector's placeholders.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:storageversion
// +kubebuilder:resource:shortName=akvs,categories=latchkey
// +kubebuilder:printcolumn:name="Vault",type=string,JSONPath=`.spec.vault.name`
// +kubebuilder:printcolumn:name="Object",type=string,JSONPath=`.spec.vault.object.name`
// +kubebuilder:printcolumn:name="Type",type=string,JSONPath=`.spec.vault.object.type`
// +kubebuilder:printcolumn:name="Output",type=string,JSONPath=`.spec.output.secret.name`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type AzureKeyVaultSecret struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec says which Key Vault object to read and where to write it.
	Spec AzureKeyVaultSecretSpec `json:"spec"`
	// Status is what the controller last did. It never holds a value.
	// +optional
	Status AzureKeyVaultSecretStatus `json:"status,omitempty"`

	// Unreadable lists the fields of the stored spec whose JSON does not fit
	// these types (an object stored under akv2k8s's or an older schema):
	// UnmarshalJSON leaves them zero instead of failing, so one such object
	// never fails a list of all of them. Check reports them. It is never
	// serialized: an object with unreadable fields must not be written back
	// whole (only its status, which leaves the stored spec as it is).
	Unreadable []UnreadableField `json:"-"`
}

// AzureKeyVaultSecretList is a list of AzureKeyVaultSecret.
// +kubebuilder:object:root=true
type AzureKeyVaultSecretList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []AzureKeyVaultSecret `json:"items"`
}
