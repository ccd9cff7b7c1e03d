package resolver

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/latchkey-dev/latchkey/api/v2beta1"
	"github.com/latchkey-dev/latchkey/internal/injectmark"
	"github.com/latchkey-dev/latchkey/internal/logging"
	"github.com/latchkey-dev/latchkey/internal/podcontract"
	"github.com/latchkey-dev/latchkey/internal/runner"
	"github.com/latchkey-dev/latchkey/internal/scheme"
)

// Config is everything the resolver process is configured with.
type Config struct {
	// Host and Port are where pods reach the resolver (HTTPS). Port 0 picks
	// a free port (tests).
	Host    string
	Port    int
	CertDir string
	// Audience of the projected tokens (the webhook's --resolver-audience).
	Audience string
	// InjectionMarkKeys is the file of the keys that verify the webhook's
	// admission mark (the webhook's --injection-mark-keys).
	InjectionMarkKeys string
	// CABundle is the file of the CAs that verify the resolver (current and
	// next); CAConfigMap the ConfigMap it is published as in every labelled
	// namespace. An empty CABundle publishes nothing.
	CABundle       string
	CAConfigMap    string
	CABundlePoll   time.Duration
	NamespaceLabel string
	RequirePodIP   bool
	// KeyVaultOptions select the Key Vault credential, as the controller's.
	runner.KeyVaultOptions
	// TenancyOptions name the allow-list of vaults per namespace, as the
	// controller's.
	runner.TenancyOptions
	// Vault is the HashiCorp Vault backend (--hashicorp-vault*), off by
	// default: as the controller's.
	Vault runner.VaultOptions
	// RefreshInterval is how old a Key Vault read may be when served.
	RefreshInterval time.Duration
	// RateLimit and RateBurst are each namespace's token bucket.
	RateLimit float64
	RateBurst int
	// PodWait is how long a request waits for the pod watch to bring a pod
	// it does not hold before one GET; ReviewCacheTTL bounds the cache of
	// the fallback token reviews.
	PodWait        time.Duration
	ReviewCacheTTL time.Duration
	// RequestTimeout bounds one request.
	RequestTimeout time.Duration
	// MaxInFlight bounds the authenticated requests handled at once.
	MaxInFlight int
	// KeyRefresh and KeyRefetch: how often the issuer's keys are read, and
	// how often at most when a token names an unknown key id
	// (DefaultKeyRefresh and DefaultKeyRefetch when zero).
	KeyRefresh, KeyRefetch time.Duration
	// ServiceAccountKeys and ServiceAccountIssuer: the issuer's public keys
	// (a file: JWKS or PEM) and the iss of its tokens, for an API server
	// that does not publish them (OIDC discovery is off unless the first
	// --service-account-issuer is an https URL). Empty: discovery.
	ServiceAccountKeys, ServiceAccountIssuer string
	// Server holds the server's timeouts (DefaultServerTimeouts when zero).
	Server ServerTimeouts
	// APIClientOptions bound the resolver's requests to the API server.
	runner.APIClientOptions
	runner.LeaderElectionOptions
	// ServingOptions are /metrics (authenticated by default) and the probes.
	runner.ServingOptions
	Log logging.Options

	// Transport carries Key Vault and Entra ID requests; nil in production.
	Transport policy.Transporter
	// Registry receives the metrics; nil means controller-runtime's.
	Registry prometheus.Registerer
	// Now is the clock of the checks, caches and rate limit; nil means
	// time.Now (tests move it).
	Now func() time.Time
	// SkipNameValidation lets several resolvers run in one process (tests):
	// controller-runtime otherwise refuses a second CA bundle publisher.
	SkipNameValidation bool
}

// DefaultConfig is the flag defaults.
func DefaultConfig() Config {
	return Config{
		Port: 8443, CertDir: "/tls",
		CAConfigMap: "latchkey-resolver-ca", CABundlePoll: 10 * time.Second,
		NamespaceLabel:  podcontract.DefaultNamespaceLabel,
		KeyVaultOptions: runner.DefaultKeyVaultOptions(),
		TenancyOptions:  runner.DefaultTenancyOptions(),
		Vault:           runner.DefaultVaultOptions(),
		RefreshInterval: 10 * time.Minute,
		RateLimit:       DefaultRateLimit, RateBurst: DefaultRateBurst,
		PodWait: DefaultPodWait, ReviewCacheTTL: MaxReviewTTL,
		RequestTimeout: 20 * time.Second,
		MaxInFlight:    DefaultMaxInFlight,
		// A rollout of 500 pods costs no read once the pod watches follow
		// (while the issuer's keys cannot be read, 500 token reviews), but
		// a resolver starting with 1,000 labelled namespaces lists the pods
		// of each.
		APIClientOptions:      runner.APIClientOptions{QPS: 500, Burst: 1000},
		LeaderElectionOptions: runner.LeaderElectionOptions{LeaderElection: true, LeaderElectionID: "latchkey-resolver"},
		ServingOptions:        runner.DefaultServingOptions(),
		Log:                   logging.DefaultOptions(),
	}
}

// BindFlags registers the resolver's flags, kebab-case, on fs.
func (c *Config) BindFlags(fs *flag.FlagSet) {
	fs.IntVar(&c.Port, "port", c.Port, "HTTPS port pods reach the resolver at")
	fs.StringVar(&c.CertDir, "cert-dir", c.CertDir, "folder holding tls.crt and tls.key; reloaded when they change")
	fs.StringVar(&c.Audience, "audience", c.Audience, "audience of the service-account tokens pods present (the webhook's --resolver-audience); required")
	fs.StringVar(&c.InjectionMarkKeys, "injection-mark-keys", c.InjectionMarkKeys, "file of the keys (one a line) that verify the webhook's admission mark (the webhook's --injection-mark-keys); required")
	fs.StringVar(&c.CABundle, "ca-bundle", c.CABundle, "PEM file of the CAs that verify the resolver (current and next), published to every labelled namespace; empty publishes nothing")
	fs.StringVar(&c.CAConfigMap, "ca-configmap", c.CAConfigMap, "name of the ConfigMap holding the CA bundle as ca.crt in each labelled namespace")
	fs.DurationVar(&c.CABundlePoll, "ca-bundle-poll-interval", c.CABundlePoll, "how often the CA bundle file is re-read")
	fs.StringVar(&c.NamespaceLabel, "namespace-label", c.NamespaceLabel, "namespace label whose value \"enabled\" opts a namespace into injection")
	fs.BoolVar(&c.RequirePodIP, "require-pod-ip", c.RequirePodIP, "refuse requests whose source address is not the pod's IP (needs source addresses preserved up to the resolver)")
	c.KeyVaultOptions.BindFlags(fs)
	c.TenancyOptions.BindFlags(fs)
	c.Vault.BindFlags(fs)
	fs.DurationVar(&c.RefreshInterval, "refresh-interval", c.RefreshInterval, "how old a Key Vault read may be when served (per object: spec.refreshInterval)")
	fs.Float64Var(&c.RateLimit, "rate-limit", c.RateLimit, "requests per second each namespace may make (token bucket refill)")
	fs.IntVar(&c.RateBurst, "rate-burst", c.RateBurst, "requests a namespace may make at once (token bucket size)")
	fs.DurationVar(&c.PodWait, "pod-wait", c.PodWait, "how long a request whose pod the pod watch has not brought yet waits for it before reading the pod from the API server (0-10s)")
	fs.DurationVar(&c.ReviewCacheTTL, "token-review-cache-ttl", c.ReviewCacheTTL, "how long a token review is reused (at most 1m, never past the token's expiry); reviews are made only while the service-account issuer's keys cannot be read")
	fs.StringVar(&c.ServiceAccountKeys, "service-account-keys", c.ServiceAccountKeys, "file of the service-account issuer's public keys (JWKS, or PEM public keys or certificates, as the API server's --service-account-key-file), re-read every minute; for API servers that do not publish them (a first --service-account-issuer that is not an https URL); empty: read them from the API server's OIDC discovery")
	fs.StringVar(&c.ServiceAccountIssuer, "service-account-issuer", c.ServiceAccountIssuer, "iss of the service-account tokens the keys of --service-account-keys verify (the API server's first --service-account-issuer); required with it")
	fs.DurationVar(&c.RequestTimeout, "request-timeout", c.RequestTimeout, "time limit of one request")
	fs.IntVar(&c.MaxInFlight, "max-in-flight", c.MaxInFlight, "authenticated requests one replica handles at once (four times as many wait; beyond: 503)")
	c.APIClientOptions.BindFlags(fs)
	c.LeaderElectionOptions.BindFlags(fs, " to publish the CA bundle (every replica serves)")
	c.ServingOptions.BindFlags(fs)
	c.Log.BindFlags(fs)
}

// Logging is the process logger's configuration.
func (c Config) Logging() logging.Options { return c.Log }

// Validate checks the configuration and the Key Vault credentials it names.
func (c Config) Validate() error {
	var errs []error
	if c.Port < 0 || c.Port > 65535 {
		errs = append(errs, errors.New("port must be 1-65535"))
	}
	if c.Audience == "" {
		errs = append(errs, errors.New("audience is required: the webhook's --resolver-audience"))
	}
	if c.InjectionMarkKeys == "" {
		errs = append(errs, errors.New("injection-mark-keys is required: the webhook's --injection-mark-keys"))
	} else if _, err := injectmark.Load(c.InjectionMarkKeys); err != nil {
		errs = append(errs, err)
	}
	if c.MaxInFlight < 1 {
		errs = append(errs, errors.New("max-in-flight must be positive"))
	}
	if c.CABundle != "" && len(validation.IsDNS1123Subdomain(c.CAConfigMap)) > 0 {
		errs = append(errs, fmt.Errorf("ca-configmap %q is not a ConfigMap name", c.CAConfigMap))
	}
	if c.CABundlePoll <= 0 {
		errs = append(errs, errors.New("ca-bundle-poll-interval must be positive"))
	}
	if len(validation.IsQualifiedName(c.NamespaceLabel)) > 0 {
		errs = append(errs, fmt.Errorf("namespace-label %q is not a label key", c.NamespaceLabel))
	}
	if c.RefreshInterval < time.Second {
		errs = append(errs, errors.New("refresh-interval must be at least 1s"))
	}
	if c.RateLimit <= 0 || c.RateBurst < 1 {
		errs = append(errs, errors.New("rate-limit and rate-burst must be positive"))
	}
	if c.PodWait < 0 || c.PodWait > 10*time.Second {
		errs = append(errs, errors.New("pod-wait must be between 0 and 10s"))
	}
	if c.ReviewCacheTTL < 0 || c.ReviewCacheTTL > MaxReviewTTL {
		errs = append(errs, errors.New("token-review-cache-ttl must be between 0 and 1m"))
	}
	if (c.ServiceAccountKeys == "") != (c.ServiceAccountIssuer == "") {
		errs = append(errs, errors.New("service-account-keys and service-account-issuer go together"))
	} else if c.ServiceAccountKeys != "" {
		if _, err := (KeyFile{Path: c.ServiceAccountKeys, Issuer: c.ServiceAccountIssuer}).Load(context.Background()); err != nil {
			errs = append(errs, err)
		}
	}
	if c.RequestTimeout < time.Second {
		errs = append(errs, errors.New("request-timeout must be at least 1s"))
	}
	errs = append(errs, c.TenancyOptions.Validate(), c.Vault.Validate(), c.APIClientOptions.Validate(), c.Log.Validate(), c.KeyVaultOptions.Validate())
	return errors.Join(errs...)
}

// Resolver is the resolver process: a manager whose runnables are the HTTPS
// server (every replica), the informers, and the CA bundle publisher (the
// leader).
type Resolver struct {
	Manager ctrl.Manager
	Server  *Server
	// Verifier authenticates tokens; its Keys are read once the manager
	// starts.
	Verifier *TokenVerifier
	// Pods is the watch-fed cache of the labelled namespaces' pods.
	Pods *PodCache
}

// Start runs the resolver until ctx ends.
func (r *Resolver) Start(ctx context.Context) error { return r.Manager.Start(ctx) }

// Addr is the address the HTTPS server listens on.
func (r *Resolver) Addr() net.Addr { return r.Server.Addr() }

// Setup builds the resolver: the Key Vault credential, reader and shared
// cache, the manager with its informers (AzureKeyVaultSecrets; labelled
// namespaces; the CA ConfigMaps), the handler and its server, and the CA
// bundle publisher. The caller starts it.
func Setup(restCfg *rest.Config, c Config, log logr.Logger) (*Resolver, error) {
	reg := runner.MetricsRegistry(c.Registry)
	objects, identity, err := c.KeyVaultOptions.Open(reg, c.Transport, c.Now, log)
	if err != nil {
		return nil, err
	}
	m, err := NewMetrics(reg)
	if err != nil {
		return nil, err
	}
	mgr, err := newManager(restCfg, c, log)
	if err != nil {
		return nil, err
	}
	// Every replica serves, so every replica follows the policy file.
	policy, err := c.TenancyOptions.Open(mgr, log)
	if err != nil {
		return nil, err
	}
	if err := c.Vault.Register(objects, restCfg, policy); err != nil {
		return nil, err
	}
	marks, err := injectmark.Load(c.InjectionMarkKeys)
	if err != nil {
		return nil, err
	}
	verifier, err := newVerifier(mgr, c, m, log)
	if err != nil {
		return nil, err
	}
	live := countedReader{Reader: mgr.GetAPIReader(), observe: m.observeAPIRead}
	pods, err := newPodCache(mgr, c, live, m, log)
	if err != nil {
		return nil, err
	}
	inFlight := NewInFlight(c.MaxInFlight)
	inFlight.Gauge = m.inFlight
	h := &Handler{
		Verifier:   verifier,
		Pods:       pods,
		Namespaces: &Namespaces{Cache: mgr.GetCache(), Live: live, Label: c.NamespaceLabel},
		Values: &Values{AKVS: mgr.GetCache(), Live: live, Tenancy: policy, Objects: objects,
			RefreshInterval: c.RefreshInterval},
		Limiter:      &NamespaceLimiter{Rate: rate.Limit(c.RateLimit), Burst: c.RateBurst, Now: c.Now},
		InFlight:     inFlight,
		Marks:        marks,
		RequirePodIP: c.RequirePodIP,
		Timeout:      c.RequestTimeout,
		BodyTimeout:  c.Server.Body,
		Log:          log.WithName("resolve"),
		Metrics:      m,
	}
	srv, err := NewServer(net.JoinHostPort(c.Host, strconv.Itoa(c.Port)), c.CertDir, h, c.Server, log.WithName("server"))
	if err != nil {
		return nil, err
	}
	if err := mgr.Add(srv); err != nil {
		return nil, err
	}
	if err := addChecks(mgr, srv, pods); err != nil {
		return nil, err
	}
	if err := setupPublisher(mgr, c, log); err != nil {
		return nil, err
	}
	log.Info("resolver configured", "identity", identity, "audience", c.Audience, "maxInFlight", c.MaxInFlight, "address", srv.Addr().String(),
		"refreshInterval", c.RefreshInterval.String(), "requirePodIP", c.RequirePodIP, "tenancyPolicy", c.TenancyPolicy)
	return &Resolver{Manager: mgr, Server: srv, Verifier: verifier, Pods: pods}, nil
}

// Fallback review bounds: while the issuer's keys cannot be read, tokens
// the review cache has not seen cost a TokenReview each, at most this many
// a second across the replica.
const (
	fallbackReviewRate  = 50
	fallbackReviewBurst = 100
)

// newVerifier builds the token verifier: the issuer's keys read from the
// API server, or from the install's file (a runnable keeps them fresh),
// and TokenReview as the fallback while they cannot be read.
func newVerifier(mgr ctrl.Manager, c Config, m *Metrics, log logr.Logger) (*TokenVerifier, error) {
	cs, err := kubernetes.NewForConfig(mgr.GetConfig())
	if err != nil {
		return nil, err
	}
	rc := cs.Discovery().RESTClient()
	keys := &IssuerKeys{
		Get: func(ctx context.Context, path string) ([]byte, error) {
			return rc.Get().AbsPath(path).DoRaw(ctx)
		},
		Refresh: c.KeyRefresh, MinRefetch: c.KeyRefetch, Now: c.Now,
		Observe: m.observeKeyFetch, Log: log.WithName("issuer"),
	}
	if c.ServiceAccountKeys != "" {
		keys.Load = KeyFile{Path: c.ServiceAccountKeys, Issuer: c.ServiceAccountIssuer}.Load
	}
	if err := mgr.Add(keys); err != nil {
		return nil, err
	}
	return &TokenVerifier{
		Audience: c.Audience,
		Keys:     keys,
		Fallback: &Reviewer{
			Create: func(ctx context.Context, tr *authenticationv1.TokenReview) (*authenticationv1.TokenReview, error) {
				return tr, mgr.GetClient().Create(ctx, tr)
			},
			Audience: c.Audience, TTL: c.ReviewCacheTTL, Now: c.Now, Observe: m.observeReview,
			Limit: rate.NewLimiter(fallbackReviewRate, fallbackReviewBurst),
		},
		Now:     c.Now,
		Observe: m.observeVerification,
	}, nil
}

// newPodCache builds the watch-fed pod cache of the labelled namespaces;
// its watches ask for protobuf, cheaper to decode than JSON for the lists
// of large namespaces.
func newPodCache(mgr ctrl.Manager, c Config, live client.Reader, m *Metrics, log logr.Logger) (*PodCache, error) {
	cfg := rest.CopyConfig(mgr.GetConfig())
	cfg.ContentType = runtime.ContentTypeProtobuf
	cfg.AcceptContentTypes = runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	pods := &PodCache{
		Namespaces: func(ctx context.Context) (cache.Informer, error) {
			return mgr.GetCache().GetInformer(ctx, &corev1.Namespace{})
		},
		Label: c.NamespaceLabel, Watch: cs.CoreV1().RESTClient(), Live: live, Wait: c.PodWait,
		Observe: m.observePodLookup, Now: c.Now, Log: log.WithName("pods"),
	}
	return pods, mgr.Add(pods)
}

// countedReader counts every read it makes of the API server, by
// resource.
type countedReader struct {
	client.Reader
	observe func(resource string)
}

func (r countedReader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	r.observe(resourceOf(obj))
	return r.Reader.Get(ctx, key, obj, opts...)
}

func (r countedReader) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	r.observe(resourceOf(list))
	return r.Reader.List(ctx, list, opts...)
}

// resourceOf names the resource of obj for the metrics.
func resourceOf(obj runtime.Object) string {
	switch obj.(type) {
	case *corev1.Pod:
		return "pods"
	case *corev1.Namespace:
		return "namespaces"
	case *v2beta1.AzureKeyVaultSecret, *v2beta1.AzureKeyVaultSecretList:
		return "azurekeyvaultsecrets"
	default:
		return "other"
	}
}

// addChecks adds the health check (the process answers) and the readiness
// checks: serving, and the informers and pod watches synced (before that
// every request would read AzureKeyVaultSecrets, namespaces or pods from
// the API server).
func addChecks(mgr ctrl.Manager, srv *Server, pods *PodCache) error {
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("server", srv.Ready); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("pods", func(*http.Request) error {
		if !pods.Synced() {
			return errors.New("pod watches not synced")
		}
		return nil
	}); err != nil {
		return err
	}
	return mgr.AddReadyzCheck("cache", func(req *http.Request) error {
		if !mgr.GetCache().WaitForCacheSync(req.Context()) {
			return errors.New("cache not synced")
		}
		return nil
	})
}

// setupPublisher adds the CA bundle publisher, when a bundle is configured.
func setupPublisher(mgr ctrl.Manager, c Config, log logr.Logger) error {
	if c.CABundle == "" {
		return nil
	}
	bundle, err := LoadCABundle(c.CABundle)
	if err != nil {
		return err
	}
	bundle.OnError = func(err error) { log.Error(err, "CA bundle unreadable; the last good one stays published") }
	if err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		bundle.Watch(ctx, c.CABundlePoll)
		return nil
	})); err != nil {
		return err
	}
	p := &Publisher{Client: mgr.GetClient(), Name: c.CAConfigMap, Label: c.NamespaceLabel, Bundle: bundle}
	return p.SetupWithManager(mgr)
}

// newManager builds the manager. Its cache holds AzureKeyVaultSecrets,
// the namespaces labelled for injection and the ConfigMaps named
// CAConfigMap (the pods of labelled namespaces are PodCache's).
func newManager(cfg *rest.Config, c Config, log logr.Logger) (ctrl.Manager, error) {
	mo := ctrl.Options{
		Scheme: scheme.New(),
		Logger: log,
		Cache: cache.Options{
			DefaultTransform: cache.TransformStripManagedFields(),
			ByObject: map[client.Object]cache.ByObject{
				&corev1.Namespace{}:            {Label: labels.SelectorFromSet(labels.Set{c.NamespaceLabel: "enabled"})},
				&corev1.ConfigMap{}:            {Field: fields.OneTermEqualSelector("metadata.name", c.CAConfigMap)},
				&v2beta1.AzureKeyVaultSecret{}: {Transform: scheme.Slim},
			},
		},
		Client:                  client.Options{Cache: &client.CacheOptions{DisableFor: []client.Object{&corev1.Pod{}}}},
		GracefulShutdownTimeout: ptr.To(30 * time.Second),
		Controller:              config.Controller{SkipNameValidation: ptr.To(c.SkipNameValidation)},
	}
	c.ServingOptions.Apply(&mo)
	c.LeaderElectionOptions.Apply(&mo)
	return ctrl.NewManager(c.RESTConfig(cfg), mo)
}
