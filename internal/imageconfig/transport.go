package imageconfig

import (
	"compress/gzip"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"
)

const (
	// maxRedirects bounds a redirect chain. Registries redirect blob
	// downloads once, to their storage; go-containerregistry's own redirect
	// check has no limit.
	maxRedirects = 5
	// maxHeaderBytes bounds the header of an answer (Go's default is
	// 10 MiB). Registries send a few hundred bytes.
	maxHeaderBytes = 64 << 10
	// keepAlive is the TCP keep-alive of registry connections.
	keepAlive = 30 * time.Second
)

// newTransport is the transport of every registry request: base (a clone
// of it, or of go-containerregistry's default when nil) with the network
// policy at every dial, timeouts no longer than a lookup, a bounded header,
// no transparent decompression, and the guard in front.
func newTransport(base http.RoundTripper, timeout time.Duration, pol *netPolicy, insecure map[string]bool) (http.RoundTripper, error) {
	own := base == nil
	if own {
		base = remote.DefaultTransport
	}
	ht, ok := base.(*http.Transport)
	if !ok {
		return nil, errors.New("the registry transport must be an *http.Transport (the webhook sets its dialer, timeouts and limits)")
	}
	if ht.DialTLSContext != nil {
		return nil, errors.New("the registry transport must not set DialTLSContext (the webhook checks every address it dials)")
	}
	t := ht.Clone()
	dial := t.DialContext
	if own {
		dial = nil // go-containerregistry's dialer, replaced by the policy's
	}
	t.DialContext = pol.dialContext(dial, timeout)
	t.Proxy = pol.proxy(t.Proxy)
	t.DisableCompression = true
	t.MaxResponseHeaderBytes = maxHeaderBytes
	if t.TLSHandshakeTimeout == 0 || t.TLSHandshakeTimeout > timeout {
		t.TLSHandshakeTimeout = timeout
	}
	if t.ResponseHeaderTimeout == 0 || t.ResponseHeaderTimeout > timeout {
		t.ResponseHeaderTimeout = timeout
	}
	return &guard{inner: t, insecure: insecure}, nil
}

// guard stands in front of every registry request. It refuses plain HTTP
// except to the registries the operator listed as insecure
// (go-containerregistry falls back to plain HTTP on its own for registries
// that look local — localhost, 127.0.0.0/8, RFC 1918 addresses — and an
// in-cluster registry at 10.x would then get pull credentials in clear
// text); refuses redirect chains longer than maxRedirects; asks for
// uncompressed answers and inflates a gzip one only up to the limit; and
// caps every answer's body (see answerLimit) before anything parses it.
type guard struct {
	inner http.RoundTripper
	// insecure holds lower-case host[:port] as the registry is named in
	// image references.
	insecure map[string]bool
}

// RoundTrip implements http.RoundTripper.
func (g *guard) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := g.check(req); err != nil {
		if req.Body != nil {
			_ = req.Body.Close() // a RoundTripper closes the body, even on errors
		}
		return nil, err
	}
	out := req.Clone(req.Context())
	// Asked for explicitly, Go's transport does not inflate gzip answers
	// behind our back; a registry that compresses anyway is read below.
	out.Header.Set("Accept-Encoding", "identity")
	resp, err := g.inner.RoundTrip(out)
	if err != nil {
		return nil, err
	}
	if err := limitBody(resp, req); err != nil {
		_ = resp.Body.Close()
		return nil, err
	}
	return resp, nil
}

func (g *guard) check(req *http.Request) error {
	if req.URL.Scheme == "http" && !g.insecure[strings.ToLower(req.URL.Host)] {
		return &errPlainHTTP{host: req.URL.Host}
	}
	n := 0
	for r := req; r.Response != nil && r.Response.Request != nil; r = r.Response.Request {
		if n++; n > maxRedirects {
			return &errTooManyRedirects{}
		}
	}
	return nil
}

// answerLimit is what an answer to req is and how many bytes of it are
// read: manifests and blobs (the lookup reads only config blobs) up to
// their limits, error answers and everything else (the ping, token
// services) up to maxOtherBytes. A redirected request counts as the one
// that was redirected.
func answerLimit(req *http.Request, status int) (string, int64) {
	first := req
	for first.Response != nil && first.Response.Request != nil {
		first = first.Response.Request
	}
	if status < 300 && strings.HasPrefix(first.URL.Path, "/v2/") {
		switch {
		case strings.Contains(first.URL.Path, "/manifests/"):
			return "image manifest", maxManifestBytes
		case strings.Contains(first.URL.Path, "/blobs/"):
			return "image config", maxConfigBytes
		}
	}
	return "answer to a ping, token or failed request", maxOtherBytes
}

// limitBody bounds resp's body for req: refused at once when its declared
// length is over the limit, cut with a *tooLargeError past it otherwise,
// before and after inflating a gzip answer.
func limitBody(resp *http.Response, req *http.Request) error {
	what, limit := answerLimit(req, resp.StatusCode)
	if resp.ContentLength > limit {
		return &tooLargeError{what: what, limit: limit, declared: true}
	}
	body := &cappedBody{r: resp.Body, left: limit, err: &tooLargeError{what: what, limit: limit}}
	resp.Body = body
	switch enc := strings.ToLower(strings.TrimSpace(resp.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(body)
		if err != nil {
			return &errEncoding{encoding: enc}
		}
		resp.Body = &cappedBody{r: zr, closer: body, left: limit, err: &tooLargeError{what: what + " (inflated)", limit: limit}}
		resp.Header.Del("Content-Encoding")
		resp.Header.Del("Content-Length")
		resp.ContentLength = -1
		resp.Uncompressed = true
	default:
		return &errEncoding{encoding: enc}
	}
	return nil
}

// cappedBody reads at most left bytes of r, then fails with err.
type cappedBody struct {
	r io.Reader
	// closer is closed with the body; nil: r is an io.ReadCloser.
	closer io.Closer
	left   int64
	err    error
}

func (b *cappedBody) Read(p []byte) (int, error) {
	if b.left < 0 {
		return 0, b.err
	}
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	if b.left < 0 {
		return n - 1, b.err
	}
	return n, err
}

func (b *cappedBody) Close() error {
	if b.closer != nil {
		return b.closer.Close()
	}
	if c, ok := b.r.(io.Closer); ok {
		return c.Close()
	}
	return nil
}
