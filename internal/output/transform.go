package output

import (
	"bytes"
	"encoding/base64"
	"fmt"
)

// applyTransforms runs spec.output.transform in order, as akv2k8s did for
// secret objects: trim is strings.TrimSpace, base64encode is standard padded
// base64, base64decode accepts standard base64 (line breaks ignored, as Go's
// decoder always did) and, beyond akv2k8s, its unpadded form.
func applyTransforms(names []string, value []byte) ([]byte, error) {
	for i, name := range names {
		switch name {
		case TransformTrim:
			value = bytes.TrimSpace(value)
		case TransformBase64Encode:
			value = base64.StdEncoding.AppendEncode(nil, value)
		case TransformBase64Decode:
			decoded, ok := DecodeBase64(value)
			if !ok {
				return nil, fmt.Errorf("%w: transform %d (%s): value is not base64", ErrTransform, i+1, name)
			}
			value = decoded
		default:
			// The transform's name is spec, not secret.
			return nil, fmt.Errorf("%w: %q", ErrUnknownTransform, name)
		}
	}
	return value, nil
}

// DecodeBase64 decodes standard base64, padded or not. Like
// base64.StdEncoding it skips '\r' and '\n' and nothing else.
func DecodeBase64(text []byte) ([]byte, bool) {
	out := make([]byte, base64.RawStdEncoding.DecodedLen(len(text)))
	if n, err := base64.StdEncoding.Decode(out, text); err == nil {
		return out[:n], true
	}
	if n, err := base64.RawStdEncoding.Decode(out, text); err == nil {
		return out[:n], true
	}
	return nil, false
}
