package imageconfig

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/latchkey-dev/latchkey/internal/devtools/ociimage"
)

// authMode is how the test registry's front authenticates /v2/ requests.
type authMode int

const (
	authNone   authMode = iota // anonymous pulls allowed
	authBasic                  // Basic credentials on every request
	authBearer                 // 401 + Bearer challenge; tokens from /token
)

// front is an auth front for go-containerregistry's in-memory registry. It
// counts requests and can hold them (gate) or hang them (hang).
type front struct {
	inner http.Handler
	mode  authMode
	// users are the user:password pairs accepted as Basic credentials, at
	// /v2/ (authBasic) and at the token endpoint (authBearer).
	users map[string]string
	// refreshTokens are accepted at the token endpoint, as POST
	// grant_type=refresh_token or as the password of acrNullGUID.
	refreshTokens map[string]bool
	// exchange answers POST /oauth2/exchange; nil: 404.
	exchange func(form url.Values) (status int, body string)
	// token, when set, answers /token instead of the front.
	token http.HandlerFunc
	// realm, when set, is the token service the Bearer challenge names
	// (default /token on the registry itself).
	realm string

	requests  atomic.Int64 // every request
	manifests atomic.Int64 // GET/HEAD of manifests
	blobs     atomic.Int64 // GET/HEAD of blobs
	// gate, when set, holds manifest requests until it is closed;
	// arrived gets a value when one is held.
	gate    chan struct{}
	arrived chan struct{}
	// hang holds every request until the client gives up.
	hang atomic.Bool

	mu     sync.Mutex
	tokens map[string]bool // bearer tokens issued
	n      int
}

func newFront(inner http.Handler, mode authMode) *front {
	return &front{inner: inner, mode: mode, users: map[string]string{}, refreshTokens: map[string]bool{}, tokens: map[string]bool{}}
}

func (f *front) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.requests.Add(1)
	if f.hang.Load() {
		<-r.Context().Done()
		return
	}
	switch r.URL.Path {
	case "/oauth2/exchange":
		f.serveExchange(w, r)
		return
	case "/token":
		if f.token != nil {
			f.token(w, r)
			return
		}
		f.serveToken(w, r)
		return
	}
	if strings.Contains(r.URL.Path, "/blobs/") {
		f.blobs.Add(1)
	}
	if strings.Contains(r.URL.Path, "/manifests/") {
		f.manifests.Add(1)
		if f.gate != nil {
			select {
			case f.arrived <- struct{}{}:
			default:
			}
			select {
			case <-f.gate:
			case <-r.Context().Done():
				return
			}
		}
	}
	if !f.authorized(r) {
		scheme := "https"
		if r.TLS == nil {
			scheme = "http"
		}
		switch f.mode {
		case authBasic:
			w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
		case authBearer:
			realm := f.realm
			if realm == "" {
				realm = fmt.Sprintf("%s://%s/token", scheme, r.Host)
			}
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="%s",service="%s"`, realm, r.Host))
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`)
		return
	}
	f.inner.ServeHTTP(w, r)
}

func (f *front) authorized(r *http.Request) bool {
	switch f.mode {
	case authBasic:
		u, p, ok := r.BasicAuth()
		return ok && f.users[u] == p && p != ""
	case authBearer:
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		f.mu.Lock()
		defer f.mu.Unlock()
		return ok && f.tokens[tok]
	}
	return true
}

// serveToken issues bearer tokens for valid Basic credentials (GET, the
// docker token spec) or refresh tokens (POST, the docker OAuth2 spec).
func (f *front) serveToken(w http.ResponseWriter, r *http.Request) {
	ok := false
	switch r.Method {
	case http.MethodGet:
		u, p, basic := r.BasicAuth()
		ok = basic && ((f.users[u] == p && p != "") || (u == acrNullGUID && f.refreshTokens[p]))
	case http.MethodPost:
		_ = r.ParseForm()
		ok = r.PostForm.Get("grant_type") == "refresh_token" && f.refreshTokens[r.PostForm.Get("refresh_token")]
	}
	if !ok {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}`)
		return
	}
	f.mu.Lock()
	f.n++
	tok := fmt.Sprintf("token-%d", f.n)
	f.tokens[tok] = true
	f.mu.Unlock()
	_ = json.NewEncoder(w).Encode(map[string]string{"token": tok, "access_token": tok})
}

func (f *front) serveExchange(w http.ResponseWriter, r *http.Request) {
	if f.exchange == nil || r.Method != http.MethodPost {
		http.NotFound(w, r)
		return
	}
	_ = r.ParseForm()
	status, body := f.exchange(r.PostForm)
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

// testRegistry is one in-memory registry, reachable two ways: directly
// over plain HTTP for seeding images, and through the auth front for the
// Client.
type testRegistry struct {
	t     *testing.T
	front *front
	seed  *httptest.Server
	srv   *httptest.Server
	// host is the registry's name in image references.
	host string
	// transport reaches srv: trusts its certificate and, for names other
	// than 127.0.0.1, dials srv whatever the host.
	transport *http.Transport
}

type registryOpts struct {
	mode      authMode
	plainHTTP bool
	// host, when set, is the name the registry is reached by (e.g.
	// myregistry.azurecr.io); a dial-redirecting transport makes it work.
	host string
	// ip, when set, is the address to listen on (default 127.0.0.1).
	ip string
}

func newTestRegistry(t *testing.T, o registryOpts) *testRegistry {
	t.Helper()
	inner := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	tr := &testRegistry{t: t, front: newFront(inner, o.mode)}
	tr.seed = httptest.NewServer(inner)
	t.Cleanup(tr.seed.Close)

	tr.srv = httptest.NewUnstartedServer(tr.front)
	tr.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // handshakes the tests break on purpose
	if o.ip != "" {
		l, err := net.Listen("tcp", net.JoinHostPort(o.ip, "0"))
		if err != nil {
			t.Fatal(err)
		}
		_ = tr.srv.Listener.Close()
		tr.srv.Listener = l
	}
	tr.transport = &http.Transport{}
	if o.plainHTTP {
		tr.srv.Start()
	} else {
		cert, pool := selfSignedCert(t, o.host, o.ip)
		tr.srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		tr.srv.StartTLS()
		tr.transport.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	t.Cleanup(tr.srv.Close)
	addr := tr.srv.Listener.Addr().String()
	tr.host = addr
	if o.host != "" {
		tr.host = o.host
		var d net.Dialer
		tr.transport.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		}
	}
	t.Cleanup(tr.transport.CloseIdleConnections)
	return tr
}

// selfSignedCert is a certificate for 127.0.0.1, host and ip, and a pool
// that trusts it.
func selfSignedCert(t *testing.T, host, ip string) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "test registry"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
	}
	if host != "" {
		tmpl.DNSNames = []string{host}
	}
	if ip != "" {
		tmpl.IPAddresses = append(tmpl.IPAddresses, net.ParseIP(ip))
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// ref is repoTag on this registry, as a pod would name it.
func (tr *testRegistry) ref(repoTag string) string { return tr.host + "/" + repoTag }

// seedRef is repoTag on the seeding server.
func (tr *testRegistry) seedRef(repoTag string) name.Reference {
	tr.t.Helper()
	ref, err := name.ParseReference(strings.TrimPrefix(tr.seed.URL, "http://")+"/"+repoTag, name.Insecure)
	if err != nil {
		tr.t.Fatal(err)
	}
	return ref
}

// push stores an image under repoTag and returns its digest.
func (tr *testRegistry) push(repoTag string, img v1.Image) string {
	tr.t.Helper()
	if err := remote.Write(tr.seedRef(repoTag), img); err != nil {
		tr.t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		tr.t.Fatal(err)
	}
	return d.String()
}

// pushIndex stores a multi-platform index of imgs under repoTag.
func (tr *testRegistry) pushIndex(repoTag string, imgs ...v1.Image) {
	tr.t.Helper()
	var adds []mutate.IndexAddendum
	for _, img := range imgs {
		cf, err := img.ConfigFile()
		if err != nil {
			tr.t.Fatal(err)
		}
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: cf.Platform()}})
	}
	idx := mutate.AppendManifests(empty.Index, adds...)
	if err := remote.WriteIndex(tr.seedRef(repoTag), idx); err != nil {
		tr.t.Fatal(err)
	}
}

// image builds a test image for platform with entrypoint and cmd.
func image(t *testing.T, platform string, entrypoint, cmd []string) v1.Image {
	t.Helper()
	parts := strings.Split(platform, "/")
	spec := ociimage.Spec{
		Files:        []ociimage.File{{Path: "/bin/app", Mode: 0o755, Data: []byte(platform)}},
		Entrypoint:   entrypoint,
		Cmd:          cmd,
		User:         "65532:65532",
		WorkingDir:   "/work",
		OS:           parts[0],
		Architecture: parts[1],
	}
	img, err := ociimage.Build(spec)
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) == 3 {
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		cf = cf.DeepCopy()
		cf.Variant = parts[2]
		if img, err = mutate.ConfigFile(img, cf); err != nil {
			t.Fatal(err)
		}
	}
	return img
}

// fakeClock is a settable clock for cache TTLs.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// fakeCredential is an azcore.TokenCredential handing out a JWT-shaped
// access token with a tenant claim.
type fakeCredential struct {
	token  string
	err    error
	calls  atomic.Int64
	mu     sync.Mutex
	scopes []string
}

func newFakeCredential(tenant string) *fakeCredential {
	return &fakeCredential{token: fakeJWT(map[string]any{"tid": tenant, "aud": "https://containerregistry.azure.net"})}
}

func (c *fakeCredential) GetToken(_ context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	c.calls.Add(1)
	c.mu.Lock()
	c.scopes = append(c.scopes, o.Scopes...)
	c.mu.Unlock()
	if c.err != nil {
		return azcore.AccessToken{}, c.err
	}
	return azcore.AccessToken{Token: c.token, ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// fakeJWT is an unsigned JWT with claims.
func fakeJWT(claims map[string]any) string {
	b, _ := json.Marshal(claims)
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(`{"alg":"none"}`)) + "." + enc.EncodeToString(b) + ".sig"
}

// dockerConfigJSON is a .dockerconfigjson with one entry for registry.
func dockerConfigJSON(registry, user, pass string) []byte {
	auth := base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
	b, _ := json.Marshal(map[string]any{"auths": map[string]any{registry: map[string]string{"auth": auth}}})
	return b
}

// loopback is the test registries' network, which the webhook refuses by
// default.
var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}

// newClient is a Client reaching tr, with o's other settings; it may
// connect to loopback addresses unless o says which networks it may.
func newClient(t *testing.T, tr *testRegistry, o Options) *Client {
	t.Helper()
	if o.Transport == nil && tr != nil {
		o.Transport = tr.transport
	}
	if o.AllowNetworks == nil {
		o.AllowNetworks = loopback
	}
	r, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

var linuxAMD64 = Platform{OS: "linux", Architecture: "amd64"}
