package output

import (
	"fmt"

	"github.com/latchkey-dev/latchkey/internal/backend"
	"github.com/latchkey-dev/latchkey/internal/certbundle"
)

// renderKey writes a key object's public key as PKIX PEM under the data key,
// whatever the Secret type. akv2k8s wrote the raw RSA modulus; the PEM is a
// deliberate break (product.md §3).
func renderKey(spec Spec, obj backend.Object) (map[string][]byte, error) {
	if spec.DataKey == "" {
		return nil, ErrDataKeyRequired
	}
	pub, err := publicKeyPEM(obj)
	if err != nil {
		return nil, err
	}
	return map[string][]byte{spec.DataKey: pub}, nil
}

func publicKeyPEM(obj backend.Object) ([]byte, error) {
	pub, err := certbundle.PublicKeyPEM(obj.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoPublicKey, err)
	}
	return pub, nil
}
