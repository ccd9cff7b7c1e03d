package output

import "fmt"

// maxDataKeyLen is the longest Secret or ConfigMap data key Kubernetes
// accepts (a DNS subdomain's length).
const maxDataKeyLen = 253

// checkDataKeys rejects keys the API server would refuse. Checking here
// matters: the API server's rejection quotes the key, and a key taken from a
// malformed multi-key document may be secret material; so may the message
// end up in a status condition. The spec's own data key is quoted; keys from
// a document are not.
func checkDataKeys(spec Spec, data map[string][]byte) error {
	for k := range data {
		if validDataKey(k) {
			continue
		}
		if k == spec.DataKey {
			return fmt.Errorf("%w: %q", ErrInvalidDataKey, k)
		}
		return fmt.Errorf("%w: a top-level key of the %s document (allowed: letters, digits, '-', '_', '.')", ErrInvalidDataKey, spec.ObjectType)
	}
	return nil
}

// validDataKey mirrors k8s.io/apimachinery's IsConfigMapKey, which also
// governs Secret keys.
func validDataKey(k string) bool {
	if k == "" || len(k) > maxDataKeyLen || k == "." || k == ".." {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.':
		default:
			return false
		}
	}
	return true
}
