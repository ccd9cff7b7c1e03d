package output

import (
	"bytes"
	"fmt"

	"github.com/latchkey-dev/latchkey/internal/backend"
	"github.com/latchkey-dev/latchkey/internal/certbundle"
)

// renderCertificate renders a certificate from its backing secret, by
// Secret type as akv2k8s did: kubernetes.io/tls gives tls.crt and tls.key;
// exactly "Opaque" gives the backing secret itself (key included) under the
// data key; anything else ("", "opaque", custom types) and every ConfigMap
// gives the public chain only.
func renderCertificate(spec Spec, obj backend.Object) (map[string][]byte, error) {
	tlsSecret := spec.Target == TargetSecret && spec.SecretType == SecretTypeTLS
	wantsKey := tlsSecret || (spec.Target == TargetSecret && spec.SecretType == SecretTypeOpaque)
	if spec.DataKey == "" && !tlsSecret {
		return nil, ErrDataKeyRequired
	}
	b, err := parseCertificate(obj)
	if err != nil {
		return nil, err
	}
	if wantsKey && b.Key == nil {
		return nil, fmt.Errorf("%w: secret type %s writes the private key: %w", ErrNotExportable, spec.SecretType, certbundle.ErrNoPrivateKey)
	}
	switch {
	case !wantsKey:
		return map[string][]byte{spec.DataKey: b.CertPEM()}, nil
	case spec.SecretType == SecretTypeTLS:
		return tlsData(b)
	default:
		return map[string][]byte{spec.DataKey: rawBackingSecret(obj)}, nil
	}
}

func parseCertificate(obj backend.Object) (*certbundle.Bundle, error) {
	b, err := certbundle.Parse(obj.ContentType, obj.Value)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidCertificate, err)
	}
	return b, nil
}

// rawBackingSecret is what akv2k8s wrote for an Opaque certificate output:
// the PFX bytes (base64-decoded from what Key Vault stores) or the PEM text.
func rawBackingSecret(obj backend.Object) []byte {
	if bytes.HasPrefix(bytes.TrimSpace(obj.Value), []byte("-----BEGIN")) {
		return obj.Value
	}
	if der, ok := DecodeBase64(obj.Value); ok {
		return der
	}
	return obj.Value
}
