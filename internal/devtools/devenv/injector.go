package devenv

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/latchkey-dev/latchkey/internal/devtools/akvemu"
	"github.com/latchkey-dev/latchkey/internal/devtools/devcluster"
	"github.com/latchkey-dev/latchkey/internal/devtools/ociimage"
	"github.com/latchkey-dev/latchkey/internal/logging"
	"github.com/latchkey-dev/latchkey/internal/resolver"
	"github.com/latchkey-dev/latchkey/internal/webhook"
)

// The names the dev install uses, as a chart release would.
const (
	resolverAudience = "latchkey-resolver.dev"
	webhookConfig    = "latchkey-env-injector"
	// envImageTag is the in-container binary's image on a real node, built
	// from this source tree.
	envImageTag = "latchkey/latchkey-env:dev"
)

// injector is the env injector of the dev environment: the resolver and the
// webhook running in this process, the webhook registered with the API
// server.
type injector struct {
	resolverURL, caConfigMap string
	stops                    []func()
}

// stop stops the webhook, then the resolver.
func (in *injector) stop() {
	for i := len(in.stops) - 1; i >= 0; i-- {
		in.stops[i]()
	}
}

// startInjector starts the resolver, then the webhook in resolver mode
// pointing at it, and registers the webhook: pods created in labelled
// namespaces from then on are mutated. On error, what started is stopped.
func startInjector(ctx context.Context, c *devcluster.Cluster, emu *akvemu.Server, cl client.Client, pki *servingPKI, moduleDir string) (in *injector, err error) {
	in = &injector{}
	defer func() {
		if err != nil {
			in.stop()
		}
	}()
	res, stopResolver, err := startResolver(ctx, c, emu, pki)
	if err != nil {
		return nil, fmt.Errorf("resolver: %w", err)
	}
	in.stops = append(in.stops, stopResolver)
	in.resolverURL, in.caConfigMap = res.url, res.caConfigMap
	image, err := envImage(ctx, c, moduleDir)
	if err != nil {
		return nil, err
	}
	url, stopWebhook, err := startWebhook(ctx, c, pki, image, webhook.ResolverOptions{URL: in.resolverURL, Audience: resolverAudience, CAConfigMap: in.caConfigMap})
	if err != nil {
		return nil, fmt.Errorf("webhook: %w", err)
	}
	in.stops = append(in.stops, stopWebhook)
	cfg := webhook.Configuration(webhook.ConfigOptions{
		Name: webhookConfig, URL: url, CABundle: pki.CAPEM,
		ExcludeNamespaces: []string{"kube-system"}, TimeoutSeconds: 10,
	})
	if err := applyObject(ctx, cl, cfg); err != nil {
		return nil, fmt.Errorf("register the webhook: %w", err)
	}
	return in, nil
}

// runningResolver is where pods reach the resolver and the ConfigMap its
// CA bundle is published as.
type runningResolver struct {
	url, caConfigMap string
}

// startResolver runs the resolver in this process with the controller's
// Key Vault identity, serving on loopback (on the node's address when
// there is a node: pods reach it there), and waits until it answers.
func startResolver(ctx context.Context, c *devcluster.Cluster, emu *akvemu.Server, pki *servingPKI) (runningResolver, func(), error) {
	cfg := resolver.DefaultConfig()
	cfg.Host, cfg.Port, cfg.CertDir = "127.0.0.1", 0, pki.CertDir
	if c.Node != nil {
		cfg.Host = c.Node.IP
	}
	cfg.Audience, cfg.CABundle, cfg.InjectionMarkKeys = resolverAudience, pki.CAFile, pki.MarkKeys
	// The cluster's first issuer is not a URL (no discovery): its key.
	cfg.ServiceAccountKeys, cfg.ServiceAccountIssuer = c.ServiceAccountKeyFile, c.ServiceAccountIssuer
	cfg.AuthMode = "environment"
	cfg.Transport = emu.HTTPClient()
	cfg.Registry = prometheus.NewRegistry()
	cfg.LeaderElection = false
	cfg.MetricsAddr, cfg.HealthAddr = "0", "0"
	cfg.Log = logging.Options{Level: "debug", Format: "text"}
	if err := cfg.Validate(); err != nil {
		return runningResolver{}, nil, err
	}
	log, closeLog, err := componentLog(c, "latchkey-resolver.log", cfg.Log)
	if err != nil {
		return runningResolver{}, nil, err
	}
	r, err := resolver.Setup(c.Config, cfg, log)
	if err != nil {
		closeLog()
		return runningResolver{}, nil, err
	}
	stop := runInBackground(ctx, "resolver", r.Start, closeLog)
	if err := waitServing(ctx, pki, r.Addr().String()); err != nil {
		stop()
		return runningResolver{}, nil, err
	}
	return runningResolver{url: "https://" + r.Addr().String(), caConfigMap: cfg.CAConfigMap}, stop, nil
}

// startWebhook runs the webhook in this process on a free loopback port,
// in resolver mode, and waits until it serves TLS. It returns the URL the
// API server calls it at.
func startWebhook(ctx context.Context, c *devcluster.Cluster, pki *servingPKI, image string, res webhook.ResolverOptions) (string, func(), error) {
	port, err := freePort()
	if err != nil {
		return "", nil, err
	}
	cfg := webhook.DefaultConfig()
	cfg.Host, cfg.Port, cfg.CertDir = "127.0.0.1", port, pki.CertDir
	cfg.EnvImage, cfg.Resolver, cfg.InjectionMarkKeys = image, res, pki.MarkKeys
	if c.Node != nil {
		cfg.InsecureRegistries = []string{c.Node.Registry.Host}
	}
	cfg.Registry = prometheus.NewRegistry()
	cfg.MetricsAddr, cfg.HealthAddr = "0", "0"
	cfg.Log = logging.Options{Level: "debug", Format: "text"}
	if err := cfg.Validate(); err != nil {
		return "", nil, err
	}
	log, closeLog, err := componentLog(c, "latchkey-webhook.log", cfg.Log)
	if err != nil {
		return "", nil, err
	}
	mgr, err := webhook.Setup(c.Config, cfg, log)
	if err != nil {
		closeLog()
		return "", nil, err
	}
	stop := runInBackground(ctx, "webhook", mgr.Start, closeLog)
	addr := net.JoinHostPort(cfg.Host, strconv.Itoa(port))
	if err := waitServing(ctx, pki, addr); err != nil {
		stop()
		return "", nil, err
	}
	return "https://" + addr + webhook.Path, stop, nil
}

// envImage is the image of the in-container binary the webhook names.
// Without a node no pod runs, so the default reference is only shown; with
// one, the binary is built from this tree and pushed to the node's
// registry, so injected pods run the code being developed.
func envImage(ctx context.Context, c *devcluster.Cluster, moduleDir string) (string, error) {
	if c.Node == nil {
		return webhook.DefaultConfig().EnvImage, nil
	}
	bin, err := ociimage.GoBinary(ctx, moduleDir, "./cmd/latchkey-env", runtime.GOARCH)
	if err != nil {
		return "", err
	}
	img, err := ociimage.Build(ociimage.Spec{
		Files:      []ociimage.File{{Path: "/latchkey-env", Mode: 0o755, Data: bin}},
		Entrypoint: []string{"/latchkey-env"}, User: "65532:65532",
		OS: "linux", Architecture: runtime.GOARCH,
	})
	if err != nil {
		return "", err
	}
	return c.Node.Registry.Push(ctx, envImageTag, img)
}

// componentLog opens name in the cluster's log folder, beside the control
// plane's, and returns a logger writing there and the function closing it.
func componentLog(c *devcluster.Cluster, name string, o logging.Options) (logr.Logger, func(), error) {
	f, err := os.Create(filepath.Join(c.LogDir(), name))
	if err != nil {
		return logr.Logger{}, nil, err
	}
	log, err := logging.New(f, o)
	if err != nil {
		_ = f.Close()
		return logr.Logger{}, nil, err
	}
	return log, func() { _ = f.Close() }, nil
}

// runInBackground runs start until ctx ends or the returned stop is
// called; stop waits for start to return, then runs cleanup.
func runInBackground(ctx context.Context, name string, start func(context.Context) error, cleanup func()) func() {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- start(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			fmt.Fprintf(os.Stderr, "devenv: %s: %v\n", name, err)
		}
		cleanup()
	}
}

// waitServing polls addr until a TLS handshake verified by the dev CA
// succeeds: the server is up and presents the certificate the API server
// and the pods will check. A handshake, not a request, so the server logs
// nothing about the probe.
func waitServing(ctx context.Context, pki *servingPKI, addr string) error {
	d := &tls.Dialer{Config: &tls.Config{RootCAs: pki.pool(), MinVersion: tls.VersionTLS12}}
	return wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return false, nil //nolint:nilerr // not serving yet
		}
		_ = conn.Close()
		return true, nil
	})
}

// freePort returns a loopback port free at the time of the call. The
// webhook server cannot listen on port 0 (controller-runtime reads 0 as
// its default port).
func freePort() (int, error) {
	l, err := new(net.ListenConfig).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port, nil
}
