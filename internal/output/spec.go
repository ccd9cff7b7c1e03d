package output

import (
	"fmt"

	"github.com/latchkey-dev/latchkey/internal/backend"
)

// Object types, spec.vault.object.type.
//
//nolint:gosec // names of types, not credentials
const (
	ObjectSecret              = "secret"
	ObjectCertificate         = "certificate"
	ObjectKey                 = "key"
	ObjectMultiKeyValueSecret = "multi-key-value-secret"
)

// Content types of a multi-key-value-secret, spec.vault.object.contentType.
const (
	ContentTypeJSON = "application/x-json"
	ContentTypeYAML = "application/x-yaml"
)

// Secret types whose data keys are fixed (the values of corev1.SecretType,
// repeated here because this package must not import k8s.io). Any other
// type, Opaque included, writes under the data key.
//
//nolint:gosec // names of Secret types, not credentials
const (
	SecretTypeOpaque           = "Opaque"
	SecretTypeTLS              = "kubernetes.io/tls"
	SecretTypeBasicAuth        = "kubernetes.io/basic-auth"
	SecretTypeDockerConfigJSON = "kubernetes.io/dockerconfigjson"
	SecretTypeDockercfg        = "kubernetes.io/dockercfg"
	SecretTypeSSHAuth          = "kubernetes.io/ssh-auth"
)

// Data keys of the fixed-key Secret types; tls.crt, tls.key, username and
// password are also env injector queries.
const (
	KeyTLSCert          = "tls.crt"
	KeyTLSPrivateKey    = "tls.key"
	KeyUsername         = "username"
	KeyPassword         = "password"
	KeyDockerConfigJSON = ".dockerconfigjson"
	KeyDockercfg        = ".dockercfg"
	KeySSHPrivateKey    = "ssh-privatekey"
)

// QueryRaw asks for a certificate's backing secret as Key Vault stores it.
const QueryRaw = "raw"

// QueryKeyAndChain asks for a certificate's private key and its chain,
// leaf first, in one PEM: the single file servers such as HAProxy read.
const QueryKeyAndChain = "tls.pem"

// Transforms, spec.output.transform, applied in order to secret objects.
const (
	TransformTrim         = "trim"
	TransformBase64Encode = "base64encode"
	TransformBase64Decode = "base64decode"
)

// Target is the kind of object the data is for.
type Target int

// Targets. The zero Target is invalid so that a forgotten field is an error,
// not a silent Secret.
const (
	TargetSecret Target = iota + 1
	TargetConfigMap
)

// String returns the Kubernetes kind.
func (t Target) String() string {
	switch t {
	case TargetSecret:
		return "Secret"
	case TargetConfigMap:
		return "ConfigMap"
	}
	return "invalid target"
}

// Spec is what shapes the output of one AzureKeyVaultSecret: the object's
// type and content type, and the output's Secret type, data key and
// transforms.
type Spec struct {
	// ObjectType is spec.vault.object.type: one of the Object constants.
	ObjectType string
	// ContentType is spec.vault.object.contentType; only a
	// multi-key-value-secret uses it (ContentTypeJSON or ContentTypeYAML).
	ContentType string
	// SecretType is spec.output.secret.type verbatim ("" when unset). It
	// chooses the data keys of a Secret target; a ConfigMap target ignores
	// it. Comparisons are exact: "opaque" is not "Opaque".
	SecretType string
	// DataKey is spec.output.secret.dataKey or spec.output.configMap.dataKey.
	DataKey string
	// Transforms is spec.output.transform, applied in order to secret
	// objects only (as akv2k8s did); other object types ignore it.
	Transforms []string
	// Target is the kind of object rendered. Query ignores it.
	Target Target
	// Key selects one key of a JSON map read from a store of key/value maps
	// (HashiCorp Vault's KV engine, read as the whole map): that key's value
	// is then rendered or queried as a secret object's.
	Key string
}

// selectKey applies spec.Key: the key's value of the JSON map in obj, as a
// secret object. A spec without Key is returned as it is.
func selectKey(spec Spec, obj backend.Object) (Spec, backend.Object, error) {
	if spec.Key == "" {
		return spec, obj, nil
	}
	m, err := parseMultiKey(ContentTypeJSON, obj.Value)
	if err != nil {
		return spec, obj, err
	}
	v, ok := m[spec.Key]
	if !ok {
		// Names the key, never the map's other keys or values.
		return spec, obj, fmt.Errorf("%w: the secret has no key %q", ErrKeyNotFound, spec.Key)
	}
	spec.ObjectType, spec.Key, obj.Value = ObjectSecret, "", v
	return spec, obj, nil
}
