// Package vaultkv is the HashiCorp Vault backend: a backend.Fetcher over the KV version 2 secrets engine, read with
// the official client (github.com/hashicorp/vault/api), logged in with Vault's Kubernetes auth as a ServiceAccount of
// the namespace that owns the resource.
//
// Vault decides what each namespace may read: its roles bind ServiceAccounts and namespaces to policies. So the
// process never reads as one cluster-wide identity; every Ref carries its Principal (auth mount, role, namespace,
// ServiceAccount; see internal/vaultref), the Reader requests a short-lived token for that ServiceAccount with the
// audience Vault expects, logs in with it, and caches the login until shortly before its TTL. A 500-pod rollout is
// one login and, through backend.Cache, one read.
//
// A read returns the whole KV map as a JSON object (ContentType application/json): one read serves every key, and
// the output package selects a key or renders them all.
package vaultkv

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	vault "github.com/hashicorp/vault/api"
	k8sauth "github.com/hashicorp/vault/api/auth/kubernetes"

	"github.com/latchkey-dev/latchkey/internal/backend"
	"github.com/latchkey-dev/latchkey/internal/vaultref"
)

// Backend is the name Refs of HashiCorp Vault carry (backend.Ref.Backend).
const Backend = vaultref.Backend

// ContentType is the content type of every Object this backend returns:
// the KV map as a JSON object.
const ContentType = "application/json"

type (
	// Location is vaultref's.
	Location = vaultref.Location
	// Principal is vaultref's.
	Principal = vaultref.Principal
)

// TokenRequester issues a ServiceAccount token (a TokenRequest): the
// credential a Kubernetes login presents. backends.ServiceAccountTokens
// requests them from the API server (this package links nothing from
// Kubernetes: latchkey-env reads Vault too); TokenFile reads a projected
// one; tests may count or refuse.
type TokenRequester interface {
	ServiceAccountToken(ctx context.Context, namespace, name string, audiences []string, expiry time.Duration) (string, error)
}

// Defaults of Options.
const (
	// DefaultAudience is the audience of the tokens a login presents: what
	// a Vault role's audience names (Vault 1.9 and later check it).
	DefaultAudience = "vault"
	// DefaultTokenExpiry is the lifetime of a requested ServiceAccount
	// token: the API server's minimum, as it is presented once, at once.
	DefaultTokenExpiry = 10 * time.Minute
	// DefaultRenewBefore: a login is repeated this long before its Vault
	// token's TTL ends (or at 80% of a shorter TTL), so no read uses a
	// token about to expire.
	DefaultRenewBefore = time.Minute
)

// Options configure a Reader.
type Options struct {
	// Tokens requests the ServiceAccount tokens logins present. Required.
	Tokens TokenRequester
	// Audience of those tokens (default DefaultAudience). Vault v1.1's
	// roles cannot name one: its TokenReview then needs the API server's
	// own audience.
	Audience string
	// TokenExpiry of those tokens (default DefaultTokenExpiry).
	TokenExpiry time.Duration
	// RenewBefore (default DefaultRenewBefore).
	RenewBefore time.Duration
	// CACert is the PEM bundle Vault's TLS certificate is checked against;
	// empty uses the system's.
	CACert []byte
	// Timeout bounds one HTTP request to Vault (default 30s).
	Timeout time.Duration
	// Now is the clock of login lifetimes (default time.Now).
	Now func() time.Time
}

// Reader reads KV v2 secrets, logging in per Principal. It is a
// backend.Fetcher; wrap it in a backend.Cache, whose entries are keyed by
// the whole Ref, Principal included.
type Reader struct {
	o      Options
	client *http.Client

	mu      sync.Mutex
	clients map[string]*vault.Client
	logins  map[loginKey]*login

	loginCount atomic.Int64
}

type loginKey struct {
	address string
	who     Principal
}

// login is one Vault token, or the login in flight that will give it.
type login struct {
	done  chan struct{}
	token string
	until time.Time
	err   error
}

// NewReader returns a Reader.
func NewReader(o Options) (*Reader, error) {
	if o.Tokens == nil {
		return nil, errors.New("vaultkv: no TokenRequester")
	}
	if o.Audience == "" {
		o.Audience = DefaultAudience
	}
	if o.TokenExpiry <= 0 {
		o.TokenExpiry = DefaultTokenExpiry
	}
	if o.RenewBefore <= 0 {
		o.RenewBefore = DefaultRenewBefore
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if len(o.CACert) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(o.CACert) {
			return nil, errors.New("vaultkv: the Vault CA bundle holds no PEM certificate")
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &Reader{o: o, client: &http.Client{Transport: tr, Timeout: o.Timeout},
		clients: map[string]*vault.Client{}, logins: map[loginKey]*login{}}, nil
}

// Identity implements backend.Fetcher: reads are made as each Ref's
// Principal, so the Reader has no identity of its own.
func (r *Reader) Identity() string { return "per-namespace ServiceAccounts (Vault Kubernetes auth)" }

// Logins counts the logins made (for tests and benchmarks).
func (r *Reader) Logins() int64 { return r.loginCount.Load() }

// Read implements backend.Fetcher: one KV v2 read of the latest or the
// pinned version. A cached token Vault no longer accepts (revoked, or lost
// with Vault's storage) is replaced by one fresh login and the read made
// again; a 403 that is the role's policies answering is not a reason to log
// in again (staleToken tells them apart).
func (r *Reader) Read(ctx context.Context, ref backend.Ref) (backend.Object, error) {
	loc, who, version, err := vaultref.Parse(ref)
	if err != nil {
		return backend.Object{}, err
	}
	for attempt := 0; ; attempt++ {
		token, fresh, err := r.token(ctx, loc.Address, who)
		if err != nil {
			return backend.Object{}, fmt.Errorf("%s: %w", ref, err)
		}
		obj, err := r.read(ctx, loc, token, version, !fresh && attempt == 0)
		if errors.Is(err, errStaleToken) {
			r.forget(loc.Address, who, token)
			continue
		}
		if err != nil {
			return backend.Object{}, fmt.Errorf("%s: %w", ref, err)
		}
		obj.Ref = ref
		return obj, nil
	}
}

// errStaleToken: Vault refused a cached token itself, not the read.
var errStaleToken = errors.New("the cached Vault token is no longer accepted")

// read makes one KV read with token. checkToken: on a 403, find out whether
// the token is the cause (errStaleToken), as it may be for a cached one.
func (r *Reader) read(ctx context.Context, loc Location, token string, version int, checkToken bool) (backend.Object, error) {
	c, err := r.vaultClient(loc.Address)
	if err != nil {
		return backend.Object{}, err
	}
	c.SetToken(token)
	kv := c.KVv2(loc.Mount)
	var s *vault.KVSecret
	if version > 0 {
		s, err = kv.GetVersion(ctx, loc.Path, version)
	} else {
		s, err = kv.Get(ctx, loc.Path)
	}
	var re *vault.ResponseError
	if checkToken && errors.As(err, &re) && re.StatusCode == http.StatusForbidden && staleToken(ctx, c, re) {
		return backend.Object{}, errStaleToken
	}
	if err != nil {
		return backend.Object{}, classifyRead(err, loc)
	}
	return toObject(s, loc)
}

// staleToken decides whether Vault's 403 on a read refused the token
// itself (revoked, or unknown to a Vault that lost its storage) rather than
// the path (the role's policies): only then is a new login the cure. A
// current Vault says "invalid token"; Vault v1.1 says "permission denied"
// to both, so the token then looks itself up, which every token Vault still
// knows may do (the default policy): a 403 there too means the token is
// gone. Any other answer leaves the refusal the policy's (a lookup the
// install's policies forbid costs one login, then the fresh token's 403 is
// final).
func staleToken(ctx context.Context, c *vault.Client, re *vault.ResponseError) bool {
	if invalidToken(re) {
		return true
	}
	_, err := c.Auth().Token().LookupSelfWithContext(ctx)
	var lookup *vault.ResponseError
	return errors.As(err, &lookup) && lookup.StatusCode == http.StatusForbidden
}

// toObject turns a KV v2 answer into an Object: a deleted or destroyed
// version is not found (the metadata says which).
func toObject(s *vault.KVSecret, loc Location) (backend.Object, error) {
	m := s.VersionMetadata
	switch {
	case m == nil:
		return backend.Object{}, fmt.Errorf("%w: the answer for %s/%s has no version metadata (is the mount KV version 2?)", backend.ErrInvalidObject, loc.Mount, loc.Path)
	case m.Destroyed:
		return backend.Object{}, fmt.Errorf("%w: version %d of %s/%s is destroyed", backend.ErrNotFound, m.Version, loc.Mount, loc.Path)
	case !m.DeletionTime.IsZero() || s.Data == nil:
		return backend.Object{}, fmt.Errorf("%w: version %d of %s/%s is deleted", backend.ErrNotFound, m.Version, loc.Mount, loc.Path)
	}
	value, err := json.Marshal(s.Data)
	if err != nil {
		return backend.Object{}, fmt.Errorf("%w: the KV map of %s/%s cannot be encoded", backend.ErrInvalidObject, loc.Mount, loc.Path)
	}
	return backend.Object{Version: fmt.Sprint(m.Version), Updated: m.CreatedTime, ContentType: ContentType, Value: value}, nil
}

// vaultClient returns a client of address for one request: a clone of the
// address's, so the token set on it is this request's only.
func (r *Reader) vaultClient(address string) (*vault.Client, error) {
	r.mu.Lock()
	c := r.clients[address]
	if c == nil {
		cfg := vault.DefaultConfig()
		cfg.Address = address
		cfg.HttpClient = r.client
		cfg.Timeout = r.o.Timeout
		// The backend.Cache retries on its schedule; one request here.
		cfg.MaxRetries = 0
		var err error
		if c, err = vault.NewClient(cfg); err != nil {
			r.mu.Unlock()
			return nil, fmt.Errorf("%w: client for %s: %w", backend.ErrUnavailable, address, err)
		}
		// No VAULT_TOKEN from the process's environment.
		c.ClearToken()
		r.clients[address] = c
	}
	r.mu.Unlock()
	return c.Clone()
}

// token returns a Vault token for who at address, logging in when no
// cached login is valid; concurrent callers share one login. fresh is set
// when this call waited for a new login.
func (r *Reader) token(ctx context.Context, address string, who Principal) (token string, fresh bool, err error) {
	k := loginKey{address: address, who: who}
	r.mu.Lock()
	l := r.logins[k]
	if l != nil {
		select {
		case <-l.done:
			if l.err != nil || !r.o.Now().Before(l.until) {
				l = nil
			}
		default:
		}
	}
	if l == nil {
		l = &login{done: make(chan struct{})}
		r.logins[k] = l
		go r.login(context.WithoutCancel(ctx), k, l)
		fresh = true
	}
	r.mu.Unlock()
	select {
	case <-l.done:
		if l.err != nil {
			return "", true, l.err
		}
		return l.token, fresh, nil
	case <-ctx.Done():
		return "", fresh, ctx.Err()
	}
}

// forget drops a cached login whose token Vault refused.
func (r *Reader) forget(address string, who Principal, token string) {
	k := loginKey{address: address, who: who}
	r.mu.Lock()
	defer r.mu.Unlock()
	if l := r.logins[k]; l != nil {
		select {
		case <-l.done:
			if l.token == token {
				delete(r.logins, k)
			}
		default:
		}
	}
}

// login requests a ServiceAccount token for who and logs in with it.
func (r *Reader) login(ctx context.Context, k loginKey, l *login) {
	defer close(l.done)
	ctx, cancel := context.WithTimeout(ctx, 2*r.o.Timeout)
	defer cancel()
	who := k.who
	jwt, err := r.o.Tokens.ServiceAccountToken(ctx, who.Namespace, who.ServiceAccount, []string{r.o.Audience}, r.o.TokenExpiry)
	if err != nil {
		l.err = fmt.Errorf("%w: a token for ServiceAccount %s/%s: %w", backend.ErrAuthentication, who.Namespace, who.ServiceAccount, err)
		return
	}
	auth, err := k8sauth.NewKubernetesAuth(who.Role, k8sauth.WithServiceAccountToken(jwt), k8sauth.WithMountPath(who.AuthMount))
	if err != nil {
		l.err = fmt.Errorf("%w: %w", backend.ErrAuthentication, err)
		return
	}
	c, err := r.vaultClient(k.address)
	if err != nil {
		l.err = err
		return
	}
	started := r.o.Now()
	r.loginCount.Add(1)
	s, err := auth.Login(ctx, c)
	if err != nil {
		l.err = classifyLogin(err, who)
		return
	}
	if s == nil || s.Auth == nil || s.Auth.ClientToken == "" {
		l.err = fmt.Errorf("%w: Vault's login answer as %s holds no token", backend.ErrAuthentication, who)
		return
	}
	ttl := time.Duration(s.Auth.LeaseDuration) * time.Second
	l.token, l.until = s.Auth.ClientToken, started.Add(validFor(ttl, r.o.RenewBefore))
}

// validFor is how long a login with ttl is used: until renewBefore before
// its end, or 80% of a TTL shorter than five times renewBefore. A token
// without TTL (a root policy's) is used for an hour.
func validFor(ttl, renewBefore time.Duration) time.Duration {
	switch {
	case ttl <= 0:
		return time.Hour
	case ttl < 5*renewBefore:
		return ttl * 4 / 5
	}
	return ttl - renewBefore
}
