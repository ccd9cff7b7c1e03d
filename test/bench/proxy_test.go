package bench

import (
	"errors"
	"io"
	"maps"
	"net"
	"net/http"
	"sync"
	"time"
)

// connectProxy is an HTTP proxy that answers only CONNECT, and tunnels
// every CONNECT to the emulator whatever host it names: to the controller it
// is the corporate proxy in front of Azure. It counts the hosts asked for,
// so a benchmark can show that Key Vault and Entra ID traffic went through
// it, and the requests it refused (anything but CONNECT).
type connectProxy struct {
	target string
	ln     net.Listener
	srv    *http.Server

	mu      sync.Mutex
	hosts   map[string]int
	refused map[string]int
}

func startConnectProxy(target string) (*connectProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &connectProxy{target: target, ln: ln, hosts: map[string]int{}, refused: map[string]int{}}
	p.srv = &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

// URL is the value of HTTPS_PROXY.
func (p *connectProxy) URL() string { return "http://" + p.ln.Addr().String() }

// Hosts returns how many tunnels were opened per host:port, and the
// requests refused per host.
func (p *connectProxy) Hosts() (tunnelled, refused map[string]int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.hosts), maps.Clone(p.refused)
}

func (p *connectProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	if r.Method != http.MethodConnect {
		p.refused[r.Host]++
		p.mu.Unlock()
		http.Error(w, "this proxy only tunnels (CONNECT)", http.StatusMethodNotAllowed)
		return
	}
	p.hosts[r.Host]++
	p.mu.Unlock()

	upstream, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		_ = upstream.Close()
		http.Error(w, "cannot hijack", http.StatusInternalServerError)
		return
	}
	conn, rw, err := hj.Hijack()
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
func (p *connectProxy) Close() error {
	err := p.srv.Close()
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}
