package resolver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/certwatcher"

	"github.com/latchkey-dev/latchkey/internal/resolver/protocol"
)

// Server is the resolver's HTTPS endpoint: TLS 1.2 or newer with the
// certificate of a folder (tls.crt, tls.key), reloaded when the files
// change. It runs on every replica (no leader election).
type Server struct {
	ln      net.Listener
	srv     *http.Server
	certs   *certwatcher.CertWatcher
	serving atomic.Bool
}

// ServerTimeouts bound how long a connection may take to send a request.
type ServerTimeouts struct {
	// ReadHeader bounds the TLS handshake and the headers; Read the whole
	// request, body included; Body the body from the moment the token is
	// accepted (the request may have waited for a slot); Idle a kept-alive
	// connection between requests.
	ReadHeader, Read, Body, Idle time.Duration
}

// DefaultServerTimeouts are the server's timeouts: a pod sends its request,
// a few kilobytes, at once; a client that trickles it is cut off in
// seconds, not held.
var DefaultServerTimeouts = ServerTimeouts{ReadHeader: 5 * time.Second, Read: 10 * time.Second, Body: 5 * time.Second, Idle: 30 * time.Second}

// maxHeaderBytes bounds a request's headers: the token (at most
// maxTokenBytes) and a few more.
const maxHeaderBytes = 32 << 10

// NewServer listens on addr at once (so a busy port fails the start, and
// tests can listen on port 0 and read Addr) and serves handler at
// protocol.ResolvePath and 200 at protocol.HealthPath. Zero timeouts are
// DefaultServerTimeouts'.
func NewServer(addr, certDir string, handler http.Handler, timeouts ServerTimeouts, logger logr.Logger) (*Server, error) {
	if timeouts.ReadHeader <= 0 {
		timeouts.ReadHeader = DefaultServerTimeouts.ReadHeader
	}
	if timeouts.Read <= 0 {
		timeouts.Read = DefaultServerTimeouts.Read
	}
	if timeouts.Idle <= 0 {
		timeouts.Idle = DefaultServerTimeouts.Idle
	}
	certs, err := certwatcher.New(filepath.Join(certDir, "tls.crt"), filepath.Join(certDir, "tls.key"))
	if err != nil {
		return nil, fmt.Errorf("serving certificate: %w", err)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle(protocol.ResolvePath, handler)
	mux.HandleFunc(protocol.HealthPath, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("ok\n"))
	})
	s := &Server{ln: ln, certs: certs}
	s.srv = &http.Server{
		Handler: mux,
		TLSConfig: &tls.Config{
			MinVersion:     tls.VersionTLS12,
			GetCertificate: certs.GetCertificate,
		},
		ReadHeaderTimeout: timeouts.ReadHeader,
		ReadTimeout:       timeouts.Read,
		// The answer waits for the request's own timeout (Key Vault reads
		// included); a client that does not read it is cut off after this.
		WriteTimeout:   60 * time.Second,
		IdleTimeout:    timeouts.Idle,
		MaxHeaderBytes: maxHeaderBytes,
		// TLS handshake failures (a client with the wrong CA) are the
		// client's to report; keep them out of the error log's default
		// writer but visible at debug level.
		ErrorLog: log.New(logWriter{logger.V(1)}, "", 0),
	}
	return s, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Start serves until ctx ends, then stops within 25 seconds, finishing
// the requests under way. It implements manager.Runnable.
func (s *Server) Start(ctx context.Context) error {
	certErr := make(chan error, 1)
	go func() { certErr <- s.certs.Start(ctx) }()
	served := make(chan error, 1)
	go func() {
		s.serving.Store(true)
		served <- s.srv.ServeTLS(s.ln, "", "")
	}()
	select {
	case err := <-served:
		s.serving.Store(false)
		return err
	case err := <-certErr:
		if err != nil {
			_ = s.srv.Close()
			return fmt.Errorf("watching the serving certificate: %w", err)
		}
		<-ctx.Done()
	case <-ctx.Done():
	}
	s.serving.Store(false)
	shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 25*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(shutdown); err != nil {
		return err
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// NeedLeaderElection is false: every replica serves.
func (s *Server) NeedLeaderElection() bool { return false }

// Ready is a readiness check: the server is serving.
func (s *Server) Ready(*http.Request) error {
	if !s.serving.Load() {
		return errors.New("not serving")
	}
	return nil
}

// logWriter sends net/http's error log to a logr.Logger.
type logWriter struct{ log logr.Logger }

func (w logWriter) Write(p []byte) (int, error) {
	w.log.Info("http server", "message", string(p))
	return len(p), nil
}
