package akvemu

import (
	"context"
	"errors"
	"io"
	"maps"
	"net"
	"net/http"
	"sync"
	"time"
)

// ConnectProxy is an HTTP proxy that answers only CONNECT and tunnels every
// CONNECT to one address (the emulator's) whatever host it names: to a
// client it is the corporate proxy in front of Azure. It counts the hosts
// asked for, so a test can show which traffic went through it, and the
// requests it refused (anything but CONNECT).
type ConnectProxy struct {
	target string
	ln     net.Listener
	srv    *http.Server

	mu      sync.Mutex
	hosts   map[string]int
	refused map[string]int
}

// StartConnectProxy listens on a free loopback port and tunnels to target
// (host:port) until Close.
func StartConnectProxy(target string) (*ConnectProxy, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &ConnectProxy{target: target, ln: ln, hosts: map[string]int{}, refused: map[string]int{}}
	p.srv = &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

// URL is the value of HTTPS_PROXY.
func (p *ConnectProxy) URL() string { return "http://" + p.ln.Addr().String() }

// Hosts returns how many tunnels were opened per host:port, and the
// requests refused per host.
func (p *ConnectProxy) Hosts() (tunnelled, refused map[string]int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.hosts), maps.Clone(p.refused)
}

// ServeHTTP tunnels a CONNECT and refuses anything else.
func (p *ConnectProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	if r.Method != http.MethodConnect {
		p.refused[r.Host]++
		p.mu.Unlock()
		http.Error(w, "this proxy only tunnels (CONNECT)", http.StatusMethodNotAllowed)
		return
	}
	p.hosts[r.Host]++
	p.mu.Unlock()
	d := net.Dialer{Timeout: 5 * time.Second}
	upstream, err := d.DialContext(r.Context(), "tcp", p.target)
	if err != nil {
		http.Error(w, "upstream unreachable", http.StatusBadGateway)
		return
	}
	conn, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		_ = upstream.Close()
		return
	}
	if _, err := conn.Write([]byte("HTTP/1.1 200 Connection established\r\n\r\n")); err != nil {
		_ = conn.Close()
		_ = upstream.Close()
		return
	}
	go tunnel(conn, rw.Reader, upstream)
}

// tunnel copies bytes both ways until either side closes, then closes both.
// from holds what the client sent after its CONNECT request.
func tunnel(client net.Conn, from io.Reader, upstream net.Conn) {
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(upstream, from); done <- struct{}{} }()
	go func() { _, _ = io.Copy(client, upstream); done <- struct{}{} }()
	<-done
	_ = client.Close()
	_ = upstream.Close()
	<-done
}

// Close stops the proxy; open tunnels end when their peers close.
func (p *ConnectProxy) Close() error {
	if err := p.srv.Close(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
