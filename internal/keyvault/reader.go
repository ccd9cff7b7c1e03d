package keyvault

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azcertificates"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
)

// Retry defaults of Key Vault requests. The SDK retries 408 and 5xx answers
// and failed connections itself, a few times with short delays; it does not
// retry 429: the per-vault Limiter handles throttling, so no worker sleeps
// on a Retry-After while holding a request slot.
const (
	DefaultMaxRetries    = 3
	DefaultRetryDelay    = 200 * time.Millisecond
	DefaultMaxRetryDelay = 2 * time.Second
	// DefaultTryTimeout bounds one attempt, so a connection that hangs is
	// retried rather than waited on forever.
	DefaultTryTimeout = 30 * time.Second
)

// retriedStatuses are the answers the SDK retries: azcore's default list
// without 429.
func retriedStatuses() []int {
	return []int{
		http.StatusRequestTimeout,
		http.StatusInternalServerError,
		http.StatusBadGateway,
		http.StatusServiceUnavailable,
		http.StatusGatewayTimeout,
	}
}

// ReaderOptions configure a Reader. The zero value is the production setup.
type ReaderOptions struct {
	// Transport carries every Key Vault request; nil means the SDK's default
	// HTTP client (tests pass the emulator's).
	Transport policy.Transporter
	// Limiter is the per-vault rate limit; share one between the Readers of a
	// process. Nil: a Limiter of its own with default settings.
	Limiter *Limiter
	// MaxRetries (default DefaultMaxRetries; negative: none), RetryDelay
	// (DefaultRetryDelay), MaxRetryDelay (DefaultMaxRetryDelay) and
	// TryTimeout (DefaultTryTimeout) tune the SDK's retries of 408, 5xx and
	// failed connections. A Retry-After longer than MaxRetryDelay ends the
	// retries and is reported in Error.RetryAfter.
	MaxRetries    int
	RetryDelay    time.Duration
	MaxRetryDelay time.Duration
	TryTimeout    time.Duration
	// Metrics receives request counts and latencies; nil discards them.
	Metrics Metrics
	// Logger gets throttling and client creation at debug and warn levels,
	// with vault and object names only; nil discards.
	Logger *slog.Logger
	// Now is the clock for Retry-After dates; nil means time.Now.
	Now func() time.Time
}

// Reader reads Key Vault objects with one credential. It creates one
// azsecrets and one azkeys client per vault, on first use, and reuses them;
// the credential caches tokens, so reads cost no token request until the
// token nears expiry. Every request first takes a token from the Limiter.
// It is safe for concurrent use. Reader does not cache objects: Cache does.
type Reader struct {
	cred       *Credential
	clientOpts azcore.ClientOptions
	limiter    *Limiter
	metrics    Metrics
	log        *slog.Logger
	now        func() time.Time

	mu      sync.Mutex
	secrets map[string]*azsecrets.Client
	keys    map[string]*azkeys.Client
	certs   map[string]*azcertificates.Client
}

// NewReader returns a Reader that reads with cred.
func NewReader(cred *Credential, o ReaderOptions) *Reader {
	r := &Reader{
		cred:    cred,
		limiter: o.Limiter,
		metrics: o.Metrics,
		log:     o.Logger,
		now:     o.Now,
		secrets: map[string]*azsecrets.Client{},
		keys:    map[string]*azkeys.Client{},
		certs:   map[string]*azcertificates.Client{},
	}
	if r.limiter == nil {
		r.limiter = NewLimiter(LimiterOptions{})
	}
	if r.metrics == nil {
		r.metrics = nopMetrics{}
	}
	if r.log == nil {
		r.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if r.now == nil {
		r.now = time.Now
	}
	maxRetries := o.MaxRetries
	switch {
	case maxRetries == 0:
		maxRetries = DefaultMaxRetries
	case maxRetries < 0:
		maxRetries = -1 // azcore: no retries
	case maxRetries > 100:
		maxRetries = 100
	}
	retry := policy.RetryOptions{
		MaxRetries:    int32(maxRetries), //nolint:gosec // bounded to -1..100 above
		RetryDelay:    o.RetryDelay,
		MaxRetryDelay: o.MaxRetryDelay,
		TryTimeout:    o.TryTimeout,
		StatusCodes:   retriedStatuses(),
	}
	if retry.RetryDelay == 0 {
		retry.RetryDelay = DefaultRetryDelay
	}
	if retry.MaxRetryDelay == 0 {
		retry.MaxRetryDelay = DefaultMaxRetryDelay
	}
	if retry.TryTimeout == 0 {
		retry.TryTimeout = DefaultTryTimeout
	}
	r.clientOpts = azcore.ClientOptions{Transport: o.Transport, Retry: retry}
	return r
}

// Identity is the credential's identity.
func (r *Reader) Identity() string { return r.cred.Identity() }

// Read reads one object: one data-plane request for every kind (a
// certificate is read as its backing secret, which holds the chain and, if
// exportable, the key). Failures are *Error, except that the caller's own
// cancellation is returned as ctx's error. While Key Vault's throttling
// pause of the vault runs, Read fails at once with ErrThrottled and the
// time remaining, without a request.
func (r *Reader) Read(ctx context.Context, ref Ref) (Object, error) {
	if err := validate(ref); err != nil {
		return Object{}, err
	}
	host := r.host(ref.Store)
	paused, err := r.limiter.Acquire(ctx, host)
	if err != nil {
		return Object{}, fmt.Errorf("reading %s: %w", ref, err)
	}
	if paused > 0 {
		r.metrics.RequestRejected(ref.Store)
		return Object{}, &Error{Ref: ref, Class: ErrThrottled, RetryAfter: paused, Detail: "requests to the vault are paused after Key Vault throttled them"}
	}
	start := time.Now()
	obj, err := r.read(ctx, ref)
	r.metrics.RequestDone(ref.Store, ref.Kind, ResultOf(err), time.Since(start))
	var e *Error
	if errors.Is(err, ErrThrottled) && errors.As(err, &e) {
		e.RetryAfter = r.limiter.Pause(host, e.RetryAfter)
		r.metrics.VaultPaused(ref.Store, e.RetryAfter)
		r.log.LogAttrs(ctx, slog.LevelWarn, "Key Vault throttled the vault; pausing its requests",
			slog.String("vault", ref.Store), slog.Duration("pause", e.RetryAfter))
	}
	return obj, err
}

// host names the vault for the limiter: the same name in two clouds is two vaults.
func (r *Reader) host(vault string) string {
	return strings.ToLower(vault) + "." + r.cred.Cloud().VaultSuffix()
}

func (r *Reader) read(ctx context.Context, ref Ref) (Object, error) {
	switch ref.Kind {
	case KindSecret, KindCertificate:
		resp, err := r.secretsClient(ref.Store).GetSecret(ctx, ref.Name, ref.Version, nil)
		if err != nil {
			err = classify(ctx, ref, err, r.now())
			if ref.Kind == KindCertificate && errors.Is(err, ErrForbidden) {
				return r.readPublicCertificate(ctx, ref, err)
			}
			return Object{}, err
		}
		if ref.Kind == KindCertificate {
			return certificateObject(ref, resp.Secret)
		}
		return secretObject(ref, resp.Secret), nil
	case KindKey:
		resp, err := r.keysClient(ref.Store).GetKey(ctx, ref.Name, ref.Version, nil)
		if err != nil {
			return Object{}, classify(ctx, ref, err, r.now())
		}
		return keyObject(ref, resp.KeyBundle)
	}
	return Object{}, &Error{Ref: ref, Class: ErrInvalidObject, Detail: fmt.Sprintf("unknown object kind %q", ref.Kind)}
}

// readPublicCertificate reads a certificate's public part when its backing
// secret is forbidden: the akv2k8s README tells users to grant certificate
// permissions (not secret ones) for certificates, which suffices for outputs
// without the private key. It costs a second request, only for such
// identities; the result holds the leaf certificate and no key.
func (r *Reader) readPublicCertificate(ctx context.Context, ref Ref, secretErr error) (Object, error) {
	resp, err := r.certificatesClient(ref.Store).GetCertificate(ctx, ref.Name, ref.Version, nil)
	if err != nil {
		if err := classify(ctx, ref, err, r.now()); !errors.Is(err, ErrForbidden) {
			return Object{}, err
		}
		return Object{}, secretErr
	}
	return publicCertificateObject(ref, resp.Certificate)
}

func (r *Reader) secretsClient(vault string) *azsecrets.Client {
	return cachedClient(r, r.secrets, vault, "secrets", func(url string) (*azsecrets.Client, error) {
		return azsecrets.NewClient(url, r.cred, &azsecrets.ClientOptions{ClientOptions: r.clientOpts})
	})
}

func (r *Reader) keysClient(vault string) *azkeys.Client {
	return cachedClient(r, r.keys, vault, "keys", func(url string) (*azkeys.Client, error) {
		return azkeys.NewClient(url, r.cred, &azkeys.ClientOptions{ClientOptions: r.clientOpts})
	})
}

func (r *Reader) certificatesClient(vault string) *azcertificates.Client {
	return cachedClient(r, r.certs, vault, "certificates", func(url string) (*azcertificates.Client, error) {
		return azcertificates.NewClient(url, r.cred, &azcertificates.ClientOptions{ClientOptions: r.clientOpts})
	})
}

// cachedClient returns the client of one vault from m, creating it on first
// use. NewClient fails only for a URL it cannot parse, and Ref.validate made
// the vault name well-formed.
func cachedClient[C any](r *Reader, m map[string]*C, vault, kind string, newClient func(url string) (*C, error)) *C {
	r.mu.Lock()
	defer r.mu.Unlock()
	key := strings.ToLower(vault)
	c, ok := m[key]
	if !ok {
		c, _ = newClient(r.cred.Cloud().VaultURL(key))
		m[key] = c
		r.log.Debug("created Key Vault "+kind+" client", slog.String("vault", key), slog.String("identity", r.cred.Identity()))
	}
	return c
}

// Names Key Vault accepts. Checking them before sending keeps a typo from
// costing a request and a path-injection from reaching the URL.
var (
	vaultNameRE  = regexp.MustCompile(`^[A-Za-z0-9-]{3,24}$`)
	objectNameRE = regexp.MustCompile(`^[A-Za-z0-9-]{1,127}$`)
	versionRE    = regexp.MustCompile(`^[A-Za-z0-9]{0,64}$`)
)

// validate rejects refs no vault can answer; such objects cannot be found.
func validate(r Ref) error {
	switch {
	case !vaultNameRE.MatchString(r.Store):
		return &Error{Ref: r, Class: ErrNotFound, Detail: "invalid vault name (3-24 letters, digits and hyphens)"}
	case !objectNameRE.MatchString(r.Name):
		return &Error{Ref: r, Class: ErrNotFound, Detail: "invalid object name (1-127 letters, digits and hyphens)"}
	case !versionRE.MatchString(r.Version):
		return &Error{Ref: r, Class: ErrNotFound, Detail: "invalid object version (letters and digits)"}
	}
	return nil
}
