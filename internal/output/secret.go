package output

import (
	"fmt"

	"github.com/latchkey-dev/latchkey/internal/certbundle"
)

// renderSecret renders a secret object: transforms first (akv2k8s applied
// them to secret objects only, before looking at the Secret type), then the
// data keys of spec.SecretType.
func renderSecret(spec Spec, value []byte) (map[string][]byte, error) {
	value, err := applyTransforms(spec.Transforms, value)
	if err != nil {
		return nil, err
	}
	if spec.Target == TargetConfigMap {
		return underDataKey(spec, value)
	}
	switch spec.SecretType {
	case SecretTypeBasicAuth:
		user, password, err := splitBasicAuth(value)
		if err != nil {
			return nil, fmt.Errorf("secret type %s: %w", spec.SecretType, err)
		}
		return map[string][]byte{KeyUsername: user, KeyPassword: password}, nil
	case SecretTypeDockerConfigJSON:
		config, err := completeDockerAuths(value)
		if err != nil {
			return nil, err
		}
		return map[string][]byte{KeyDockerConfigJSON: config}, nil
	case SecretTypeDockercfg:
		return map[string][]byte{KeyDockercfg: value}, nil
	case SecretTypeSSHAuth:
		return map[string][]byte{KeySSHPrivateKey: value}, nil
	case SecretTypeTLS:
		// akv2k8s required a base64 PFX here; PEM is accepted too.
		b, err := certbundle.Parse("", value)
		if err != nil {
			return nil, fmt.Errorf("secret type %s: %w: %w", spec.SecretType, ErrInvalidCertificate, err)
		}
		return tlsData(b)
	default:
		return underDataKey(spec, value)
	}
}

// tlsData is the data of a kubernetes.io/tls Secret.
func tlsData(b *certbundle.Bundle) (map[string][]byte, error) {
	key, err := privateKeyPEM(b)
	if err != nil {
		return nil, err
	}
	return map[string][]byte{KeyTLSCert: b.CertPEM(), KeyTLSPrivateKey: key}, nil
}

func privateKeyPEM(b *certbundle.Bundle) ([]byte, error) {
	key, err := b.KeyPEM()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotExportable, err)
	}
	return key, nil
}
