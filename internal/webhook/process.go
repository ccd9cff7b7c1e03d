package webhook

import (
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	crwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/latchkey-dev/latchkey/internal/imageconfig"
	"github.com/latchkey-dev/latchkey/internal/injectmark"
	"github.com/latchkey-dev/latchkey/internal/keyvault"
	"github.com/latchkey-dev/latchkey/internal/logging"
	"github.com/latchkey-dev/latchkey/internal/release"
	"github.com/latchkey-dev/latchkey/internal/runner"
	"github.com/latchkey-dev/latchkey/internal/scheme"
)

// Config is everything the webhook process is configured with.
type Config struct {
	Port    int
	CertDir string
	// Host is the address to listen on; empty listens on all.
	Host string
	// Timeout is the webhook's timeoutSeconds; image lookups get half of it.
	Timeout time.Duration
	// EnvImage is the image of the in-container binary.
	EnvImage           string
	EnvImagePullPolicy string
	// InsecureRegistries may be reached over plain HTTP for image lookups.
	InsecureRegistries []string
	// RegistryAllowNetworks and RegistryDenyNetworks adjust the networks
	// image lookups connect to (imageconfig.Options.AllowNetworks and
	// DenyNetworks): loopback, link-local and cloud metadata addresses are
	// refused unless allowed; denied networks are refused besides.
	RegistryAllowNetworks, RegistryDenyNetworks []netip.Prefix
	// DefaultPlatform is os/arch for pods whose node selector pins none.
	DefaultPlatform string
	// ImageLookups off makes a pod without a command an admission error.
	ImageLookups bool
	// Resolver, when its URL is set, makes resolver mode the default for
	// rewritten containers.
	Resolver ResolverOptions
	// InjectionMarkKeys is the file of the keys that sign the admission mark
	// the resolver checks (required with the resolver).
	InjectionMarkKeys string
	// ACRAuth is the Azure identity used for the ACR token exchange when
	// looking up images of Azure Container Registries (AKS with an attached
	// ACR): a keyvault auth mode, or "" for none. Off by default: the
	// identity that pulls images (the kubelet's) often reaches Key Vault
	// too, and the webhook otherwise holds no Azure credential at all.
	ACRAuth string
	// Vault is the install's HashiCorp Vault backend (--hashicorp-vault*):
	// the webhook records its defaults in a direct-mode container's
	// LATCHKEY_REFS and projects the pod's token for its audience.
	Vault runner.VaultOptions
	// ServingOptions are /metrics (authenticated by default) and the probes.
	runner.ServingOptions
	Log logging.Options
	// Transport carries registry requests; nil in production.
	Transport http.RoundTripper
	// Registry receives the metrics; nil means controller-runtime's, which
	// the metrics endpoint serves.
	Registry prometheus.Registerer
}

// DefaultConfig is the flag defaults.
func DefaultConfig() Config {
	return Config{
		Port: 9443, CertDir: "/tls", Timeout: 10 * time.Second,
		EnvImage: release.Image("latchkey-env"), EnvImagePullPolicy: string(corev1.PullIfNotPresent),
		ImageLookups: true, Vault: runner.DefaultVaultOptions(), ServingOptions: runner.DefaultServingOptions(),
		Log: logging.DefaultOptions(),
	}
}

// BindFlags registers the webhook's flags on fs.
func (c *Config) BindFlags(fs *flag.FlagSet) {
	fs.IntVar(&c.Port, "port", c.Port, "HTTPS port of the webhook")
	fs.StringVar(&c.CertDir, "cert-dir", c.CertDir, "folder holding tls.crt and tls.key; reloaded when they change")
	fs.DurationVar(&c.Timeout, "timeout", c.Timeout, "the webhook configuration's timeoutSeconds; image lookups get half")
	fs.StringVar(&c.EnvImage, "env-image", c.EnvImage, "image of the in-container binary")
	fs.StringVar(&c.EnvImagePullPolicy, "env-image-pull-policy", c.EnvImagePullPolicy, "pull policy of the in-container binary's image")
	fs.Func("insecure-registries", "comma-separated registries (host[:port]) reached over plain HTTP", func(s string) error {
		c.InsecureRegistries = nil
		for _, r := range strings.Split(s, ",") {
			if r = strings.TrimSpace(r); r != "" {
				c.InsecureRegistries = append(c.InsecureRegistries, r)
			}
		}
		return nil
	})
	fs.Func("registry-allow-networks", "comma-separated CIDRs image lookups may connect to although loopback, link-local or cloud metadata (e.g. a registry proxy on 127.0.0.1)", prefixList(&c.RegistryAllowNetworks))
	fs.Func("registry-deny-networks", "comma-separated CIDRs image lookups never connect to (e.g. the cluster's service and node networks); insecure registries excepted", prefixList(&c.RegistryDenyNetworks))
	fs.StringVar(&c.DefaultPlatform, "default-platform", c.DefaultPlatform, "os/arch of pods whose node selector pins none (default: the webhook's own)")
	fs.BoolVar(&c.ImageLookups, "image-lookups", c.ImageLookups, "look up ENTRYPOINT/CMD in registries for containers without a command")
	fs.StringVar(&c.Resolver.URL, "resolver-url", c.Resolver.URL, "URL pods reach the resolver at; empty: direct mode only")
	fs.StringVar(&c.Resolver.Audience, "resolver-audience", c.Resolver.Audience, "audience of the service-account token pods present to the resolver")
	fs.StringVar(&c.Resolver.CAConfigMap, "resolver-ca-configmap", c.Resolver.CAConfigMap, "ConfigMap (in each namespace) holding the resolver's CA bundle as ca.crt")
	fs.StringVar(&c.InjectionMarkKeys, "injection-mark-keys", c.InjectionMarkKeys, "file of the keys (one a line, the first signs) of the admission mark the resolver checks (the resolver's --injection-mark-keys); required with --resolver-url")
	fs.StringVar(&c.ACRAuth, "acr-auth", c.ACRAuth, "Azure identity for ACR image lookups (azureCloudConfig, workload-identity, managed-identity, environment); empty: none")
	c.Vault.BindFlags(fs)
	c.ServingOptions.BindFlags(fs)
	c.Log.BindFlags(fs)
}

// prefixList parses a comma-separated list of CIDRs into *dst.
func prefixList(dst *[]netip.Prefix) func(string) error {
	return func(s string) error {
		*dst = nil
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p == "" {
				continue
			}
			prefix, err := netip.ParsePrefix(p)
			if err != nil {
				return fmt.Errorf("%q: want a CIDR such as 10.96.0.0/12", p)
			}
			*dst = append(*dst, prefix.Masked())
		}
		return nil
	}
}

// Logging is the process logger's configuration.
func (c Config) Logging() logging.Options { return c.Log }

// Validate checks the configuration.
func (c Config) Validate() error {
	var errs []error
	if c.Port < 1 || c.Port > 65535 {
		errs = append(errs, errors.New("port must be 1-65535"))
	}
	if c.Timeout < time.Second || c.Timeout > 30*time.Second {
		errs = append(errs, errors.New("timeout must be between 1s and 30s (the API server's limit)"))
	}
	if c.EnvImage == "" {
		errs = append(errs, errors.New("env-image is required"))
	}
	switch corev1.PullPolicy(c.EnvImagePullPolicy) {
	case corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever:
	default:
		errs = append(errs, fmt.Errorf("env-image-pull-policy %q: want Always, IfNotPresent or Never", c.EnvImagePullPolicy))
	}
	if r := c.Resolver; r.URL != "" && (r.Audience == "" || r.CAConfigMap == "" || c.InjectionMarkKeys == "") {
		errs = append(errs, errors.New("resolver-url needs resolver-audience, resolver-ca-configmap and injection-mark-keys"))
	}
	if c.InjectionMarkKeys != "" {
		if _, err := injectmark.Load(c.InjectionMarkKeys); err != nil {
			errs = append(errs, err)
		}
	}
	if _, err := c.platform(); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, c.Vault.Validate(), c.Log.Validate())
	return errors.Join(errs...)
}

func (c Config) platform() (imageconfig.Platform, error) {
	if c.DefaultPlatform == "" {
		return imageconfig.DefaultPlatform(), nil
	}
	os, arch, ok := strings.Cut(c.DefaultPlatform, "/")
	if !ok || os == "" || arch == "" {
		return imageconfig.Platform{}, fmt.Errorf("default-platform %q: want os/arch", c.DefaultPlatform)
	}
	return imageconfig.Platform{OS: os, Architecture: arch}, nil
}

// Setup builds the webhook's manager: a webhook server whose certificate is
// reloaded when its files change, and a client that caches only
// AzureKeyVaultSecrets (ConfigMaps, ServiceAccounts and pull Secrets are read
// on demand: caching every one of the cluster would cost far more memory).
func Setup(restCfg *rest.Config, c Config, log logr.Logger) (ctrl.Manager, error) {
	mo := ctrl.Options{
		Logger:        log,
		Scheme:        scheme.New(),
		WebhookServer: crwebhook.NewServer(crwebhook.Options{Host: c.Host, Port: c.Port, CertDir: c.CertDir}),
		Client: client.Options{Cache: &client.CacheOptions{
			DisableFor: []client.Object{&corev1.ConfigMap{}, &corev1.Secret{}, &corev1.ServiceAccount{}},
		}},
	}
	c.Apply(&mo) // ServingOptions: /metrics and the probes
	mgr, err := ctrl.NewManager(restCfg, mo)
	if err != nil {
		return nil, err
	}
	platform, err := c.platform()
	if err != nil {
		return nil, err
	}
	m := NewMetrics(runner.MetricsRegistry(c.Registry))
	var marks *injectmark.Keys
	if c.InjectionMarkKeys != "" {
		if marks, err = injectmark.Load(c.InjectionMarkKeys); err != nil {
			return nil, err
		}
	}
	d := &Defaulter{
		Metrics:       m,
		Reader:        mgr.GetClient(),
		LookupTimeout: c.Timeout / 2,
		Options: Options{
			Image: c.EnvImage, ImagePullPolicy: corev1.PullPolicy(c.EnvImagePullPolicy),
			Resolver: resolverOptions(c.Resolver),
			Vault:    vaultOptions(c.Vault),
			Marks:    marks,
			Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("16Mi")},
				Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("32Mi")},
			},
		},
	}
	if c.ImageLookups {
		opts := imageconfig.Options{Transport: c.Transport, InsecureRegistries: c.InsecureRegistries, DefaultPlatform: platform, Timeout: c.Timeout / 2, Logger: log.WithName("imageconfig"),
			AllowNetworks: c.RegistryAllowNetworks, DenyNetworks: c.RegistryDenyNetworks}
		if c.ACRAuth != "" {
			cred, err := keyvault.NewCredential(keyvault.AuthConfigFromEnv(keyvault.Mode(c.ACRAuth), os.Getenv), nil)
			if err != nil {
				return nil, fmt.Errorf("ACR identity: %w", err)
			}
			opts.AzureCredential = cred
		}
		r, err := imageconfig.New(opts)
		if err != nil {
			return nil, err
		}
		d.Images = RegistryLookup{Client: r, DefaultPlatform: platform}
	}
	wh := admission.WithDefaulter[*corev1.Pod](mgr.GetScheme(), d)
	// Admission logs go to log, not to the process-wide logger: make dev
	// runs the webhook beside other servers, each with its own log.
	wh.LogConstructor = func(_ logr.Logger, req *admission.Request) logr.Logger {
		return admission.DefaultLogConstructor(log.WithName("admission"), req)
	}
	mgr.GetWebhookServer().Register(Path, m.instrument(wh))
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return nil, err
	}
	if err := mgr.AddReadyzCheck("webhook", mgr.GetWebhookServer().StartedChecker()); err != nil {
		return nil, err
	}
	return mgr, nil
}

// vaultOptions are what direct mode needs of the install's HashiCorp Vault
// backend; nil when it is off.
func vaultOptions(v runner.VaultOptions) *VaultOptions {
	if !v.Enabled {
		return nil
	}
	return &VaultOptions{Address: v.Address, AuthMount: v.AuthMount, Role: v.Role, Audience: v.Audience}
}

func resolverOptions(r ResolverOptions) *ResolverOptions {
	if r.URL == "" {
		return nil
	}
	return &r
}
