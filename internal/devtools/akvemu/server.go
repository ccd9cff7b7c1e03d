package akvemu

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Server is a running emulator. Create it with New, serve with Start, stop
// with Close. All methods are safe for concurrent use.
type Server struct {
	opts     Options
	log      *slog.Logger
	now      func() time.Time
	tls      *tlsMaterial
	signer   *tokenSigner
	dir      *directory
	store    *store
	faults   *Faults
	counters *Counters
	routes   []vaultRoute
	client   *http.Client
	ln       net.Listener
	dialAddr string
	srv      *http.Server

	mu      sync.Mutex
	started bool
	closed  bool
	done    chan struct{}
}

// New builds an emulator from validated options, binds its listener and loads
// the seed. It does not serve until Start.
func New(opts Options) (*Server, error) {
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("invalid options: %w", err)
	}
	o := opts.withDefaults()
	s := &Server{
		opts:     o,
		log:      o.Logger,
		now:      o.Now,
		store:    newStore(),
		counters: newCounters(),
		faults:   newFaults(o.Now),
		routes:   vaultRoutes(),
		done:     make(chan struct{}),
	}
	var err error
	if s.tls, err = loadOrCreateTLS(o, o.Now()); err != nil {
		return nil, err
	}
	if s.signer, err = newTokenSigner(o.TokenLifetime); err != nil {
		return nil, err
	}
	s.dir = newDirectory(randomHex(16))
	if o.Seed != nil {
		if err := s.Seed(o.Seed); err != nil {
			return nil, err
		}
	}
	if s.ln, err = (&net.ListenConfig{}).Listen(context.Background(), "tcp", o.Listen); err != nil {
		return nil, fmt.Errorf("listening on %s: %w", o.Listen, err)
	}
	s.dialAddr = loopbackAddr(s.ln.Addr())
	s.client = newEmulatorClient(s.tls.caPEM, s.dialAddr, o.ExtraNames)
	s.srv = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		TLSConfig: &tls.Config{
			Certificates: []tls.Certificate{s.tls.cert},
			MinVersion:   tls.VersionTLS12,
		},
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	return s, nil
}

// loopbackAddr is where clients dial the listener: a wildcard listener is
// reached through 127.0.0.1.
func loopbackAddr(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok {
		return a.String()
	}
	ip := tcp.IP
	if ip == nil || ip.IsUnspecified() {
		ip = net.IPv4(127, 0, 0, 1)
	}
	return net.JoinHostPort(ip.String(), strconv.Itoa(tcp.Port))
}

// randomHex returns n random bytes as hex.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Start serves HTTPS until Close or until ctx is done.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("emulator is closed")
	}
	if s.started {
		return errors.New("emulator already started")
	}
	s.started = true
	go func() {
		err := s.srv.ServeTLS(s.ln, "", "")
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("emulator stopped serving", "err", err)
		}
	}()
	go func() {
		select {
		case <-ctx.Done():
			_ = s.Close()
		case <-s.done:
		}
	}()
	s.log.Info("Key Vault emulator listening", "addr", s.dialAddr)
	return nil
}

// Close stops serving and drops open connections. It is safe to call twice.
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	close(s.done)
	s.client.CloseIdleConnections()
	if !s.started {
		return s.ln.Close()
	}
	if err := s.srv.Close(); err != nil {
		return fmt.Errorf("closing emulator: %w", err)
	}
	return nil
}

// URL is the emulator's own base URL (admin and managed-identity endpoints),
// e.g. https://127.0.0.1:8443.
func (s *Server) URL() string { return "https://" + s.dialAddr }

// Addr is the host:port clients dial.
func (s *Server) Addr() string { return s.dialAddr }

// CACertPEM is the CA certificate clients must trust.
func (s *Server) CACertPEM() []byte { return append([]byte(nil), s.tls.caPEM...) }

// Faults is the fault-injection control.
func (s *Server) Faults() *Faults { return s.faults }

// Counters are the request counters.
func (s *Server) Counters() *Counters { return s.counters }

// IdentityHeader is the X-IDENTITY-HEADER secret of the managed-identity
// endpoint: set IDENTITY_HEADER to it.
func (s *Server) IdentityHeader() string { return s.dir.header() }

// ManagedIdentityEndpoint is the URL to put in IDENTITY_ENDPOINT.
func (s *Server) ManagedIdentityEndpoint() string { return s.URL() + managedIdentityPath }

// VaultURL is the URL clients use for a vault, with the DNS suffix of the
// vault's cloud (public cloud for vaults that do not exist yet).
func (s *Server) VaultURL(name string) string {
	c := clouds()[0]
	if v := s.store.vault(name); v != nil {
		c = v.cloud
	}
	return "https://" + strings.ToLower(name) + "." + c.vaultSuffix
}

// Seed adds the identities and vaults of a seed to the running emulator.
// Existing vaults keep their contents and get the seed's objects as new versions.
func (s *Server) Seed(seed *Seed) error {
	if err := seed.Validate(); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	if err := s.dir.apply(seed); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	for _, vs := range seed.Vaults {
		if err := s.seedVault(seed, vs); err != nil {
			return fmt.Errorf("seed: vault %s: %w", vs.Name, err)
		}
	}
	return nil
}

// ServeHTTP routes by Host header: vault hosts to the vault API, login hosts
// to the fake Entra ID, anything else (localhost) to the admin and
// managed-identity endpoints.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	kind, vaultName, c := classifyHost(r.Host)
	switch kind {
	case hostVault:
		s.serveVault(w, r, vaultName, c)
	case hostLogin:
		s.serveEntra(w, r, c)
	default:
		s.serveLocal(w, r)
	}
}

// serveLocal serves the emulator's own host.
func (s *Server) serveLocal(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case strings.HasPrefix(p, adminPrefix):
		s.serveAdmin(w, r)
	case isManagedIdentityPath(p):
		s.serveManagedIdentity(w, r)
	default:
		// Entra on localhost lets a client use the emulator's own URL as its
		// authority host when it cannot redirect login.microsoftonline.com.
		s.serveEntra(w, r, clouds()[0])
	}
}

// statusRecorder remembers the status a handler wrote, for the counters.
type statusRecorder struct {
	http.ResponseWriter
	status  int
	dropped bool
}

// WriteHeader records the status.
func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

// Write records an implicit 200.
func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (to drop it).
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// code is the status to count.
func (r *statusRecorder) code() int {
	if r.dropped {
		return StatusDropped
	}
	if r.status == 0 {
		return http.StatusOK
	}
	return r.status
}

// applyFault carries out a fault decision; it reports whether the request
// should still be served normally.
func (s *Server) applyFault(w *statusRecorder, r *http.Request, d faultDecision) bool {
	if d.latency > 0 {
		t := time.NewTimer(d.latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
		}
	}
	switch {
	case d.drop:
		w.dropped = true
		dropConnection(w)
		return false
	case d.status != 0:
		if d.status == http.StatusTooManyRequests || d.status == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", retryAfterSeconds(d.retryAfter))
		}
		writeKVError(w, errInjected(d.status))
		return false
	}
	return true
}

// dropConnection closes the client connection without a response: hijacked
// and closed on HTTP/1.1, the stream reset on HTTP/2.
func dropConnection(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err == nil {
		_ = conn.Close()
		return
	}
	panic(http.ErrAbortHandler)
}
