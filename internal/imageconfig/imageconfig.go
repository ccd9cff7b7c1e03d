// Package imageconfig reads the ENTRYPOINT and CMD of a container image
// from its registry. The env injector's webhook wraps a container's command
// with latchkey's binary; when the pod spec does not give both command and
// args, the command is the image's, and this package finds it.
//
// Credentials are tried in order: the pod's pull secrets (then its
// ServiceAccount's), the ACR token exchange with the webhook's own Azure
// identity for Azure Container Registry hosts, and anonymous access. A
// lookup is bounded by its context and by Options.Timeout.
//
// # Caching, and who may see what
//
// An image's config is immutable for a given manifest digest, so configs are
// cached by (digest, platform) for DigestTTL. What a tag points to is cached
// for TagTTL (so a moved tag is noticed) — but per credential identity: the
// answer "tag → digest" is stored under an HMAC of the credentials the lookup
// would try, and only a lookup that would try the same credentials reuses it.
// A pod whose credentials differ (another namespace's pull secrets, or none)
// makes its own manifest request to the registry, which refuses it if those
// credentials may not pull the image; only after that does it share the
// cached config. So the ENTRYPOINT of a private image never reaches a pod
// that could not have pulled it, at the cost of one manifest request per
// distinct credential set per TagTTL. (Digest-pinned references are treated
// the same way: knowing a digest is not proof of access.) Failures that are
// answers about the image (not found, unauthorized, no matching platform)
// are reused for NegativeTTL, per identity too. Concurrent lookups with the
// same identity, reference and platform share one request (single flight).
//
// The webhook's own ACR identity is not a per-namespace credential: kubelet
// pulls with the node's identity for every namespace too, so answers got
// through it are no more private than the images themselves.
//
// # A registry is hostile until bounded
//
// Whoever writes the pod spec chooses the registry, and the registry
// chooses its token service and redirect targets. Nothing it sends is
// parsed before it is bounded: manifests and indexes to 4 MiB, configs to
// 4 MiB (each refused at once when a document or Content-Length declares
// more, and cut when the bytes run past it), indexes to 1024 manifests,
// ENTRYPOINT and CMD to 64 KiB each, every other answer (pings, tokens,
// errors) to 64 KiB, headers to 64 KiB, redirects to 5; answers are asked
// for uncompressed and a gzip one is inflated only up to the same limits;
// configs are decoded for the four fields used, nothing else. At most
// Options.MaxConcurrentLookups lookups talk to registries at once, and the
// caches are bounded in entries and bytes, so memory stays bounded however
// many pods name hostile registries. The webhook does not connect to
// loopback, link-local or cloud metadata addresses (see refusedNetworks
// and Options.AllowNetworks) for registries, token services or redirects,
// and its errors name the failure's class and the registry as the pod
// named it, never an answer's content or where else the registry sent it.
package imageconfig

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/go-logr/logr"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Defaults of Options.
const (
	// DefaultTimeout bounds a lookup whose context has no earlier deadline.
	// The webhook passes half its own timeout in the context.
	DefaultTimeout = 10 * time.Second
	// DefaultTagTTL is how long what a tag points to is reused: a moved tag
	// is noticed within it.
	DefaultTagTTL = 5 * time.Minute
	// DefaultDigestTTL is how long the config of a digest is kept (it never
	// changes; the TTL only lets unused entries go).
	DefaultDigestTTL = 24 * time.Hour
	// DefaultNegativeTTL is how long "not found", "unauthorized" and "no
	// matching platform" answers are reused: long enough that a Deployment
	// of a wrong image costs one lookup per burst, short enough that pushing
	// the image or fixing the secret is noticed at once.
	DefaultNegativeTTL = 5 * time.Second
	// DefaultMaxEntries bounds each cache (tags, configs, failures). An
	// entry is a few hundred bytes.
	DefaultMaxEntries = 4096
	// DefaultUserAgent is the User-Agent of registry requests.
	DefaultUserAgent = "latchkey-webhook"
	// DefaultMaxConcurrentLookups bounds the lookups that talk to
	// registries at once. Each holds at most a manifest and a config (4 MiB
	// each, about twice that while being read), so a few dozen MiB in all;
	// lookups answered from the caches or joining one in progress do not
	// count.
	DefaultMaxConcurrentLookups = 8
	// maxImageRefLen bounds an image reference (Docker limits the name to
	// 255 characters).
	maxImageRefLen = 1024
	// maxConfigCacheBytes bounds the cached configs' ENTRYPOINT, CMD, USER
	// and WORKDIR together.
	maxConfigCacheBytes = 16 << 20
)

// Options configure a Resolver. The zero value gives the defaults.
type Options struct {
	// Transport carries every request (registries, token endpoints, the ACR
	// exchange): set it for registries with a private CA, or in tests. It
	// must be an *http.Transport: it is cloned, and the clone gets the
	// network policy at every dial, timeouts no longer than Timeout and a
	// bounded header. Default: a clone of go-containerregistry's default
	// transport (which honours HTTPS_PROXY; proxies are reached wherever
	// they are).
	Transport http.RoundTripper
	// InsecureRegistries are the registries (host[:port], as in image
	// references) that may be spoken to over plain HTTP. Nothing else is,
	// not even localhost. The operator named them, so they are also reached
	// whatever their address (see AllowNetworks).
	InsecureRegistries []string
	// AllowNetworks are networks the webhook connects to although they are
	// refused by default: loopback, link-local (with the cloud metadata
	// services), Azure's host endpoint, multicast (see refusedNetworks).
	// For a registry on such an address that is not listed as insecure.
	AllowNetworks []netip.Prefix
	// DenyNetworks are refused besides, whatever AllowNetworks says: e.g.
	// the cluster's service and node networks, where a pod's author should
	// not make the webhook knock. Insecure registries and proxies are
	// reached still.
	DenyNetworks []netip.Prefix
	// MaxConcurrentLookups bounds the lookups talking to registries at once
	// (default DefaultMaxConcurrentLookups); others wait within their
	// deadline.
	MaxConcurrentLookups int
	// AzureCredential is the webhook's Azure identity for the ACR token
	// exchange; nil skips the exchange.
	AzureCredential azcore.TokenCredential
	// AzureTenantID is the tenant named in the ACR exchange; empty uses the
	// tenant of the access token.
	AzureTenantID string
	// DefaultPlatform fills what a Request's Platform leaves empty
	// (default DefaultPlatform()).
	DefaultPlatform Platform
	// Timeout bounds every lookup (default DefaultTimeout).
	Timeout time.Duration
	// TagTTL, DigestTTL, NegativeTTL: see the package comment (defaults
	// DefaultTagTTL, DefaultDigestTTL, DefaultNegativeTTL; a negative
	// NegativeTTL stores no failures).
	TagTTL, DigestTTL, NegativeTTL time.Duration
	// MaxEntries bounds each cache (default DefaultMaxEntries).
	MaxEntries int
	// UserAgent of registry requests (default DefaultUserAgent).
	UserAgent string
	// Now is the clock of the caches (default time.Now).
	Now func() time.Time
	// Logger gets lookups at V(1) and ACR exchange failures; never a
	// credential.
	Logger logr.Logger
}

// Request is one container's image to look up.
type Request struct {
	// Image is the container's image as written in the pod spec.
	Image string
	// Platform the pod runs on (see PlatformFromNodeSelector); empty
	// fields come from Options.DefaultPlatform.
	Platform Platform
	// PullSecrets are the pod's imagePullSecrets, then its
	// ServiceAccount's, in that order; secrets of other types are ignored
	// (and named in the error should the lookup fail).
	PullSecrets []PullSecret
}

// Result is what the webhook needs from the image's config.
type Result struct {
	// Entrypoint and Cmd are the image's ENTRYPOINT and CMD (nil when
	// unset).
	Entrypoint, Cmd []string
	// User and WorkingDir are the image's USER and WORKDIR.
	User, WorkingDir string
	// Digest is the digest of the platform's image manifest.
	Digest string
}

func (r Result) clone() Result {
	r.Entrypoint = slices.Clone(r.Entrypoint)
	r.Cmd = slices.Clone(r.Cmd)
	return r
}

// Resolver looks up image configs. It is safe for concurrent use; make one
// per process, so its caches are shared.
type Resolver struct {
	transport   http.RoundTripper
	insecure    map[string]bool
	acr         *acrExchanger
	platform    Platform
	timeout     time.Duration
	tagTTL      time.Duration
	digestTTL   time.Duration
	negativeTTL time.Duration
	userAgent   string
	now         func() time.Time
	log         logr.Logger
	identityKey []byte
	// slots holds a token per lookup talking to a registry.
	slots chan struct{}

	mu       sync.Mutex
	tags     *lru[tagKey, v1.Hash]
	configs  *lru[configKey, Result]
	failures *lru[lookupKey, *LookupError]
	flights  map[lookupKey]*flight
}

// tagKey: what ref points to, as seen with one identity's credentials.
type tagKey struct {
	identity string
	ref      string
}

// configKey: the config of the manifest the reference's digest (an image
// or an index) gives on one platform.
type configKey struct {
	digest   v1.Hash
	platform Platform
}

// lookupKey: one lookup, for single flight and stored failures.
type lookupKey struct {
	identity string
	ref      string
	platform Platform
}

// flight is one lookup in progress and the callers waiting for it.
type flight struct {
	done    chan struct{}
	res     Result
	err     *LookupError
	waiters int
	cancel  context.CancelFunc
}

// New returns a Resolver.
func New(o Options) (*Resolver, error) {
	r := &Resolver{
		insecure:    map[string]bool{},
		platform:    o.DefaultPlatform.withDefaults(DefaultPlatform()),
		timeout:     orDefault(o.Timeout, DefaultTimeout),
		tagTTL:      orDefault(o.TagTTL, DefaultTagTTL),
		digestTTL:   orDefault(o.DigestTTL, DefaultDigestTTL),
		negativeTTL: o.NegativeTTL,
		userAgent:   o.UserAgent,
		now:         o.Now,
		log:         o.Logger,
		identityKey: make([]byte, 32),
		flights:     map[lookupKey]*flight{},
	}
	if r.negativeTTL == 0 {
		r.negativeTTL = DefaultNegativeTTL
	}
	if r.userAgent == "" {
		r.userAgent = DefaultUserAgent
	}
	if r.now == nil {
		r.now = time.Now
	}
	if r.log.GetSink() == nil {
		r.log = logr.Discard()
	}
	maxEntries := o.MaxEntries
	if maxEntries <= 0 {
		maxEntries = DefaultMaxEntries
	}
	r.tags = newLRU[tagKey, v1.Hash](maxEntries)
	r.configs = newLRU[configKey, Result](maxEntries).withCost(maxConfigCacheBytes, resultSize)
	r.failures = newLRU[lookupKey, *LookupError](maxEntries)
	slots := o.MaxConcurrentLookups
	if slots <= 0 {
		slots = DefaultMaxConcurrentLookups
	}
	r.slots = make(chan struct{}, slots)
	for _, h := range o.InsecureRegistries {
		h = strings.ToLower(strings.TrimSpace(h))
		if u, err := url.Parse("//" + h); err != nil || h == "" || u.Host != h {
			return nil, fmt.Errorf("insecure registry %q: want host[:port]", h)
		}
		r.insecure[h] = true
	}
	if _, err := rand.Read(r.identityKey); err != nil {
		return nil, fmt.Errorf("drawing the cache identity key: %w", err)
	}

	pol := newNetPolicy(o.AllowNetworks, o.DenyNetworks, r.insecure)
	t, err := newTransport(o.Transport, r.timeout, pol, r.insecure)
	if err != nil {
		return nil, err
	}
	r.transport = t
	if o.AzureCredential != nil {
		r.acr = &acrExchanger{
			cred:   o.AzureCredential,
			tenant: o.AzureTenantID,
			client: &http.Client{Transport: r.transport},
			now:    r.now,
			log:    r.log,
			tokens: map[string]acrToken{},
		}
	}
	return r, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Lookup returns the config of req.Image for req.Platform. It returns
// within ctx's deadline and Options.Timeout, whichever comes first. Every
// error is a *LookupError of one of the Err* classes, worded for the pod's
// author.
func (r *Resolver) Lookup(ctx context.Context, req Request) (Result, error) {
	plat := req.Platform.withDefaults(r.platform)
	if len(req.Image) > maxImageRefLen {
		return Result{}, &LookupError{Image: req.Image, Platform: plat, Class: ErrInvalidImage,
			Reason: fmt.Sprintf("the image reference is longer than %d characters", maxImageRefLen)}
	}
	ref, err := r.parseImage(req.Image)
	if err != nil {
		return Result{}, &LookupError{Image: req.Image, Platform: plat, Class: ErrInvalidImage,
			Reason: "the image is not a valid reference (" + truncate(err.Error(), 200) + ")"}
	}
	cands, notes := r.candidates(ref, req.PullSecrets)
	k := lookupKey{identity: r.identity(cands), ref: ref.Name(), platform: plat}

	r.mu.Lock()
	now := r.now()
	if res, ok := r.cachedLocked(k, now); ok {
		r.mu.Unlock()
		r.log.V(1).Info("Image config from cache", "image", k.ref, "platform", plat.String(), "digest", res.Digest)
		return res.clone(), nil
	}
	if lerr, ok := r.failures.get(k, now); ok {
		r.mu.Unlock()
		return Result{}, lerr.forRequest(req.Image, notes)
	}
	f := r.flights[k]
	if f == nil {
		f = r.startLocked(ctx, k, ref, cands)
	}
	f.waiters++
	r.mu.Unlock()

	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	select {
	case <-f.done:
		if f.err != nil {
			return Result{}, f.err.forRequest(req.Image, notes)
		}
		return f.res.clone(), nil
	case <-ctx.Done():
		r.leave(k, f)
		v := classify(ctx.Err(), "")
		lerr := &LookupError{Platform: plat, Class: v.class, Reason: v.reason, cause: contextCause(ctx.Err())}
		return Result{}, lerr.forRequest(req.Image, notes)
	}
}

// parseImage parses an image reference as kubelet does (a missing registry
// is Docker Hub, a missing tag "latest"), marking registries listed as
// insecure so that plain HTTP is tried for them.
func (r *Resolver) parseImage(image string) (name.Reference, error) {
	ref, err := name.ParseReference(image)
	if err != nil {
		return nil, err
	}
	if r.insecure[strings.ToLower(ref.Context().RegistryStr())] {
		return name.ParseReference(image, name.Insecure)
	}
	return ref, nil
}

// cachedLocked answers k from the caches: what k's reference points to for
// k's identity, then that digest's config for k's platform.
func (r *Resolver) cachedLocked(k lookupKey, now time.Time) (Result, bool) {
	d, ok := r.tags.get(tagKey{identity: k.identity, ref: k.ref}, now)
	if !ok {
		return Result{}, false
	}
	return r.configs.get(configKey{digest: d, platform: k.platform}, now)
}

// startLocked starts the lookup of k. Its context keeps the first caller's
// values but not its cancellation or deadline: the lookup belongs to every
// caller that joins it, each bounded by its own context, and is cancelled
// when the last one gives up (or after Options.Timeout).
func (r *Resolver) startLocked(ctx context.Context, k lookupKey, ref name.Reference, cands []candidate) *flight {
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.timeout)
	f := &flight{done: make(chan struct{}), cancel: cancel}
	r.flights[k] = f
	go r.run(fctx, k, f, ref, cands)
	return f
}

// run makes the lookup, once a slot is free, and hands its answer to the
// waiting callers.
func (r *Resolver) run(ctx context.Context, k lookupKey, f *flight, ref name.Reference, cands []candidate) {
	var (
		res Result
		err *LookupError
	)
	select {
	case r.slots <- struct{}{}:
		res, err = r.fetch(ctx, k, ref, cands)
		<-r.slots
	case <-ctx.Done():
		err = &LookupError{Platform: k.platform, Class: ErrTimeout, Reason: (&busyError{}).Error(), cause: contextCause(ctx.Err())}
	}
	f.cancel()
	r.mu.Lock()
	if r.flights[k] == f {
		delete(r.flights, k)
	}
	if err != nil && r.negativeTTL > 0 && isAnswer(err.Class) {
		r.failures.add(k, err, r.now().Add(r.negativeTTL))
	}
	f.res, f.err = res, err
	r.mu.Unlock()
	close(f.done)
}

// leave takes a caller that gave up off f, cancelling f when it was the
// last one. A cancelled flight is detached at once, so the next Lookup
// starts afresh instead of joining one about to fail.
func (r *Resolver) leave(k lookupKey, f *flight) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f.waiters--
	if f.waiters > 0 {
		return
	}
	if r.flights[k] == f {
		delete(r.flights, k)
	}
	f.cancel()
}

// busyError: every slot stayed taken until the lookup's deadline.
type busyError struct{}

func (*busyError) Error() string {
	return "the webhook was busy with other image lookups until the deadline"
}

// isAnswer reports whether a failure of class is the registry's answer
// about the image (worth reusing briefly), not a passing condition.
func isAnswer(class error) bool {
	return errors.Is(class, ErrNotFound) || errors.Is(class, ErrUnauthorized) || errors.Is(class, ErrNoMatchingPlatform)
}

// forRequest is e as the caller of one Lookup sees it: with the image as
// that caller wrote it and the notes on its own pull secrets.
func (e *LookupError) forRequest(image string, notes []string) *LookupError {
	c := *e
	c.Image = image
	if len(notes) > 0 && !errors.Is(c.Class, ErrTimeout) {
		c.Reason += " (unusable: " + strings.Join(notes, "; ") + ")"
	}
	return &c
}
