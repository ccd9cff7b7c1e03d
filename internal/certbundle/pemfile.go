package certbundle

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strings"
)

// parsePEM reads CERTIFICATE blocks and private key blocks, ignoring text
// between blocks (OpenSSL's "Bag Attributes") and blocks of other types
// (such as "EC PARAMETERS").
func parsePEM(data []byte) (*Bundle, error) {
	var certs []*x509.Certificate
	var keys []any
	for n := 1; ; n++ {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		switch {
		case block.Type == blockCertificate:
			c, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("%w: PEM block %d is not a valid certificate", ErrMalformed, n)
			}
			certs = append(certs, c)
		case block.Type == "ENCRYPTED PRIVATE KEY":
			return nil, fmt.Errorf("%w: PEM block %d is an encrypted private key", ErrPasswordProtected, n)
		case strings.HasSuffix(block.Type, blockPrivateKey):
			key, err := parsePrivateKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("%w: PEM block %d is not a valid private key", ErrMalformed, n)
			}
			keys = append(keys, key)
		}
	}
	return assemble(certs, keys)
}

// parsePrivateKey tries every DER encoding whatever the block label says, as
// akv2k8s did: labels in the wild do not always match their content.
func parsePrivateKey(der []byte) (any, error) {
	if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return k, nil
	}
	return x509.ParseECPrivateKey(der)
}
