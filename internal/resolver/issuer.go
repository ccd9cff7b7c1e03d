package resolver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-logr/logr"
)

// The service-account issuer's discovery documents, which kube-apiserver
// serves itself (ServiceAccountIssuerDiscovery, on whenever
// --service-account-issuer is a URL). They are read from the API server the
// resolver talks to, never from the jwks_uri the document names: that may
// be a public URL the cluster publishes its keys at, and the API server is
// the one source the resolver already trusts.
const (
	DiscoveryPath = "/.well-known/openid-configuration"
	JWKSPath      = "/openid/v1/jwks"
)

// Refresh bounds of the issuer's keys.
const (
	// DefaultKeyRefresh is how often the keys are read again in the
	// background: a key the API server stops publishing (the end of a key
	// rotation) is refused within this time.
	DefaultKeyRefresh = time.Minute
	// DefaultKeyRefetch is the least time between two reads: a token whose
	// key id the resolver does not know (a key rotation, or a forgery)
	// makes it read the keys again at most this often, whatever the number
	// of such tokens.
	DefaultKeyRefetch = 10 * time.Second
	// maxKeyDocumentBytes bounds each discovery document.
	maxKeyDocumentBytes = 1 << 20
)

// KeySet is the issuer and the public keys its tokens are signed with, as
// the API server published them at Fetched.
type KeySet struct {
	Issuer  string
	Keys    []jose.JSONWebKey
	Fetched time.Time
}

// byID returns the keys with key id kid (every key for a token without
// one).
func (s *KeySet) byID(kid string) []jose.JSONWebKey {
	if kid == "" {
		return s.Keys
	}
	var out []jose.JSONWebKey
	for _, k := range s.Keys {
		if k.KeyID == kid {
			out = append(out, k)
		}
	}
	return out
}

// errKeysTooSoon: the keys were read less than MinRefetch ago.
var errKeysTooSoon = errors.New("the service-account issuer's keys were read moments ago")

// IssuerKeys keeps the cluster's service-account issuer and its public
// keys: read at start, every Refresh, and again when a token names a key id
// it does not know, at most every MinRefetch. Concurrent reads share one.
// The last good set stays in use while the API server cannot be read.
type IssuerKeys struct {
	// Get reads a path of the API server as the resolver (a GET; the
	// resolver's ServiceAccount needs system:service-account-issuer-discovery,
	// which Kubernetes grants every ServiceAccount by default).
	Get func(ctx context.Context, path string) ([]byte, error)
	// Load, when set, reads the keys instead of the discovery documents:
	// KeyFile.Load, the keys the install gives for an API server that does
	// not publish them.
	Load func(ctx context.Context) (*KeySet, error)
	// Refresh and MinRefetch: DefaultKeyRefresh and DefaultKeyRefetch when
	// zero.
	Refresh, MinRefetch time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Observe, if set, counts reads by result: fetched or failed.
	Observe func(result string)
	Log     logr.Logger

	cur atomic.Pointer[KeySet]

	mu          sync.Mutex
	lastAttempt time.Time
	attempted   bool
	lastErr     error
	flight      chan struct{} // closed when the read under way ends
}

// Current is the last set read, nil before the first good read.
func (k *IssuerKeys) Current() *KeySet { return k.cur.Load() }

// Err is why the last read failed, nil when it succeeded.
func (k *IssuerKeys) Err() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.lastErr
}

// Refetch reads the keys again unless they were read less than MinRefetch
// ago (or are being read: it then waits for that read), in which case it
// returns the current set, errKeysTooSoon and how long until a read is
// allowed. It is what an unknown key id costs.
func (k *IssuerKeys) Refetch(ctx context.Context) (*KeySet, time.Duration, error) {
	k.mu.Lock()
	if flight := k.flight; flight != nil {
		k.mu.Unlock()
		return k.wait(ctx, flight)
	}
	if k.attempted {
		if wait := k.lastAttempt.Add(k.minRefetch()).Sub(k.now()); wait > 0 {
			k.mu.Unlock()
			return k.Current(), wait, errKeysTooSoon
		}
	}
	flight := k.startLocked()
	k.mu.Unlock()
	go k.fetch(context.WithoutCancel(ctx), flight)
	return k.wait(ctx, flight)
}

// Fetch reads the keys now (joining a read under way).
func (k *IssuerKeys) Fetch(ctx context.Context) (*KeySet, error) {
	k.mu.Lock()
	flight := k.flight
	if flight == nil {
		flight = k.startLocked()
		go k.fetch(context.WithoutCancel(ctx), flight)
	}
	k.mu.Unlock()
	set, _, err := k.wait(ctx, flight)
	return set, err
}

func (k *IssuerKeys) startLocked() chan struct{} {
	k.flight = make(chan struct{})
	k.attempted, k.lastAttempt = true, k.now()
	return k.flight
}

func (k *IssuerKeys) wait(ctx context.Context, flight chan struct{}) (*KeySet, time.Duration, error) {
	select {
	case <-flight:
	case <-ctx.Done():
		return k.Current(), 0, ctx.Err()
	}
	return k.Current(), 0, k.Err()
}

// fetchTimeout bounds one read, which the requests waiting for it share:
// it is not cancelled when the request that started it gives up.
const fetchTimeout = 10 * time.Second

// fetch makes one read and publishes its result.
func (k *IssuerKeys) fetch(ctx context.Context, flight chan struct{}) {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	set, err := k.read(ctx)
	k.mu.Lock()
	defer k.mu.Unlock()
	k.lastErr = err
	if err == nil {
		set.Fetched = k.now()
		prev := k.cur.Swap(set)
		if prev == nil || !sameKeys(prev, set) {
			k.Log.Info("service-account issuer keys read", "issuer", set.Issuer, "keyIDs", keyIDs(set))
		}
		k.observe("fetched")
	} else {
		k.Log.Error(err, "service-account issuer keys unreadable", "usingLastKeys", k.cur.Load() != nil)
		k.observe("failed")
	}
	k.flight = nil
	close(flight)
}

// read gets the discovery document and the key set (or Load's).
func (k *IssuerKeys) read(ctx context.Context) (*KeySet, error) {
	if k.Load != nil {
		return k.Load(ctx)
	}
	doc, err := k.Get(ctx, DiscoveryPath)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", DiscoveryPath, err)
	}
	jwks, err := k.Get(ctx, JWKSPath)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", JWKSPath, err)
	}
	return ParseKeySet(doc, jwks)
}

// ParseKeySet reads the issuer from an OpenID discovery document and the
// signing keys from a JWKS: public keys only, for signatures.
func ParseKeySet(discovery, jwks []byte) (*KeySet, error) {
	if len(discovery) > maxKeyDocumentBytes || len(jwks) > maxKeyDocumentBytes {
		return nil, errors.New("the issuer's discovery documents are too large")
	}
	var d struct {
		Issuer string `json:"issuer"`
	}
	if err := json.Unmarshal(discovery, &d); err != nil || d.Issuer == "" {
		return nil, fmt.Errorf("%s names no issuer", DiscoveryPath)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(jwks, &set); err != nil {
		return nil, fmt.Errorf("%s is not a key set: %w", JWKSPath, err)
	}
	out := &KeySet{Issuer: d.Issuer}
	for _, key := range set.Keys {
		if key.IsPublic() && key.Valid() && (key.Use == "" || key.Use == "sig") {
			out.Keys = append(out.Keys, key)
		}
	}
	if len(out.Keys) == 0 {
		return nil, fmt.Errorf("%s holds no public signing key", JWKSPath)
	}
	return out, nil
}

// Start reads the keys at once, then every Refresh (every MinRefetch while
// reads fail), until ctx ends. It implements manager.Runnable.
func (k *IssuerKeys) Start(ctx context.Context) error {
	for {
		_, err := k.Fetch(ctx)
		next := k.refresh()
		if err != nil {
			next = k.minRefetch()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(next):
		}
	}
}

// NeedLeaderElection is false: every replica verifies tokens.
func (k *IssuerKeys) NeedLeaderElection() bool { return false }

func (k *IssuerKeys) refresh() time.Duration {
	if k.Refresh > 0 {
		return k.Refresh
	}
	return DefaultKeyRefresh
}

func (k *IssuerKeys) minRefetch() time.Duration {
	if k.MinRefetch > 0 {
		return k.MinRefetch
	}
	return DefaultKeyRefetch
}

func (k *IssuerKeys) now() time.Time {
	if k.Now != nil {
		return k.Now()
	}
	return time.Now()
}

func (k *IssuerKeys) observe(result string) {
	if k.Observe != nil {
		k.Observe(result)
	}
}

func keyIDs(s *KeySet) []string {
	ids := make([]string, len(s.Keys))
	for i, key := range s.Keys {
		ids[i] = key.KeyID
	}
	return ids
}

func sameKeys(a, b *KeySet) bool {
	if a.Issuer != b.Issuer || len(a.Keys) != len(b.Keys) {
		return false
	}
	for i := range a.Keys {
		if a.Keys[i].KeyID != b.Keys[i].KeyID {
			return false
		}
	}
	return true
}
