package imageconfig

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// refusedNetworks are the addresses the webhook does not connect to unless
// Options.AllowNetworks says so. A pod's author chooses the registry, and
// the registry chooses its token service and where it redirects: without
// this, any of them could point the webhook at its own loopback ports or
// at the node's cloud metadata service. Private networks (RFC 1918, ULA)
// are not refused: in-cluster registries and ACR private endpoints live
// there, and a pod reaches them itself; Options.DenyNetworks refuses them
// where wanted (e.g. the service and node networks).
var refusedNetworks = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),          // "this network": 0.0.0.0 reaches the webhook's own host
	netip.MustParsePrefix("127.0.0.0/8"),        // loopback: the webhook's own ports
	netip.MustParsePrefix("169.254.0.0/16"),     // link-local, with the metadata services at 169.254.169.254
	netip.MustParsePrefix("168.63.129.16/32"),   // Azure's host endpoint (WireServer)
	netip.MustParsePrefix("224.0.0.0/4"),        // multicast
	netip.MustParsePrefix("255.255.255.255/32"), // broadcast
	netip.MustParsePrefix("::/128"),             // unspecified
	netip.MustParsePrefix("::1/128"),            // loopback
	netip.MustParsePrefix("fe80::/10"),          // link-local
	netip.MustParsePrefix("fd00:ec2::254/128"),  // AWS's metadata service over IPv6
	netip.MustParsePrefix("ff00::/8"),           // multicast
}

// nat64 is the well-known NAT64 prefix: its addresses reach the IPv4
// address in their last 32 bits.
var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// netPolicy decides which addresses registry requests may connect to.
type netPolicy struct {
	allow, deny []netip.Prefix
	// named are the registries (lower-case host[:port]) the operator listed
	// as insecure: reached wherever they are.
	named map[string]bool
	// proxies are the proxies (host:port) requests went through: the
	// operator configured them, so they are reached wherever they are.
	proxies sync.Map
	// lookupIP resolves the hosts of proxied requests.
	lookupIP func(ctx context.Context, network, host string) ([]netip.Addr, error)
}

func newNetPolicy(allow, deny []netip.Prefix, named map[string]bool) *netPolicy {
	return &netPolicy{allow: allow, deny: deny, named: named, lookupIP: net.DefaultResolver.LookupNetIP}
}

// refuses reports whether the policy refuses a connection to a.
func (p *netPolicy) refuses(a netip.Addr) bool {
	a = a.Unmap().WithZone("")
	switch {
	case in(p.deny, a):
		return true
	case in(p.allow, a):
		return false
	case nat64.Contains(a):
		b := a.As16()
		return p.refuses(netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}))
	}
	return in(refusedNetworks, a)
}

func in(prefixes []netip.Prefix, a netip.Addr) bool {
	return slices.ContainsFunc(prefixes, func(p netip.Prefix) bool { return p.Contains(a) })
}

// exempt reports whether addr (host:port, as dialled) is a registry the
// operator named or a proxy.
func (p *netPolicy) exempt(addr string) bool {
	addr = strings.ToLower(addr)
	if _, ok := p.proxies.Load(addr); ok || p.named[addr] {
		return true
	}
	host, port, err := net.SplitHostPort(addr)
	return err == nil && (port == "443" || port == "80") && p.named[host]
}

// dialContext is a DialContext that applies the policy: before connecting
// to each address a host name resolves to (so a name that resolves to a
// public address once and to a refused one next cannot slip through), and
// again on the connection's remote address (which also covers a dial
// function given with Options.Transport). inner nil dials directly.
func (p *netPolicy) dialContext(inner func(ctx context.Context, network, addr string) (net.Conn, error), timeout time.Duration) func(ctx context.Context, network, addr string) (net.Conn, error) {
	plain, checked := inner, inner
	if inner == nil {
		plain = (&net.Dialer{Timeout: timeout, KeepAlive: keepAlive}).DialContext
		checked = (&net.Dialer{Timeout: timeout, KeepAlive: keepAlive, ControlContext: p.control}).DialContext
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		if p.exempt(addr) {
			return plain(ctx, network, addr)
		}
		conn, err := checked(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		if ap, ok := remoteAddr(conn); !ok || p.refuses(ap.Addr()) {
			_ = conn.Close()
			return nil, &net.OpError{Op: "dial", Net: network, Err: &errAddressRefused{host: addr}}
		}
		return conn, nil
	}
}

// control is the net.Dialer check made before each connection attempt.
func (p *netPolicy) control(_ context.Context, _, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil || p.refuses(ap.Addr()) {
		return &errAddressRefused{host: address}
	}
	return nil
}

func remoteAddr(conn net.Conn) (netip.AddrPort, bool) {
	if a, ok := conn.RemoteAddr().(*net.TCPAddr); ok {
		return a.AddrPort(), true
	}
	ap, err := netip.ParseAddrPort(conn.RemoteAddr().String())
	return ap, err == nil
}

// proxy wraps a transport's Proxy function: the proxies it returns are
// exempt, and the host of a request that goes through one is checked
// here, as the proxy, not the webhook, connects to it. A host name the
// webhook cannot resolve is left to the proxy (behind a proxy, often only
// the proxy resolves external names).
func (p *netPolicy) proxy(inner func(*http.Request) (*url.URL, error)) func(*http.Request) (*url.URL, error) {
	if inner == nil {
		return nil
	}
	return func(req *http.Request) (*url.URL, error) {
		u, err := inner(req)
		if err != nil || u == nil {
			return u, err
		}
		p.proxies.Store(canonicalAddr(u), true)
		if p.exempt(canonicalAddr(req.URL)) {
			return u, nil
		}
		host := req.URL.Hostname()
		addrs := []netip.Addr{}
		if a, perr := netip.ParseAddr(host); perr == nil {
			addrs = append(addrs, a)
		} else if resolved, lerr := p.lookupIP(req.Context(), "ip", host); lerr == nil {
			addrs = resolved
		}
		if slices.ContainsFunc(addrs, p.refuses) {
			return nil, &errAddressRefused{host: req.URL.Host}
		}
		return u, nil
	}
}

// canonicalAddr is u's host:port, with the scheme's default port.
func canonicalAddr(u *url.URL) string {
	port := u.Port()
	if port == "" {
		switch u.Scheme {
		case "http":
			port = "80"
		case "socks5", "socks5h":
			port = "1080"
		default:
			port = "443"
		}
	}
	return strings.ToLower(net.JoinHostPort(u.Hostname(), port))
}
