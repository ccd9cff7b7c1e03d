package envexec

import (
	"crypto/x509"
	"sync"

	"golang.org/x/crypto/x509roots/fallback/bundle"
)

// fallbackRoots sets the fallback CA roots at most once: crypto/x509 allows
// one call per process.
var fallbackRoots = sync.OnceValue(func() bool {
	if pool, err := x509.SystemCertPool(); err == nil && !pool.Equal(x509.NewCertPool()) {
		return false
	}
	pool := x509.NewCertPool()
	for r := range bundle.Roots() {
		cert, err := x509.ParseCertificate(r.Certificate)
		if err != nil {
			continue // the bundle is tested upstream; a bad root is skipped, not fatal
		}
		if r.Constraint == nil {
			pool.AddCert(cert)
		} else {
			pool.AddCertWithConstraint(cert, r.Constraint)
		}
	}
	x509.SetFallbackRoots(pool)
	return true
})

// EnsureCARoots makes TLS work in images without a CA bundle (FROM scratch,
// a known issue of akv2k8s): when the system has no CA roots (in its usual
// files and folders, or SSL_CERT_FILE and SSL_CERT_DIR), crypto/x509 falls
// back to the binary's copy of Mozilla's roots
// (golang.org/x/crypto/x509roots/fallback). It reports whether it did.
//
// Unlike a blank import of x509roots/fallback, which parses its ~150 roots
// at every start, the roots are parsed only when they are needed; the
// system's, which TLS would load anyway, are loaded first.
func EnsureCARoots() bool { return fallbackRoots() }
