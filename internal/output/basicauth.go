package output

import "bytes"

// splitBasicAuth reads "username:password", splitting on the first colon
// (akv2k8s refused a password containing a colon), or the base64 of it, as
// the akv2k8s README promised. Base64 text never contains a colon, so the
// two forms cannot be confused.
func splitBasicAuth(value []byte) (user, password []byte, err error) {
	if u, p, ok := bytes.Cut(value, []byte{':'}); ok {
		return u, p, nil
	}
	if decoded, ok := DecodeBase64(bytes.TrimSpace(value)); ok {
		if u, p, ok := bytes.Cut(decoded, []byte{':'}); ok {
			return u, p, nil
		}
	}
	return nil, nil, ErrInvalidBasicAuth
}
