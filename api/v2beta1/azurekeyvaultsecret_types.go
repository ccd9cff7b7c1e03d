package v2beta1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ObjectType is the kind of Key Vault object an AzureKeyVaultSecret reads.
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

// Transform is one step applied to a value before it is written.
// +kubebuilder:validation:Enum=trim;base64encode;base64decode
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
// +kubebuilder:validation:XValidation:rule="self.vault.object.type != 'multi-key-value-secret' || has(self.vault.object.contentType)",message="vault.object.contentType is required for multi-key-value-secret: application/x-json or application/x-yaml"
type AzureKeyVaultSecretSpec struct {
	Vault AzureKeyVault `json:"vault"`
	// Output is where the controller writes the object. The env injector
	// ignores it: an AzureKeyVaultSecret without output only serves pods.
	// +optional
	Output *AzureKeyVaultOutput `json:"output,omitempty"`
	// RefreshInterval overrides the controller's refresh interval for this
	// object, e.g. "1h". Objects pinned to a version are never polled.
	// +optional
	RefreshInterval *metav1.Duration `json:"refreshInterval,omitempty"`
}

// AzureKeyVault names a vault and an object in it.
type AzureKeyVault struct {
	// Name of the Key Vault, the first label of its DNS name.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=127
	Name   string              `json:"name"`
	Object AzureKeyVaultObject `json:"object"`
	// AzureIdentity was akv2k8s's aad-pod-identity binding. It is accepted so
	// existing manifests apply unchanged, and ignored: see the migration guide.
	// +optional
	AzureIdentity string `json:"azureIdentity,omitempty"`
}

// AzureKeyVaultObject names one object in a vault.
type AzureKeyVaultObject struct {
	// Name of the object in the vault.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=127
	Name string     `json:"name"`
	Type ObjectType `json:"type"`
	// Version pins the object to one version; it is then read once, never polled.
	// +optional
	Version string `json:"version,omitempty"`
	// ContentType is required for multi-key-value-secret objects.
	// +optional
	ContentType ContentType `json:"contentType,omitempty"`
	// Poll is akv2k8s's never-used polling switch (serialized as "bool"),
	// accepted so existing manifests apply unchanged, and ignored.
	// +optional
	Poll *bool `json:"bool,omitempty"`
}

// AzureKeyVaultOutput is where the controller writes the object.
type AzureKeyVaultOutput struct {
	// Transform is applied to the value, in order.
	// +optional
	Transform []Transform `json:"transform,omitempty"`
	// Transforms is v1alpha1's spelling of Transform; Transform wins when both
	// are set.
	// +optional
	Transforms []Transform `json:"transforms,omitempty"`
	// +optional
	Secret *AzureKeyVaultOutputSecret `json:"secret,omitempty"`
	// +optional
	ConfigMap *AzureKeyVaultOutputConfigMap `json:"configMap,omitempty"`
}

// AzureKeyVaultOutputSecret describes the Secret to write.
type AzureKeyVaultOutputSecret struct {
	// Name of the Secret, in the AzureKeyVaultSecret's namespace.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// Type of a Secret this creates, verbatim (akv2k8s wrote "opaque" as given);
	// it also selects the keys written. An existing Secret's type is never changed.
	// +optional
	Type corev1.SecretType `json:"type,omitempty"`
	// DataKey is the key the value is written under, for types that do not
	// define their own keys.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	DataKey string `json:"dataKey,omitempty"`
	// ChainOrder is accepted for compatibility; chains are always leaf first.
	// +optional
	ChainOrder ChainOrder `json:"chainOrder,omitempty"`
}

// AzureKeyVaultOutputConfigMap describes the ConfigMap to write.
type AzureKeyVaultOutputConfigMap struct {
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// +optional
	// +kubebuilder:validation:MaxLength=253
	DataKey string `json:"dataKey,omitempty"`
}

// AzureKeyVaultSecretStatus is what the controller last did. It never holds a
// value: only versions, hashes, names and times.
type AzureKeyVaultSecretStatus struct {
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// ObjectVersion is the Key Vault version last written to the output.
	// +optional
	ObjectVersion string `json:"objectVersion,omitempty"`
	// LastOutputChange is when the output's content last changed.
	// +optional
	LastOutputChange *metav1.Time `json:"lastOutputChange,omitempty"`

	// SecretHash, SecretName, ConfigMapHash, ConfigMapName and LastAzureUpdate
	// are akv2k8s's status fields, kept for users' tooling. The hashes change
	// when the output's content does; they are computed from the Key Vault
	// version and the output's keys, never from values (a hash of a short value
	// can be reversed by trying candidates). LastAzureUpdate equals
	// LastOutputChange.
	// +optional
	SecretHash string `json:"secretHash,omitempty"`
	// +optional
	SecretName string `json:"secretName,omitempty"`
	// +optional
	ConfigMapHash string `json:"configMapHash,omitempty"`
	// +optional
	ConfigMapName string `json:"configMapName,omitempty"`
	// +optional
	LastAzureUpdate *metav1.Time `json:"lastAzureUpdate,omitempty"`
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

	Spec AzureKeyVaultSecretSpec `json:"spec"`
	// +optional
	Status AzureKeyVaultSecretStatus `json:"status,omitempty"`
}

// AzureKeyVaultSecretList is a list of AzureKeyVaultSecret.
// +kubebuilder:object:root=true
type AzureKeyVaultSecretList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []AzureKeyVaultSecret `json:"items"`
}
