package main

import (
	"bytes"
	"encoding/pem"
	"sync"

	"golang.org/x/crypto/x509roots/fallback/bundle"
)

// caBundle is the images' /etc/ssl/certs/ca-certificates.crt: Mozilla's roots
// as the binaries embed them (golang.org/x/crypto/x509roots/fallback, pinned
// in go.mod), not the build machine's, whose bundle differs from one machine
// and day to the next and would change the images' digests.
//
// Roots with a constraint (a distrust-after date) are left out: a PEM file
// cannot carry the constraint, and trusting such a root without it would be
// more than the fallback roots trust.
var caBundle = sync.OnceValue(func() []byte {
	var buf bytes.Buffer
	for r := range bundle.Roots() {
		if r.Constraint != nil {
			continue
		}
		_ = pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: r.Certificate}) // writes to memory
	}
	return buf.Bytes()
})
