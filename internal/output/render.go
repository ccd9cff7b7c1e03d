package output

import (
	"bytes"
	"fmt"

	"github.com/latchkey-dev/latchkey/internal/backend"
)

// Render returns the data of the Secret or ConfigMap that spec asks for.
//
// For a Secret target the data keys follow spec.SecretType as akv2k8s 1.8.4
// wrote them; the Secret's own type is the caller's business. A ConfigMap
// target never receives a private key. The returned values never alias
// obj.Value, which the caller's cache may share.
func Render(spec Spec, obj backend.Object) (map[string][]byte, error) {
	if spec.Target != TargetSecret && spec.Target != TargetConfigMap {
		return nil, fmt.Errorf("%w: %d", ErrUnsupportedTarget, int(spec.Target))
	}
	spec, obj, err := selectKey(spec, obj)
	if err != nil {
		return nil, err
	}
	var data map[string][]byte
	switch spec.ObjectType {
	case ObjectSecret:
		data, err = renderSecret(spec, obj.Value)
	case ObjectCertificate:
		data, err = renderCertificate(spec, obj)
	case ObjectKey:
		data, err = renderKey(spec, obj)
	case ObjectMultiKeyValueSecret:
		data, err = parseMultiKey(spec.ContentType, obj.Value)
	default:
		return nil, fmt.Errorf("%w: %q", ErrUnsupportedObjectType, spec.ObjectType)
	}
	if err != nil {
		return nil, fmt.Errorf("%s object to %s: %w", spec.ObjectType, spec.Target, err)
	}
	if err := checkDataKeys(spec, data); err != nil {
		return nil, err
	}
	for k, v := range data {
		data[k] = bytes.Clone(v)
	}
	return data, nil
}

// underDataKey is the output of every Secret type without fixed keys, and
// of every ConfigMap.
func underDataKey(spec Spec, value []byte) (map[string][]byte, error) {
	if spec.DataKey == "" {
		return nil, ErrDataKeyRequired
	}
	return map[string][]byte{spec.DataKey: value}, nil
}
