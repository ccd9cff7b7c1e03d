package imageconfig

import (
	"net/http"
	"strings"
)

// schemeGuard refuses plain HTTP except to the registries the operator
// listed as insecure. go-containerregistry falls back to plain HTTP on its
// own for registries that look local (localhost, 127.0.0.0/8, RFC 1918
// addresses); an in-cluster registry at 10.x would then get pull
// credentials in clear text. With the guard that needs an explicit opt-in.
type schemeGuard struct {
	inner http.RoundTripper
	// insecure holds lower-case host[:port] as the registry is named in
	// image references.
	insecure map[string]bool
}

// RoundTrip implements http.RoundTripper.
func (g *schemeGuard) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme == "http" && !g.insecure[strings.ToLower(req.URL.Host)] {
		if req.Body != nil {
			_ = req.Body.Close() // a RoundTripper closes the body, even on errors
		}
		return nil, &errPlainHTTP{host: req.URL.Host}
	}
	return g.inner.RoundTrip(req)
}
