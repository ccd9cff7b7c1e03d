package imageconfig

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

func TestNetPolicyRefuses(t *testing.T) {
	deny := []netip.Prefix{netip.MustParsePrefix("10.96.0.0/12")}
	allow := []netip.Prefix{netip.MustParsePrefix("169.254.20.10/32"), netip.MustParsePrefix("10.96.0.10/32")}
	p := newNetPolicy(allow, deny, nil)
	def := newNetPolicy(nil, nil, nil)
	tests := []struct {
		addr            string
		byDefault, with bool // refused by default; with allow and deny
	}{
		{"127.0.0.1", true, true},
		{"127.1.2.3", true, true},
		{"::1", true, true},
		{"::ffff:127.0.0.1", true, true},
		{"0.0.0.0", true, true},
		{"::", true, true},
		{"169.254.169.254", true, true},
		{"::ffff:169.254.169.254", true, true},
		{"64:ff9b::a9fe:a9fe", true, true}, // 169.254.169.254 through NAT64
		{"fe80::1", true, true},
		{"fe80::1%eth0", true, true},
		{"fd00:ec2::254", true, true},
		{"168.63.129.16", true, true},
		{"224.0.0.1", true, true},
		{"255.255.255.255", true, true},
		{"169.254.20.10", true, false}, // allowed explicitly
		{"10.1.2.3", false, false},     // private: in-cluster registries, ACR private endpoints
		{"10.96.0.1", false, true},     // denied explicitly
		{"10.96.0.10", false, true},    // deny wins over allow
		{"192.168.1.1", false, false},
		{"fd12::1", false, false},
		{"64:ff9b::808:808", false, false},
		{"20.50.2.1", false, false},
		{"2001:db8::1", false, false},
	}
	for _, tt := range tests {
		a := netip.MustParseAddr(tt.addr)
		if got := def.refuses(a); got != tt.byDefault {
			t.Errorf("by default, refuses(%s) = %v, want %v", tt.addr, got, tt.byDefault)
		}
		if got := p.refuses(a); got != tt.with {
			t.Errorf("with allow %v and deny %v, refuses(%s) = %v, want %v", allow, deny, tt.addr, got, tt.with)
		}
	}
}

func TestNetPolicyExempt(t *testing.T) {
	p := newNetPolicy(nil, nil, map[string]bool{"registry.local": true, "10.0.0.5:5000": true})
	for addr, want := range map[string]bool{
		"registry.local:443":  true,
		"registry.local:80":   true,
		"Registry.Local:443":  true,
		"registry.local:5000": false,
		"10.0.0.5:5000":       true,
		"10.0.0.5:443":        false,
		"other.local:443":     false,
	} {
		if got := p.exempt(addr); got != want {
			t.Errorf("exempt(%q) = %v, want %v", addr, got, want)
		}
	}
}

// counter is a TCP listener that counts the connections it accepts.
type counter struct {
	l     net.Listener
	conns atomic.Int64
}

func newCounter(t *testing.T, network, addr string) *counter {
	t.Helper()
	l, err := net.Listen(network, addr)
	if err != nil {
		t.Skipf("cannot listen on %s: %v", addr, err)
	}
	c := &counter{l: l}
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			c.conns.Add(1)
			_ = conn.Close()
		}
	}()
	return c
}

func (c *counter) port() string {
	_, port, _ := net.SplitHostPort(c.l.Addr().String())
	return port
}

// TestLookupRefusesInternalRegistries: with the default policy, a pod
// cannot make the webhook connect to its own loopback or to the node's
// metadata service by naming them as its registry; nothing is dialled, and
// the message says no more than that.
func TestLookupRefusesInternalRegistries(t *testing.T) {
	v4 := newCounter(t, "tcp4", "127.0.0.1:0")
	r, err := New(Options{Transport: &http.Transport{}})
	if err != nil {
		t.Fatal(err)
	}
	for _, image := range []string{
		"127.0.0.1:" + v4.port() + "/app:v1",
		"localhost:" + v4.port() + "/app:v1",
		"0.0.0.0:" + v4.port() + "/app:v1",
		"[::ffff:127.0.0.1]:" + v4.port() + "/app:v1",
		"[::1]:" + v4.port() + "/app:v1",
		"169.254.169.254/metadata/instance:latest",
		"[fd00:ec2::254]/latest:meta-data",
		"168.63.129.16/machine:v1",
	} {
		t.Run(image, func(t *testing.T) {
			_, err := r.Lookup(t.Context(), Request{Image: image})
			if !errors.Is(err, ErrRegistry) || !strings.Contains(err.Error(), "the registry's address is one the webhook does not connect to") {
				t.Fatalf("err = %v, want ErrRegistry saying the address is refused", err)
			}
		})
	}
	if n := v4.conns.Load(); n != 0 {
		t.Errorf("the refused registry got %d connections", n)
	}
}

// hostIP is an address of this machine's that is neither loopback nor
// link-local, for a registry the default policy lets the webhook reach.
func hostIP(t *testing.T) string {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	pol := newNetPolicy(nil, nil, nil)
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil {
			if ip, ok := netip.AddrFromSlice(n.IP.To4()); ok && !pol.refuses(ip) {
				return ip.String()
			}
		}
	}
	t.Skip("no IPv4 address outside loopback and link-local to serve a test registry on")
	return ""
}

// tokenService is a Bearer token service at https://localhost:<port>
// issuing tokens the front of tr accepts, counting the connections it gets.
type tokenService struct {
	url   string
	conns atomic.Int64
	cert  *x509.Certificate
}

func newTokenService(t *testing.T, tr *testRegistry) *tokenService {
	t.Helper()
	ts := &tokenService{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(tr.front.serveToken))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			ts.conns.Add(1)
		}
	}
	cert, _ := selfSignedCert(t, "localhost", "")
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	ts.url = "https://localhost:" + port + "/token"
	ts.cert = cert.Leaf
	return ts
}

// trusting is a transport trusting tr's and ts's certificates, dialling
// for real.
func trusting(tr *testRegistry, ts *tokenService) *http.Transport {
	pool := tr.transport.TLSClientConfig.RootCAs.Clone()
	pool.AddCert(ts.cert)
	return &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
}

// TestLookupRefusesInternalRealmsAndRedirects: the registry the pod names
// is reachable, but it sends the webhook to loopback for its token or its
// blob. The webhook does not go, and says only that the registry sent it
// somewhere it does not connect to.
func TestLookupRefusesInternalRealmsAndRedirects(t *testing.T) {
	ip := hostIP(t)
	tr := newTestRegistry(t, registryOpts{mode: authBearer, ip: ip})
	tr.front.users["bob"] = "hunter2-long"
	tr.push("private/app:v1", image(t, "linux/amd64", []string{"/bin/app"}, nil))
	ts := newTokenService(t, tr)
	tr.front.realm = ts.url
	secrets := []PullSecret{{Name: "regcred", Type: SecretTypeDockerConfigJSON, Data: dockerConfigJSON(tr.host, "bob", "hunter2-long")}}
	req := Request{Image: tr.ref("private/app:v1"), Platform: linuxAMD64, PullSecrets: secrets}
	transport := trusting(tr, ts)

	t.Run("token service on loopback", func(t *testing.T) {
		r, err := New(Options{Transport: transport})
		if err != nil {
			t.Fatal(err)
		}
		_, err = r.Lookup(t.Context(), req)
		if !errors.Is(err, ErrRegistry) || !strings.Contains(err.Error(), "the registry sent the webhook to an address it does not connect to") {
			t.Fatalf("err = %v, want ErrRegistry saying the registry sent it to a refused address", err)
		}
		checkNoRealm(t, err, ts)
		if n := ts.conns.Load(); n != 0 {
			t.Errorf("the token service got %d connections", n)
		}
	})
	t.Run("token service at an IP literal on loopback", func(t *testing.T) {
		u, _ := url.Parse(ts.url)
		tr.front.realm = "https://127.0.0.1:" + u.Port() + "/token"
		defer func() { tr.front.realm = ts.url }()
		r, err := New(Options{Transport: transport})
		if err != nil {
			t.Fatal(err)
		}
		_, err = r.Lookup(t.Context(), req)
		if !errors.Is(err, ErrRegistry) {
			t.Fatalf("err = %v, want ErrRegistry", err)
		}
		checkNoRealm(t, err, ts)
		if n := ts.conns.Load(); n != 0 {
			t.Errorf("the token service got %d connections", n)
		}
	})
	t.Run("token service allowed", func(t *testing.T) {
		r, err := New(Options{Transport: transport, AllowNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.Lookup(t.Context(), req); err != nil {
			t.Fatalf("with loopback allowed: %v", err)
		}
		if ts.conns.Load() == 0 {
			t.Error("the token service got no connection")
		}
	})
	t.Run("blob redirected to loopback", func(t *testing.T) {
		tr.front.mode, tr.front.realm = authNone, ""
		defer func() { tr.front.mode, tr.front.realm = authBearer, ts.url }()
		loop := newCounter(t, "tcp4", "127.0.0.1:0")
		inner := tr.front.inner
		tr.front.inner = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.Contains(r.URL.Path, "/blobs/") {
				http.Redirect(w, r, "https://localhost:"+loop.port()+"/blob", http.StatusTemporaryRedirect)
				return
			}
			inner.ServeHTTP(w, r)
		})
		defer func() { tr.front.inner = inner }()
		r, err := New(Options{Transport: transport})
		if err != nil {
			t.Fatal(err)
		}
		_, err = r.Lookup(t.Context(), Request{Image: tr.ref("private/app:v1"), Platform: linuxAMD64})
		if !errors.Is(err, ErrRegistry) || !strings.Contains(err.Error(), "the registry sent the webhook to an address it does not connect to") {
			t.Fatalf("err = %v, want ErrRegistry saying the registry sent it to a refused address", err)
		}
		if strings.Contains(err.Error(), loop.port()) || strings.Contains(err.Error(), "localhost") {
			t.Errorf("message names the redirect target: %v", err)
		}
		if n := loop.conns.Load(); n != 0 {
			t.Errorf("the redirect target got %d connections", n)
		}
	})
}

// checkNoRealm fails when a message names the token service.
func checkNoRealm(t *testing.T, err error, ts *tokenService) {
	t.Helper()
	u, _ := url.Parse(ts.url)
	for _, s := range []string{"localhost", "127.0.0.1", "::1", u.Port(), "/token"} {
		if strings.Contains(err.Error(), s) {
			t.Errorf("message names the token service (%q): %v", s, err)
		}
	}
}

// TestLookupDenyNetworks: networks the operator denies are refused even
// where the default allows them; a registry the operator listed as
// insecure is reached wherever it is.
func TestLookupDenyNetworks(t *testing.T) {
	ip := hostIP(t)
	deny := []netip.Prefix{netip.PrefixFrom(netip.MustParseAddr(ip), 32)}

	tls := newTestRegistry(t, registryOpts{ip: ip})
	tls.push("app:v1", image(t, "linux/amd64", []string{"/bin/app"}, nil))
	r, err := New(Options{Transport: tls.transport, DenyNetworks: deny})
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.Lookup(t.Context(), Request{Image: tls.ref("app:v1"), Platform: linuxAMD64})
	if !errors.Is(err, ErrRegistry) || !strings.Contains(err.Error(), "the registry's address is one the webhook does not connect to") {
		t.Fatalf("denied network: err = %v, want ErrRegistry saying the address is refused", err)
	}
	r, err = New(Options{Transport: tls.transport})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Lookup(t.Context(), Request{Image: tls.ref("app:v1"), Platform: linuxAMD64}); err != nil {
		t.Fatalf("without the deny list: %v", err)
	}

	plain := newTestRegistry(t, registryOpts{ip: ip, plainHTTP: true})
	plain.push("app:v1", image(t, "linux/amd64", []string{"/bin/app"}, nil))
	r, err = New(Options{Transport: plain.transport, DenyNetworks: deny, InsecureRegistries: []string{plain.host}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Lookup(t.Context(), Request{Image: plain.ref("app:v1"), Platform: linuxAMD64}); err != nil {
		t.Fatalf("insecure registry in a denied network: %v", err)
	}
}

// connectProxy is an HTTP CONNECT proxy counting the tunnels it opens.
type connectProxy struct {
	url     *url.URL
	tunnels atomic.Int64
}

func newConnectProxy(t *testing.T) *connectProxy {
	t.Helper()
	p := &connectProxy{}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodConnect {
			http.Error(w, "CONNECT only", http.StatusMethodNotAllowed)
			return
		}
		p.tunnels.Add(1)
		var d net.Dialer
		up, err := d.DialContext(r.Context(), "tcp", r.Host)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		w.WriteHeader(http.StatusOK)
		down, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			_ = up.Close()
			return
		}
		mu.Lock()
		conns = append(conns, up, down)
		mu.Unlock()
		wg.Go(func() { _, _ = io.Copy(up, buf); _ = up.Close() })
		wg.Go(func() { _, _ = io.Copy(down, up); _ = down.Close() })
	}))
	t.Cleanup(func() {
		srv.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	p.url, _ = url.Parse(srv.URL)
	return p
}

// TestLookupThroughProxy: a proxy on loopback (a sidecar) is reached, as
// the operator configured it; a registry named on loopback is refused
// before the proxy is asked to connect to it.
func TestLookupThroughProxy(t *testing.T) {
	ip := hostIP(t)
	tr := newTestRegistry(t, registryOpts{ip: ip})
	tr.push("app:v1", image(t, "linux/amd64", []string{"/bin/app"}, nil))
	proxy := newConnectProxy(t)
	transport := tr.transport.Clone()
	transport.Proxy = http.ProxyURL(proxy.url)
	r, err := New(Options{Transport: transport})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Lookup(t.Context(), Request{Image: tr.ref("app:v1"), Platform: linuxAMD64}); err != nil {
		t.Fatalf("through the proxy: %v", err)
	}
	if proxy.tunnels.Load() == 0 {
		t.Fatal("the lookup did not go through the proxy")
	}
	before := proxy.tunnels.Load()
	for _, image := range []string{"localhost:5000/app:v1", "169.254.169.254/app:v1"} {
		_, err := r.Lookup(context.Background(), Request{Image: image, Platform: linuxAMD64})
		if !errors.Is(err, ErrRegistry) || !strings.Contains(err.Error(), "the registry's address is one the webhook does not connect to") {
			t.Errorf("%s through the proxy: err = %v, want ErrRegistry saying the address is refused", image, err)
		}
	}
	if n := proxy.tunnels.Load() - before; n != 0 {
		t.Errorf("the proxy was asked for %d tunnels to refused registries", n)
	}
}

func TestNewRejectsTransports(t *testing.T) {
	for name, tr := range map[string]http.RoundTripper{
		"not an *http.Transport": roundTripperFunc(func(*http.Request) (*http.Response, error) { return nil, errors.New("no") }),
		"own TLS dialer": &http.Transport{DialTLSContext: func(context.Context, string, string) (net.Conn, error) {
			return nil, fmt.Errorf("no")
		}},
	} {
		if _, err := New(Options{Transport: tr}); err == nil {
			t.Errorf("%s: New accepted the transport", name)
		}
	}
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
