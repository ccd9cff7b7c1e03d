package certbundle

import (
	"crypto/x509"
	"errors"
	"fmt"

	"software.sslmate.com/src/go-pkcs12"
)

// parsePFX decodes a DER PFX with an empty password.
//
// A PFX with a key goes through DecodeChain. A PFX without one (what a
// non-exportable certificate's backing secret holds) is read as a trust
// store, the certificate-only layout go-pkcs12 supports.
func parsePFX(der []byte) (*Bundle, error) {
	if err := checkPFXCost(der); err != nil {
		return nil, err
	}
	key, leaf, cas, err := pkcs12.DecodeChain(der, "")
	if err == nil {
		certs := append([]*x509.Certificate{leaf}, cas...)
		return assemble(certs, []any{key})
	}
	if errors.Is(err, pkcs12.ErrIncorrectPassword) {
		return nil, ErrPasswordProtected
	}
	certs, terr := pkcs12.DecodeTrustStore(der, "")
	if terr == nil {
		return assemble(certs, nil)
	}
	if errors.Is(terr, pkcs12.ErrIncorrectPassword) {
		return nil, ErrPasswordProtected
	}
	// go-pkcs12's messages can quote attribute values and parser detail;
	// report the condition only.
	return nil, fmt.Errorf("%w: not a readable PFX with an empty password", ErrMalformed)
}
