package output

import "errors"

// Sentinel errors; match them with errors.Is. Returned errors add the object
// type, secret type, data key or query key involved, never a value.
var (
	// ErrUnsupportedTarget is returned for a Target other than TargetSecret
	// or TargetConfigMap.
	ErrUnsupportedTarget = errors.New("unsupported output target")
	// ErrUnsupportedObjectType is returned for an unknown object type.
	ErrUnsupportedObjectType = errors.New("unsupported object type")
	// ErrDataKeyRequired is returned when the output writes under the data
	// key and none is set.
	ErrDataKeyRequired = errors.New("output dataKey is required")
	// ErrInvalidDataKey is returned when a data key is not a valid Secret or
	// ConfigMap key (letters, digits, '-', '_' and '.', at most 253 bytes).
	ErrInvalidDataKey = errors.New("invalid data key")
	// ErrUnknownTransform is returned for a transform other than trim,
	// base64encode and base64decode.
	ErrUnknownTransform = errors.New("unknown transform")
	// ErrTransform is returned when a transform cannot apply to the value
	// (base64decode of text that is not base64).
	ErrTransform = errors.New("transform failed")
	// ErrInvalidBasicAuth is returned when a basic-auth value is neither
	// "username:password" nor its base64.
	ErrInvalidBasicAuth = errors.New("value is not username:password or its base64")
	// ErrInvalidDocument is returned for a multi-key-value-secret or
	// .dockerconfigjson value that does not parse as its content type.
	ErrInvalidDocument = errors.New("invalid document")
	// ErrUnsupportedContentType is returned for a multi-key-value-secret
	// whose content type is not application/x-json or application/x-yaml.
	ErrUnsupportedContentType = errors.New("unsupported multi-key-value-secret content type")
	// ErrInvalidCertificate is returned when a certificate (or a secret
	// written as kubernetes.io/tls) cannot be read as PFX or PEM. It wraps
	// the certbundle error.
	ErrInvalidCertificate = errors.New("invalid certificate")
	// ErrNotExportable is returned when an output needs a private key the
	// object does not hold: a certificate whose key policy is not
	// exportable, or a PFX/PEM secret without a key. It also matches
	// certbundle.ErrNoPrivateKey.
	ErrNotExportable = errors.New("private key is not exportable")
	// ErrNoPublicKey is returned for a key object without a usable public key.
	ErrNoPublicKey = errors.New("key object has no usable public key")
	// ErrUnsupportedQuery is returned for a query the object type does not
	// answer.
	ErrUnsupportedQuery = errors.New("unsupported query")
	// ErrQueryRequired is returned when a multi-key-value-secret is injected
	// without a query naming one of its keys.
	ErrQueryRequired = errors.New("query required")
	// ErrKeyNotFound is returned when a store's key/value map lacks the key
	// the spec selects (Spec.Key).
	ErrKeyNotFound = errors.New("key not found")
	// ErrUnknownQueryKey is returned when a multi-key-value-secret has no
	// top-level key named by the query.
	ErrUnknownQueryKey = errors.New("unknown query key")
)
