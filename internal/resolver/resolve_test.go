package resolver_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/latchkey-dev/latchkey/api/v2beta1"
	"github.com/latchkey-dev/latchkey/internal/devtools/metricstest"
	"github.com/latchkey-dev/latchkey/internal/envexec"
	"github.com/latchkey-dev/latchkey/internal/resolver"
	"github.com/latchkey-dev/latchkey/internal/resolver/protocol"
)

// bindings are the placeholders of env ("NAME=value" entries), as the
// binary finds them.
func bindings(env ...string) []envexec.Binding { return envexec.FindPlaceholders(env) }

// binaryClient is the binary's resolver client for container of pod, with the
// token projected into a file and the CA bundle.
func binaryClient(t *testing.T, r *testResolver, pod *corev1.Pod, container, caFile string, o ...func(*envexec.ResolverClientOptions)) *envexec.ResolverClient {
	t.Helper()
	dir := t.TempDir()
	tokenFile := dir + "/token"
	if err := writeFile(tokenFile, token(t, pod, audience)); err != nil {
		t.Fatal(err)
	}
	opts := envexec.ResolverClientOptions{URL: r.url, Container: container, TokenFile: tokenFile, CAFile: caFile,
		Retry: envexec.RetryPolicy{Retries: 3, Wait: time.Second}}
	for _, f := range o {
		f(&opts)
	}
	c, err := envexec.NewResolverClient(opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestResolve: the binary's client gets, through the real resolver, every
// kind of placeholder of the container that asks: a secret, a
// certificate's tls.crt and tls.key (one read), a key of a multi-key
// secret in JSON and of one in YAML, a user:pass secret's password, a transformed secret; an init container
// too, and placeholders the webhook pinned from a ConfigMap.
func TestResolve(t *testing.T) {
	t.Parallel()
	w := newWorld(t, suite.res)
	w.akvs("db", vault, "db-password", v2beta1.ObjectTypeSecret)
	w.akvs("web", vault, "web-tls", v2beta1.ObjectTypeCertificate)
	w.akvs("settings", vault, "settings", v2beta1.ObjectTypeMultiKeyValueSecret, func(a *v2beta1.AzureKeyVaultSecret) {
		a.Spec.Vault.Object.ContentType = v2beta1.ContentTypeJSON
	})
	w.akvs("settings-yaml", vault, "settings-yaml", v2beta1.ObjectTypeMultiKeyValueSecret, func(a *v2beta1.AzureKeyVaultSecret) {
		a.Spec.Vault.Object.ContentType = v2beta1.ContentTypeYAML
	})
	w.akvs("basic", vault, "basic", v2beta1.ObjectTypeSecret)
	w.akvs("padded", vault, "padded", v2beta1.ObjectTypeSecret, func(a *v2beta1.AzureKeyVaultSecret) {
		a.Spec.Output = &v2beta1.AzureKeyVaultOutput{Transform: []v2beta1.Transform{v2beta1.TransformTrim}}
	})
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: w.ns, Name: "app-env"}, Data: map[string]string{"FROM_CM": "db@azurekeyvault"}}
	if err := suite.client.Create(context.Background(), cm); err != nil {
		t.Fatal(err)
	}
	main := app("app", "DB", "db@azurekeyvault", "CRT", "web@azurekeyvault?tls.crt", "KEY", "web@azurekeyvault?tls.key",
		"API_KEY", "settings@azurekeyvault?api-key", "YAML_API_KEY", "settings-yaml@azurekeyvault?api-key", "PASS", "basic@azurekeyvault?password",
		"TRIMMED", "padded@azurekeyvault", "PLAIN", "hello")
	main.EnvFrom = []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "app-env"}}}}
	pod := w.pod("web-1", main, app("init-migrate", "DB", "db@azurekeyvault"))

	env := []string{"DB=db@azurekeyvault", "CRT=web@azurekeyvault?tls.crt", "KEY=web@azurekeyvault?tls.key",
		"API_KEY=settings@azurekeyvault?api-key", "YAML_API_KEY=settings-yaml@azurekeyvault?api-key", "PASS=basic@azurekeyvault?password",
		"TRIMMED=padded@azurekeyvault",
		"FROM_CM=db@azurekeyvault", "PLAIN=hello"}
	b := bindings(env...)
	values, err := binaryClient(t, w.r, pod, "app", suite.pki.caFile).Resolve(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for i, bd := range b {
		got[bd.Var] = values[i]
	}
	for k, want := range map[string]string{"DB": dbPassword, "API_KEY": apiKey, "YAML_API_KEY": yamlAPIKey, "PASS": basicPass, "TRIMMED": padded, "FROM_CM": dbPassword} {
		if got[k] != want {
			t.Errorf("%s = %.12q…, want %.12q…", k, got[k], want)
		}
	}
	pair, err := tls.X509KeyPair([]byte(got["CRT"]), []byte(got["KEY"]))
	if err != nil {
		t.Fatalf("tls.crt and tls.key do not make a key pair: %v", err)
	}
	if leaf, err := x509.ParseCertificate(pair.Certificate[0]); err != nil || leaf.Subject.CommonName != "web.resolver.test" || len(pair.Certificate) != 2 {
		t.Errorf("tls.crt: leaf %v (%v), %d certificates", leaf.Subject, err, len(pair.Certificate))
	}
	// The init container, with its own placeholder.
	init := bindings("DB=db@azurekeyvault")
	if v, err := binaryClient(t, w.r, pod, "init-migrate", suite.pki.caFile).Resolve(context.Background(), init); err != nil || v[0] != dbPassword {
		t.Errorf("init container: %v", err)
	}
	l := logged(t, w.r, map[string]any{"msg": "placeholders served", "namespace": w.ns, "pod": "web-1", "container": "app"})
	if !slices.Contains(strings.Fields(toString(l["variables"])), "API_KEY") { // a whole name: YAML_API_KEY holds "API_KEY" too
		t.Errorf("log line does not name the variables: %v", l)
	}
	noValues(t, "the resolver's log", w.r.logs.String())
}

// TestRequirePodIPServesThePod: with --require-pod-ip, a pod asking from
// its own address is served (the refusal of one asking from elsewhere is a
// case of TestDenials): the handler passes the connection's source address,
// and the pod's IPs as stored, to the check.
func TestRequirePodIPServesThePod(t *testing.T) {
	t.Parallel()
	r := newResolver(t, func(c *resolver.Config) { c.RequirePodIP = true })
	w := newWorld(t, r)
	w.akvs("db", vault, "db-password", v2beta1.ObjectTypeSecret)
	p := w.pod("pod-at-its-ip", app("app", "DB", "db@azurekeyvault"))
	// The test's client connects from 127.0.0.1: the pod's address.
	p.Status.PodIP, p.Status.PodIPs = "127.0.0.1", []corev1.PodIP{{IP: "127.0.0.1"}, {IP: "::1"}}
	if err := suite.client.Status().Update(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	got := ask(t, r, token(t, p, audience), "app", map[string]string{"DB": "db@azurekeyvault"})
	if got.status != http.StatusOK || got.env["DB"] != dbPassword {
		t.Fatalf("answer %d %.200s, want 200 with DB's value", got.status, got.raw)
	}
}

// TestRunInResolverMode: the binary's Run selects resolver mode from the
// webhook's variables, resolves through the real resolver and execs the
// program with the values and without its own variables;
// ENV_INJECTOR_DISABLE_AUTH_SERVICE=true still means direct mode.
func TestRunInResolverMode(t *testing.T) {
	t.Parallel()
	w := newWorld(t, suite.res)
	w.akvs("db", vault, "db-password", v2beta1.ObjectTypeSecret)
	pod := w.pod("web-1", app("app", "DB", "db@azurekeyvault"))
	dir := t.TempDir()
	if err := writeFile(dir+"/token", token(t, pod, audience)); err != nil {
		t.Fatal(err)
	}
	env := []string{"PATH=/bin", "DB=db@azurekeyvault", "LATCHKEY_CONTAINER=app", "LATCHKEY_RESOLVER_URL=" + w.r.url,
		"LATCHKEY_RESOLVER_TOKEN=" + dir + "/token", "LATCHKEY_RESOLVER_CA=" + suite.pki.caFile, "ENV_INJECTOR_LOG_LEVEL=debug"}
	var execEnv []string
	errExec := errors.New("exec'd")
	exec := func(_ string, _, envv []string) error { execEnv = envv; return errExec }
	var logs bytes.Buffer
	err := envexec.Run(context.Background(), envexec.Options{Argv: []string{"/bin/true"}, Environ: env, Stderr: &logs, Exec: exec})
	if !errors.Is(err, errExec) {
		t.Fatalf("Run = %v\n%s", err, logs.String())
	}
	want := []string{"PATH=/bin", "DB=" + dbPassword, "ENV_INJECTOR_LOG_LEVEL=debug"}
	if strings.Join(execEnv, "\n") != strings.Join(want, "\n") {
		t.Errorf("program environment = %q", execEnv)
	}
	noValues(t, "the binary's log", logs.String())

	logs.Reset()
	err = envexec.Run(context.Background(), envexec.Options{Argv: []string{"/bin/true"}, Environ: append(env, "ENV_INJECTOR_DISABLE_AUTH_SERVICE=true"), Stderr: &logs, Exec: exec})
	if envexec.ExitCode(err) != envexec.ExitFailure || !strings.Contains(err.Error(), "LATCHKEY_REFS is not set") {
		t.Errorf("direct mode: Run = %v", err)
	}
}

// TestClientWrongCA: a CA bundle that does not verify the resolver is a
// clear, final error naming the bundle, not retried.
func TestClientWrongCA(t *testing.T) {
	t.Parallel()
	w := newWorld(t, suite.res)
	w.akvs("db", vault, "db-password", v2beta1.ObjectTypeSecret)
	pod := w.pod("web-1", app("app", "DB", "db@azurekeyvault"))
	slept := 0
	var logs bytes.Buffer
	c := binaryClient(t, w.r, pod, "app", suite.pki.wrongCA, func(o *envexec.ResolverClientOptions) {
		o.Sleep = func(context.Context, time.Duration) error { slept++; return nil }
		o.Log = slog.New(slog.NewTextHandler(&logs, nil))
	})
	_, err := c.Resolve(context.Background(), bindings("DB=db@azurekeyvault"))
	if err == nil || !errors.Is(err, envexec.ErrResolverRefused) || slept != 0 {
		t.Fatalf("Resolve = %v after %d retries; want a refusal without retries", err, slept)
	}
	for _, s := range []string{"variable DB (AzureKeyVaultSecret db)", "not trusted by the CA bundle " + suite.pki.wrongCA, "LATCHKEY_RESOLVER_CA", "certificate signed by unknown authority"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q lacks %q", err, s)
		}
	}
}

// TestHealth: the pod-facing port answers /healthz without a token.
func TestHealth(t *testing.T) {
	t.Parallel()
	resp, err := suite.pki.client.Get(suite.res.url + protocol.HealthPath)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("healthz: %d", resp.StatusCode)
	}
	if resp.TLS == nil || resp.TLS.Version < tls.VersionTLS12 {
		t.Errorf("TLS %+v", resp.TLS)
	}
	// TLS 1.1 is refused.
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(suite.pki.caPEM)
	conn, err := tls.Dial("tcp", suite.res.Addr().String(), &tls.Config{RootCAs: roots, MaxVersion: tls.VersionTLS11}) //nolint:gosec // the old version is the point
	if err == nil {
		_ = conn.Close()
		t.Error("a TLS 1.1 handshake succeeded")
	}
}

// writeFile writes a test file readable by its owner only.
func writeFile(path, content string) error { return os.WriteFile(path, []byte(content), 0o600) }

func toString(v any) string {
	switch x := v.(type) {
	case []any:
		var s []string
		for _, e := range x {
			s = append(s, toString(e))
		}
		return strings.Join(s, " ")
	case string:
		return x
	}
	return ""
}

// TestPodBeforeItsAzureKeyVaultSecret: the webhook admits a pod whose
// AzureKeyVaultSecret does not exist yet (Helm and Argo CD create custom
// resources after Deployments). The resolver answers 404
// AzureKeyVaultSecretNotFound — for the pod's own namespace only: one of
// that name in another namespace changes nothing, and the answer does not
// mention it. The binary waits (ENV_INJECTOR_RETRIES) and starts once the
// AzureKeyVaultSecret is there; one that never comes fails after the
// retries, naming it. Deleted since admission reads the same.
func TestPodBeforeItsAzureKeyVaultSecret(t *testing.T) {
	t.Parallel()
	elsewhere := newWorld(t, suite.res)
	elsewhere.akvs("late", vault, "db-password", v2beta1.ObjectTypeSecret)
	w := newWorld(t, suite.res)
	p := w.pod("web-1", app("app", "LATE", "late@azurekeyvault"), app("never", "NEVER", "never@azurekeyvault"))

	a := ask(t, w.r, token(t, p, audience), "app", map[string]string{"LATE": "late@azurekeyvault"})
	if a.status != http.StatusNotFound || a.err.Code != protocol.CodeAKVSNotFound || len(a.err.Failures) != 1 ||
		!strings.Contains(a.err.Message, "AzureKeyVaultSecret "+w.ns+"/late does not exist") || strings.Contains(a.raw, elsewhere.ns) {
		t.Fatalf("answer %d %s; want 404 %s about %s/late alone", a.status, a.raw, protocol.CodeAKVSNotFound, w.ns)
	}

	// Created while the binary waits: it starts on the next try.
	var logs bytes.Buffer
	var waits []time.Duration
	c := binaryClient(t, w.r, p, "app", suite.pki.caFile, func(o *envexec.ResolverClientOptions) {
		o.Log = slog.New(slog.NewTextHandler(&logs, nil))
		o.Sleep = func(_ context.Context, d time.Duration) error {
			waits = append(waits, d)
			if len(waits) == 2 {
				w.akvs("late", vault, "db-password", v2beta1.ObjectTypeSecret)
			}
			return nil
		}
	})
	values, err := c.Resolve(context.Background(), bindings("LATE=late@azurekeyvault"))
	if err != nil || values[0] != dbPassword {
		t.Fatalf("Resolve = %v after waiting %v", err, waits)
	}
	if !slices.Equal(waits, []time.Duration{time.Second, 2 * time.Second}) {
		t.Errorf("waited %v, want 1s then 2s (ENV_INJECTOR_WAIT_BEFORE_RETRY, doubling)", waits)
	}
	if !strings.Contains(logs.String(), `msg="waiting for the AzureKeyVaultSecrets to be created"`) || !strings.Contains(logs.String(), "azureKeyVaultSecrets=[late]") {
		t.Errorf("the wait is not logged with the AzureKeyVaultSecret's name:\n%s", logs.String())
	}
	noValues(t, "the client's log", logs.String())

	// Never created: bounded by ENV_INJECTOR_RETRIES, then a clear failure.
	slept := 0
	c = binaryClient(t, w.r, p, "never", suite.pki.caFile, func(o *envexec.ResolverClientOptions) {
		o.Retry = envexec.RetryPolicy{Retries: 2, Wait: time.Second}
		o.Sleep = func(context.Context, time.Duration) error { slept++; return nil }
	})
	_, err = c.Resolve(context.Background(), bindings("NEVER=never@azurekeyvault"))
	var ve *envexec.VarError
	if !errors.As(err, &ve) || ve.Vars[0] != "NEVER" || ve.AKVS[0] != "never" || !errors.Is(err, envexec.ErrAKVSNotFound) ||
		envexec.Reason(err) != "AzureKeyVaultSecret not found" || slept != 2 {
		t.Fatalf("Resolve = %v (reason %q) after %d retries; want AzureKeyVaultSecret not found for NEVER after 2", err, envexec.Reason(err), slept)
	}
	for _, want := range []string{"AzureKeyVaultSecret " + w.ns + "/never does not exist", "gave up after 2 retries over 3s"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}

	// The binary as the container runs it: the user's retry settings, then
	// exit code 1 and one log line naming the variable and the
	// AzureKeyVaultSecret.
	dir := t.TempDir()
	if err := writeFile(dir+"/token", token(t, p, audience)); err != nil {
		t.Fatal(err)
	}
	runLogs := &bytes.Buffer{}
	err = envexec.Run(context.Background(), envexec.Options{Argv: []string{"/bin/true"}, Stderr: runLogs, Environ: []string{
		"PATH=/bin", "NEVER=never@azurekeyvault", "LATCHKEY_CONTAINER=never", "LATCHKEY_RESOLVER_URL=" + w.r.url,
		"LATCHKEY_RESOLVER_TOKEN=" + dir + "/token", "LATCHKEY_RESOLVER_CA=" + suite.pki.caFile,
		"ENV_INJECTOR_RETRIES=1", "ENV_INJECTOR_WAIT_BEFORE_RETRY=10ms",
	}, Exec: func(string, []string, []string) error { t.Error("the program ran"); return nil }})
	if envexec.ExitCode(err) != envexec.ExitFailure ||
		!strings.Contains(runLogs.String(), "cannot start the program: variable NEVER (AzureKeyVaultSecret never): the resolver answered 404 AzureKeyVaultSecretNotFound") ||
		!strings.Contains(runLogs.String(), "gave up after 1 retry over 10ms") || !strings.Contains(runLogs.String(), `reason="AzureKeyVaultSecret not found"`) {
		t.Errorf("Run = %v (exit %d):\n%s", err, envexec.ExitCode(err), runLogs)
	}

	// Deleted since admission: waited for too (the binary cannot tell).
	if err := suite.client.Delete(context.Background(), &v2beta1.AzureKeyVaultSecret{ObjectMeta: objectMeta(w.ns, "late")}); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() error { // the informer learns of the deletion
		if a := ask(t, w.r, token(t, p, audience), "app", map[string]string{"LATE": "late@azurekeyvault"}); a.err.Code != protocol.CodeAKVSNotFound {
			return fmt.Errorf("%d %s", a.status, a.raw)
		}
		return nil
	})
}

// TestAkv2k8sMetrics: the resolver carries on akv2k8s's auth-service
// counters with akv2k8s 1.8.4's names, help and (no) labels, counting every
// request and those not served.
func TestAkv2k8sMetrics(t *testing.T) {
	t.Parallel()
	r := newResolver(t, nil)
	w := newWorld(t, r)
	w.akvs("db", vault, "db-password", v2beta1.ObjectTypeSecret)
	p := w.pod("web-1", app("app", "DB", "db@azurekeyvault", "LATE", "late@azurekeyvault"))
	tok := token(t, p, audience)
	for _, env := range []map[string]string{{"DB": "db@azurekeyvault"}, {"LATE": "late@azurekeyvault"}, {"DB": "other@azurekeyvault"}} {
		ask(t, r, tok, "app", env)
	}
	ask(t, r, "", "app", map[string]string{"DB": "db@azurekeyvault"})
	if total, failed := metric(t, r.registry, "akv2k8s_auth_requests_total"), metric(t, r.registry, "akv2k8s_auth_requests_failed_total"); total != 4 || failed != 3 {
		t.Errorf("akv2k8s_auth_requests_total %v, _failed_total %v; want 4 and 3", total, failed)
	}
	metricstest.Check(t, r.registry, "resolver")
}
