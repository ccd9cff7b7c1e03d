package certbundle

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strings"
)

// Content types of a certificate's backing secret, as Key Vault reports them.
const (
	ContentTypePKCS12 = "application/x-pkcs12"
	ContentTypePEM    = "application/x-pem-file"
)

var pemPrefix = []byte("-----BEGIN")

// Parse reads a certificate backing secret.
//
// For application/x-pkcs12 the value is the base64 text of a PFX with an
// empty password (raw DER is accepted too); for application/x-pem-file it is
// PEM with CERTIFICATE blocks and at most one useful private key block
// (PKCS#8, PKCS#1 or SEC1, whatever the label). An empty content type sniffs:
// PEM, base64 of PEM, base64 PFX or DER PFX. Content types are compared
// case-insensitively.
//
// The chain is ordered as described on Bundle. A value without a private key
// is not an error: Bundle.Key is nil.
func Parse(contentType string, value []byte) (*Bundle, error) {
	switch {
	case strings.EqualFold(contentType, ContentTypePKCS12):
		return parsePFXText(value)
	case strings.EqualFold(contentType, ContentTypePEM):
		return parsePEM(value)
	case contentType == "":
		return sniff(value)
	default:
		// The content type is metadata, not secret material.
		return nil, fmt.Errorf("%w: %q", ErrUnsupportedContentType, contentType)
	}
}

func sniff(value []byte) (*Bundle, error) {
	if looksLikePEM(value) {
		return parsePEM(value)
	}
	if der, ok := decodeBase64(value); ok {
		if looksLikePEM(der) {
			return parsePEM(der)
		}
		return parsePFX(der)
	}
	return parsePFX(value)
}

// parsePFXText decodes the base64 text Key Vault stores, falling back to
// treating the value as DER.
func parsePFXText(value []byte) (*Bundle, error) {
	if der, ok := decodeBase64(value); ok {
		return parsePFX(der)
	}
	return parsePFX(value)
}

func looksLikePEM(b []byte) bool {
	return bytes.HasPrefix(bytes.TrimSpace(b), pemPrefix)
}

// decodeBase64 decodes standard base64 text, padded or not, ignoring ASCII
// whitespace (editors and scripts wrap long values).
func decodeBase64(text []byte) ([]byte, bool) {
	compact := bytes.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '\r', '\n', '\v', '\f':
			return -1
		}
		return r
	}, text)
	if len(compact) == 0 {
		return nil, false
	}
	// The unpadded length bound is the larger of the two.
	out := make([]byte, base64.RawStdEncoding.DecodedLen(len(compact)))
	if n, err := base64.StdEncoding.Decode(out, compact); err == nil {
		return out[:n], true
	}
	if n, err := base64.RawStdEncoding.Decode(out, compact); err == nil {
		return out[:n], true
	}
	return nil, false
}
