package webhook_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	gcrname "github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/latchkey-dev/latchkey/api/v2beta1"
	"github.com/latchkey-dev/latchkey/internal/devtools/kubetest"
	"github.com/latchkey-dev/latchkey/internal/devtools/metricstest"
	"github.com/latchkey-dev/latchkey/internal/devtools/ociimage"
	"github.com/latchkey-dev/latchkey/internal/injectmark"
	"github.com/latchkey-dev/latchkey/internal/logging"
	"github.com/latchkey-dev/latchkey/internal/podcontract"
	"github.com/latchkey-dev/latchkey/internal/scheme"
	"github.com/latchkey-dev/latchkey/internal/webhook"
)

// suite: a real API server calling the webhook over HTTPS, exactly as
// registered in production (failurePolicy Fail, namespace selector, match
// conditions), and a registry holding a test image.
var suite struct {
	client   client.Client
	env      *envtest.Environment
	image    string // an image with ENTRYPOINT [/app] and CMD [serve]
	registry string
	// marks are the install's admission mark keys, as the resolver has them.
	marks *injectmark.Keys
	// resolver is where the suite's webhook sends containers (resolver mode).
	resolver webhook.ResolverOptions
}

const envImage = "latchkey-env:test"

func TestMain(m *testing.M) {
	// Fuzzing (make fuzz) needs no cluster, and every fuzz worker process
	// would start one of its own.
	flag.Parse()
	if f := flag.Lookup("test.fuzz"); f != nil && f.Value.String() != "" {
		os.Exit(m.Run())
	}
	os.Exit(runSuite(m))
}

func runSuite(m *testing.M) int {
	reg := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer reg.Close()
	suite.registry = strings.TrimPrefix(reg.URL, "http://")
	img, err := ociimage.Build(ociimage.Spec{
		Files:      []ociimage.File{{Path: "/app", Mode: 0o755, Data: []byte("program")}},
		Entrypoint: []string{"/app"}, Cmd: []string{"serve"}, OS: "linux", Architecture: runtime.GOARCH,
	})
	if err != nil {
		return fail(err)
	}
	suite.image = suite.registry + "/team/app:1"
	ref, err := gcrname.ParseReference(suite.image, gcrname.Insecure)
	if err == nil {
		err = remote.Write(ref, img)
	}
	if err != nil {
		return fail(err)
	}

	cfg := webhook.Configuration(webhook.ConfigOptions{
		Name: "latchkey-env-injector", ServiceNamespace: "latchkey-system", ServiceName: "latchkey-webhook",
		ExcludeNamespaces: []string{"kube-system", "latchkey-system"}, TimeoutSeconds: 10,
	})
	env, restCfg, err := kubetest.New(kubetest.Options{
		CRDDirectoryPaths:     []string{"../../config/crd"},
		WebhookInstallOptions: envtest.WebhookInstallOptions{MutatingWebhooks: []*admissionregistrationv1.MutatingWebhookConfiguration{cfg}},
	})
	if err != nil {
		return fail(err)
	}
	defer func() { _ = env.Stop() }()
	suite.env = env

	wc := webhook.DefaultConfig()
	wio := env.WebhookInstallOptions
	wc.Host, wc.Port, wc.CertDir = wio.LocalServingHost, wio.LocalServingPort, wio.LocalServingCertDir
	wc.MetricsAddr, wc.HealthAddr = "0", "0"
	wc.EnvImage = envImage
	wc.InsecureRegistries = []string{suite.registry}
	// Resolver mode, the chart's default: containers use it unless they set
	// ENV_INJECTOR_DISABLE_AUTH_SERVICE=true.
	wc.Resolver = webhook.ResolverOptions{URL: "https://latchkey-resolver.latchkey-system.svc", Audience: "latchkey-resolver-test", CAConfigMap: "latchkey-resolver-ca"}
	suite.resolver = wc.Resolver
	dir, err := os.MkdirTemp("", "webhook-test-")
	if err != nil {
		return fail(err)
	}
	defer func() { _ = os.RemoveAll(dir) }()
	wc.InjectionMarkKeys = filepath.Join(dir, "keys")
	if err := os.WriteFile(wc.InjectionMarkKeys, []byte(rand.Text()+rand.Text()+"\n"), 0o600); err != nil {
		return fail(err)
	}
	if suite.marks, err = injectmark.Load(wc.InjectionMarkKeys); err != nil {
		return fail(err)
	}
	logger, err := logging.New(os.Stderr, logging.Options{Level: "error"})
	if err != nil {
		return fail(err)
	}
	mgr, err := webhook.Setup(restCfg, wc, logger)
	if err != nil {
		return fail(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = mgr.Start(ctx) }()
	if suite.client, err = client.New(restCfg, client.Options{Scheme: scheme.New()}); err != nil {
		return fail(err)
	}
	if err := waitForServing(wio); err != nil {
		return fail(err)
	}
	return m.Run()
}

func fail(err error) int {
	fmt.Fprintln(os.Stderr, err)
	return 1
}

func waitForServing(o envtest.WebhookInstallOptions) error {
	addr := net.JoinHostPort(o.LocalServingHost, fmt.Sprint(o.LocalServingPort))
	return wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		conn, err := (&tls.Dialer{Config: &tls.Config{InsecureSkipVerify: true}}).DialContext(ctx, "tcp", addr) //nolint:gosec // only checks the port is serving
		if err != nil {
			return false, nil
		}
		_ = conn.Close()
		return true, nil
	})
}

// namespace creates a namespace, labelled for injection when enabled.
func namespace(t *testing.T, enabled bool) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "inject-"}}
	if enabled {
		ns.Labels = map[string]string{podcontract.DefaultNamespaceLabel: "enabled"}
	}
	if err := suite.client.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	// Pods need the default ServiceAccount, which envtest has no controller
	// manager to create.
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: ns.Name}}
	if err := suite.client.Create(context.Background(), sa); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

func akvs(t *testing.T, ns, name string, typ v2beta1.ObjectType) {
	t.Helper()
	a := &v2beta1.AzureKeyVaultSecret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       v2beta1.AzureKeyVaultSecretSpec{Vault: v2beta1.AzureKeyVault{Name: "kv", Object: v2beta1.AzureKeyVaultObject{Name: name + "-object", Type: typ}}},
	}
	if err := suite.client.Create(context.Background(), a); err != nil {
		t.Fatal(err)
	}
}

// newPod is a pod of the default ServiceAccount, which a cluster's
// ServiceAccount admission plugin (off in the test API server) would set.
func newPod(ns string, containers ...corev1.Container) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, GenerateName: "p-"}, Spec: corev1.PodSpec{ServiceAccountName: "default", Containers: containers}}
}

func envVars(kv ...string) []corev1.EnvVar {
	var out []corev1.EnvVar
	for i := 0; i < len(kv); i += 2 {
		out = append(out, corev1.EnvVar{Name: kv[i], Value: kv[i+1]})
	}
	return out
}

func createPod(t *testing.T, p *corev1.Pod, opts ...client.CreateOption) (*corev1.Pod, error) {
	t.Helper()
	err := suite.client.Create(context.Background(), p, opts...)
	return p, err
}

func mustCreatePod(t *testing.T, p *corev1.Pod) *corev1.Pod {
	t.Helper()
	p, err := createPod(t, p)
	if err != nil {
		t.Fatal(err)
	}
	got := &corev1.Pod{}
	if err := suite.client.Get(context.Background(), types.NamespacedName{Namespace: p.Namespace, Name: p.Name}, got); err != nil {
		t.Fatal(err)
	}
	return got
}

func refsOf(t *testing.T, c corev1.Container) map[string]webhook.Ref {
	t.Helper()
	for _, e := range c.Env {
		if e.Name == podcontract.EnvRefs {
			var refs map[string]webhook.Ref
			if err := json.Unmarshal([]byte(e.Value), &refs); err != nil {
				t.Fatal(err)
			}
			return refs
		}
	}
	return nil
}

// injected reports whether p carries the webhook's mark, as the resolver
// verifies it on the stored pod.
func injected(p *corev1.Pod) bool { return suite.marks.Verify(p) }

func TestPodWithCommandIsRewritten(t *testing.T) {
	ns := namespace(t, true)
	akvs(t, ns, "db", v2beta1.ObjectTypeSecret)
	akvs(t, ns, "cert", v2beta1.ObjectTypeCertificate)
	p := mustCreatePod(t, newPod(ns,
		corev1.Container{Name: "app", Image: "ignored:1", Command: []string{"/bin/app"}, Args: []string{"--port", "80"},
			Env: envVars("DB_PASSWORD", "db@azurekeyvault", "TLS_KEY", "cert@azurekeyvault?tls.key", "PLAIN", "value")},
		corev1.Container{Name: "sidecar", Image: "side:1", Command: []string{"/side"}},
	))
	if !injected(p) {
		t.Fatal("pod not marked injected")
	}
	app := p.Spec.Containers[0]
	if want := []string{"/latchkey/bin/latchkey-env", "run", "--"}; !reflect.DeepEqual(app.Command, want) {
		t.Errorf("command %q, want %q", app.Command, want)
	}
	if want := []string{"/bin/app", "--port", "80"}; !reflect.DeepEqual(app.Args, want) {
		t.Errorf("args %q, want %q", app.Args, want)
	}
	refs := refsOf(t, app)
	if refs["db"].Name != "db-object" || refs["cert"].Type != "certificate" || len(refs) != 2 {
		t.Errorf("refs = %+v", refs)
	}
	if p.Spec.InitContainers[0].Name != "latchkey-env-install" || p.Spec.InitContainers[0].Image != envImage {
		t.Errorf("init containers = %+v", p.Spec.InitContainers)
	}
	if sc := p.Spec.Containers[1]; len(sc.Env) != 0 || len(sc.VolumeMounts) != 0 || !reflect.DeepEqual(sc.Command, []string{"/side"}) {
		t.Errorf("sidecar changed: env %v mounts %v", sc.Env, sc.VolumeMounts)
	}
	// The placeholder stays in the spec as it was (the binary resolves it);
	// a variable dropped from the spec fails too.
	i := slices.IndexFunc(app.Env, func(e corev1.EnvVar) bool { return e.Name == "DB_PASSWORD" })
	if i < 0 || app.Env[i].Value != "db@azurekeyvault" {
		t.Errorf("DB_PASSWORD is not its placeholder in the spec: %+v", app.Env)
	}
}

func TestCommandComesFromTheImage(t *testing.T) {
	ns := namespace(t, true)
	akvs(t, ns, "db", v2beta1.ObjectTypeSecret)
	p := mustCreatePod(t, newPod(ns, corev1.Container{Name: "app", Image: suite.image, Env: envVars("PW", "db@azurekeyvault")}))
	if want := []string{"/app", "serve"}; !reflect.DeepEqual(p.Spec.Containers[0].Args, want) {
		t.Errorf("args %q, want the image's ENTRYPOINT and CMD %q", p.Spec.Containers[0].Args, want)
	}
	p = mustCreatePod(t, newPod(ns, corev1.Container{Name: "app", Image: suite.image, Args: []string{"migrate"}, Env: envVars("PW", "db@azurekeyvault")}))
	if want := []string{"/app", "migrate"}; !reflect.DeepEqual(p.Spec.Containers[0].Args, want) {
		t.Errorf("args %q, want ENTRYPOINT with the pod's args %q", p.Spec.Containers[0].Args, want)
	}
}

func TestPlaceholdersThroughConfigMaps(t *testing.T) {
	ns := namespace(t, true)
	akvs(t, ns, "db", v2beta1.ObjectTypeSecret)
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "settings"}, Data: map[string]string{"DB_PASSWORD": "db@azurekeyvault", "MODE": "prod"}}
	if err := suite.client.Create(context.Background(), cm); err != nil {
		t.Fatal(err)
	}
	p := mustCreatePod(t, newPod(ns,
		corev1.Container{Name: "from", Image: "x:1", Command: []string{"/x"}, EnvFrom: []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "settings"}}}}},
		corev1.Container{Name: "keyref", Image: "x:1", Command: []string{"/x"}, Env: []corev1.EnvVar{{Name: "PW", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: "settings"}, Key: "DB_PASSWORD"}}}}},
	))
	from, keyref := p.Spec.Containers[0], p.Spec.Containers[1]
	if !containsEnv(from.Env, "DB_PASSWORD", "db@azurekeyvault") || containsEnv(from.Env, "MODE", "prod") {
		t.Errorf("envFrom: env %+v; want only the placeholder copied", from.Env)
	}
	if !containsEnv(keyref.Env, "PW", "db@azurekeyvault") || keyref.Env[0].ValueFrom != nil {
		t.Errorf("configMapKeyRef: env %+v; want the placeholder pinned", keyref.Env)
	}
}

func TestPodsLeftAlone(t *testing.T) {
	enabled, disabled := namespace(t, true), namespace(t, false)
	akvs(t, enabled, "db", v2beta1.ObjectTypeSecret)
	akvs(t, disabled, "db", v2beta1.ObjectTypeSecret)
	ph := corev1.Container{Name: "app", Image: "x:1", Command: []string{"/x"}, Env: envVars("PW", "db@azurekeyvault")}
	tests := []struct {
		name string
		pod  *corev1.Pod
	}{
		{"namespace not labelled", newPod(disabled, ph)},
		{"no placeholders", newPod(enabled, corev1.Container{Name: "app", Image: "x:1", Env: envVars("MAIL", "me@azurekeyvault.example.com")})},
		{"already wrapped by akv2k8s", func() *corev1.Pod {
			p := newPod(enabled, ph)
			p.Spec.InitContainers = []corev1.Container{{Name: "copy-azurekeyvault-env", Image: "akv2k8s:1"}}
			return p
		}()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := mustCreatePod(t, tc.pod)
			if injected(p) || len(p.Spec.InitContainers) > len(tc.pod.Spec.InitContainers) || slices.Contains(p.Spec.Containers[0].Command, "/latchkey/bin/latchkey-env") {
				t.Errorf("pod was mutated: %+v", p.Spec.Containers[0])
			}
		})
	}
}

func TestKubeSystemIsExcluded(t *testing.T) {
	ks := &corev1.Namespace{}
	if err := suite.client.Get(context.Background(), types.NamespacedName{Name: "kube-system"}, ks); err != nil {
		t.Fatal(err)
	}
	ks.Labels[podcontract.DefaultNamespaceLabel] = "enabled"
	if err := suite.client.Update(context.Background(), ks); err != nil {
		t.Fatal(err)
	}
	p := newPod("kube-system", corev1.Container{Name: "app", Image: "x:1", Command: []string{"/x"}, Env: envVars("PW", "db@azurekeyvault")})
	p.Spec.ServiceAccountName = "default"
	_ = suite.client.Create(context.Background(), &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: "kube-system"}})
	if got := mustCreatePod(t, p); injected(got) {
		t.Error("a kube-system pod was mutated")
	}
}

// TestPodBeforeItsAzureKeyVaultSecret: a pod whose AzureKeyVaultSecret does
// not exist yet is admitted and rewritten, as akv2k8s admitted it (Helm and
// Argo CD create custom resources after Deployments): its container asks
// the resolver at start and waits. LATCHKEY_REFS holds only what exists.
func TestPodBeforeItsAzureKeyVaultSecret(t *testing.T) {
	ns := namespace(t, true)
	akvs(t, ns, "db", v2beta1.ObjectTypeSecret)
	p := mustCreatePod(t, newPod(ns, corev1.Container{Name: "app", Image: "x:1", Command: []string{"/x"},
		Env: envVars("LATE", "late@azurekeyvault", "PW", "db@azurekeyvault")}))
	app := p.Spec.Containers[0]
	if !injected(p) || app.Command[0] != "/latchkey/bin/latchkey-env" || !containsEnv(app.Env, podcontract.EnvResolverURL, "https://latchkey-resolver.latchkey-system.svc") {
		t.Fatalf("pod not rewritten for the resolver: %+v", app)
	}
	if refs := refsOf(t, app); len(refs) != 1 || refs["db"].Name != "db-object" {
		t.Errorf("refs = %+v, want only the existing db", refs)
	}
}

func TestAdmissionErrors(t *testing.T) {
	ns := namespace(t, true)
	akvs(t, ns, "db", v2beta1.ObjectTypeSecret)
	// Accepted by the schema, as akv2k8s's accepted it; it cannot serve a
	// placeholder (v2beta1.Check).
	invalid := &v2beta1.AzureKeyVaultSecret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "rot"},
		Spec: v2beta1.AzureKeyVaultSecretSpec{
			Vault:  v2beta1.AzureKeyVault{Name: "kv", Object: v2beta1.AzureKeyVaultObject{Name: "rot", Type: v2beta1.ObjectTypeSecret}},
			Output: &v2beta1.AzureKeyVaultOutput{Transform: []v2beta1.Transform{"rot13"}},
		},
	}
	if err := suite.client.Create(context.Background(), invalid); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, want string
		pod        *corev1.Pod
	}{
		{"AzureKeyVaultSecret that cannot be used", "AzureKeyVaultSecret " + ns + "/rot, named by an @azurekeyvault placeholder, cannot be used: spec.output.transform[0] is not a transform",
			newPod(ns, corev1.Container{Name: "app", Image: "x:1", Command: []string{"/x"}, Env: envVars("PW", "rot@azurekeyvault")})},
		{"direct mode, unknown AzureKeyVaultSecret", "container app: AzureKeyVaultSecret " + ns + "/nope, named by an @azurekeyvault placeholder, does not exist; it sets ENV_INJECTOR_DISABLE_AUTH_SERVICE=true",
			newPod(ns, corev1.Container{Name: "app", Image: "x:1", Command: []string{"/x"}, Env: envVars("PW", "nope@azurekeyvault", "ENV_INJECTOR_DISABLE_AUTH_SERVICE", "true")})},
		{"image not in the registry", "set command", newPod(ns, corev1.Container{Name: "app", Image: suite.registry + "/team/missing:1", Env: envVars("PW", "db@azurekeyvault")})},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := createPod(t, tc.pod)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("create: %v; want an admission error containing %q", err, tc.want)
			}
		})
	}
}

// TestReinvocationChangesNothing: the webhook run again on a pod it
// rewrote (the API server's reinvocation after another webhook, with the
// options the suite's webhook serves with) leaves the pod as it was: every
// container, init container, volume and the mark.
func TestReinvocationChangesNothing(t *testing.T) {
	ns := namespace(t, true)
	akvs(t, ns, "db", v2beta1.ObjectTypeSecret)
	akvs(t, ns, "cert", v2beta1.ObjectTypeCertificate)
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "settings"}, Data: map[string]string{"FROM_CM": "db@azurekeyvault"}}
	if err := suite.client.Create(context.Background(), cm); err != nil {
		t.Fatal(err)
	}
	p := newPod(ns,
		corev1.Container{Name: "app", Image: "x:1", Command: []string{"/app"}, Env: envVars("PW", "db@azurekeyvault", "KEY", "cert@azurekeyvault?tls.key"),
			EnvFrom: []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "settings"}}}}},
		corev1.Container{Name: "direct", Image: "x:1", Command: []string{"/direct"}, Env: envVars("PW", "db@azurekeyvault", podcontract.EnvDisableAuthService, "true")},
		corev1.Container{Name: "sidecar", Image: "side:1", Command: []string{"/side"}})
	p.Spec.InitContainers = []corev1.Container{{Name: "migrate", Image: "m:1", Command: []string{"/migrate"}, Env: envVars("PW", "db@azurekeyvault")}}
	admitted := mustCreatePod(t, p)
	if !injected(admitted) || len(admitted.Spec.InitContainers) != 2 {
		t.Fatalf("the first admission did not rewrite the pod: mark %v, init containers %d", injected(admitted), len(admitted.Spec.InitContainers))
	}
	d := &webhook.Defaulter{Reader: suite.client, Options: webhook.Options{Image: envImage, Marks: suite.marks,
		Resolver: &suite.resolver}}
	again := admitted.DeepCopy()
	for pass := range 2 {
		if err := d.Default(context.Background(), again); err != nil {
			t.Fatalf("pass %d: %v", pass+2, err)
		}
		if !reflect.DeepEqual(again, admitted) {
			t.Fatalf("pass %d changed the pod:\nadmitted %+v\nnow      %+v", pass+2, admitted.Spec, again.Spec)
		}
	}
}

// TestForgedMarkIsRewritten: a pod created with the injected annotation
// ("true", or the mark of another admitted pod) is rewritten like any
// other; the stored pod carries the webhook's own mark, over what it holds.
func TestForgedMarkIsRewritten(t *testing.T) {
	ns := namespace(t, true)
	akvs(t, ns, "db", v2beta1.ObjectTypeSecret)
	admitted := mustCreatePod(t, newPod(ns, corev1.Container{Name: "other", Image: "x:1", Command: []string{"/x"}, Env: envVars("PW", "db@azurekeyvault")}))
	if !injected(admitted) {
		t.Fatal("the admitted pod's mark does not verify")
	}
	for _, forged := range []string{"true", admitted.Annotations[podcontract.InjectedAnnotation]} {
		p := newPod(ns, corev1.Container{Name: "app", Image: "x:1", Command: []string{"/x"}, Env: envVars("PW", "db@azurekeyvault")})
		p.Annotations = map[string]string{podcontract.InjectedAnnotation: forged}
		got := mustCreatePod(t, p)
		if app := got.Spec.Containers[0]; app.Command[0] != "/latchkey/bin/latchkey-env" || !injected(got) || got.Annotations[podcontract.InjectedAnnotation] == forged {
			t.Errorf("forged mark %.12q: command %q, mark %q; want rewritten with its own mark", forged, app.Command, got.Annotations[podcontract.InjectedAnnotation])
		}
	}
}

// TestConfigMapUnreadable: a ConfigMap the webhook may not read fails the
// admission, naming it; one that does not exist reads as no placeholder.
// The API server refuses the read for real (RBAC: a user without
// ConfigMap access).
func TestConfigMapUnreadable(t *testing.T) {
	ns := namespace(t, true)
	akvs(t, ns, "db", v2beta1.ObjectTypeSecret)
	user, err := suite.env.AddUser(envtest.User{Name: "latchkey-webhook-without-configmaps"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(user.Config(), client.Options{Scheme: scheme.New()})
	if err != nil {
		t.Fatal(err)
	}
	d := &webhook.Defaulter{Reader: c, Options: webhook.Options{Image: envImage}}
	fromSettings := corev1.Container{Name: "app", Image: "x:1", Command: []string{"/x"}, Env: envVars("PW", "db@azurekeyvault"),
		EnvFrom: []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "settings"}}}}}
	p := newPod(ns, fromSettings)
	err = d.Default(context.Background(), p)
	for _, want := range []string{"container app: read ConfigMap " + ns + "/settings", "forbidden", "refused rather than started with a placeholder"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Default = %v; want an error saying %q", err, want)
		}
	}
	if p.Spec.Containers[0].Command[0] != "/x" {
		t.Error("the pod was rewritten although the admission failed")
	}

	// Through the API server: a missing ConfigMap holds no placeholder.
	got := mustCreatePod(t, newPod(ns, fromSettings))
	if !injected(got) || got.Spec.Containers[0].Command[0] != "/latchkey/bin/latchkey-env" {
		t.Errorf("a pod reading a missing ConfigMap was not rewritten: %+v", got.Spec.Containers[0])
	}
}

// TestConfigMapReadErrors: whatever the read fails with (here the API
// server timing out, through an interceptor), the admission fails; only
// NotFound admits.
func TestConfigMapReadErrors(t *testing.T) {
	for _, tt := range []struct {
		err  error
		fail bool
	}{
		{apierrors.NewTimeoutError("the server was slow", 1), true},
		{apierrors.NewServiceUnavailable("etcd is down"), true},
		{apierrors.NewNotFound(corev1.Resource("configmaps"), "settings"), false},
	} {
		c := fake.NewClientBuilder().WithScheme(scheme.New()).WithInterceptorFuncs(interceptor.Funcs{
			Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
				if _, ok := obj.(*corev1.ConfigMap); ok {
					return tt.err
				}
				return c.Get(ctx, key, obj, opts...)
			},
		}).Build()
		d := &webhook.Defaulter{Reader: c, Options: webhook.Options{Image: envImage}}
		p := newPod("ns", corev1.Container{Name: "app", Image: "x:1", Command: []string{"/x"},
			Env: []corev1.EnvVar{{Name: "PW", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "settings"}, Key: "pw"}}}}})
		err := d.Default(context.Background(), p)
		if (err != nil) != tt.fail || (tt.fail && !strings.Contains(err.Error(), "read ConfigMap ns/settings")) {
			t.Errorf("read fails with %v: Default = %v, want failure %v", tt.err, err, tt.fail)
		}
	}
}

func TestDryRunIsMutatedButNotStored(t *testing.T) {
	ns := namespace(t, true)
	akvs(t, ns, "db", v2beta1.ObjectTypeSecret)
	p := newPod(ns, corev1.Container{Name: "app", Image: "x:1", Command: []string{"/x"}, Env: envVars("PW", "db@azurekeyvault")})
	p.Name, p.GenerateName = "dry", ""
	if _, err := createPod(t, p, client.DryRunAll); err != nil {
		t.Fatal(err)
	}
	if !injected(p) {
		t.Error("dry-run response not mutated")
	}
	if err := suite.client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "dry"}, &corev1.Pod{}); err == nil {
		t.Error("dry-run pod was stored")
	}
}

func containsEnv(env []corev1.EnvVar, name, value string) bool {
	for _, e := range env {
		if e.Name == name && e.Value == value {
			return true
		}
	}
	return false
}

// TestServingCertificateIsReloaded: when the certificate files change (a
// rotation by the chart or cert-manager), new connections get the new
// certificate without a restart.
func TestServingCertificateIsReloaded(t *testing.T) {
	o := suite.env.WebhookInstallOptions
	crtPath, keyPath := o.LocalServingCertDir+"/tls.crt", o.LocalServingCertDir+"/tls.key"
	oldCrt, err := os.ReadFile(crtPath)
	if err != nil {
		t.Fatal(err)
	}
	oldKey, err := os.ReadFile(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = os.WriteFile(keyPath, oldKey, 0o600)
		_ = os.WriteFile(crtPath, oldCrt, 0o600)
	})
	crt, key := selfSigned(t, "rotated.latchkey.test")
	// Key first: the watcher reloads on either file and needs a matching pair.
	if err := os.WriteFile(keyPath, key, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(crtPath, crt, 0o600); err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort(o.LocalServingHost, fmt.Sprint(o.LocalServingPort))
	var served string
	err = wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		conn, err := (&tls.Dialer{Config: &tls.Config{InsecureSkipVerify: true}}).DialContext(ctx, "tcp", addr) //nolint:gosec // reads the served certificate only
		if err != nil {
			return false, nil
		}
		defer func() { _ = conn.Close() }()
		served = conn.(*tls.Conn).ConnectionState().PeerCertificates[0].Subject.CommonName
		return served == "rotated.latchkey.test", nil
	})
	if err != nil {
		t.Fatalf("still serving %q after the files changed", served)
	}
}

func selfSigned(t *testing.T, cn string) (crtPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: cn}, DNSNames: []string{cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
}

// TestMetricsCountAdmissions: akv2k8s's injector counters keep their names,
// and admissions are timed.
func TestMetricsCountAdmissions(t *testing.T) {
	ns := namespace(t, true)
	akvs(t, ns, "db", v2beta1.ObjectTypeSecret)
	before := gather(t)
	ph := envVars("PW", "db@azurekeyvault")
	// Mutated, with a command; mutated, with the command from the image
	// (one container inspection); refused, its image not found (one
	// failed inspection); a pod the webhook is called for that holds no
	// placeholder.
	mustCreatePod(t, newPod(ns, corev1.Container{Name: "app", Image: "x:1", Command: []string{"/x"}, Env: ph}))
	mustCreatePod(t, newPod(ns, corev1.Container{Name: "app", Image: suite.image, Env: ph}))
	if _, err := createPod(t, newPod(ns, corev1.Container{Name: "app", Image: suite.registry + "/team/missing:1", Env: ph})); err == nil {
		t.Fatal("a pod whose image is not in the registry was admitted")
	}
	mustCreatePod(t, newPod(ns, corev1.Container{Name: "app", Image: "x:1", Command: []string{"/x"}, Env: envVars("MAIL", "me@azurekeyvault.example.com")}))
	after := gather(t)
	for name, want := range map[string]float64{
		"akv2k8s_pod_inspections_total":               4,
		"akv2k8s_pod_mutations_total":                 2,
		"akv2k8s_pod_mutations_failed_total":          1,
		"akv2k8s_container_inspections_total":         2,
		"akv2k8s_container_inspections_failed_total":  1,
		"latchkey_webhook_admission_duration_seconds": 4,
	} {
		if got := after[name] - before[name]; got != want {
			t.Errorf("%s grew by %v, want %v", name, got, want)
		}
	}
	// Names, help and labels are akv2k8s 1.8.4's.
	metricstest.Check(t, crmetrics.Registry, "webhook")
}

// gather sums every counter and histogram count of the webhook's registry.
func gather(t *testing.T) map[string]float64 {
	t.Helper()
	families, err := crmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			switch {
			case m.GetCounter() != nil:
				seen[f.GetName()] += m.GetCounter().GetValue()
			case m.GetHistogram() != nil:
				seen[f.GetName()] += float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return seen
}

// TestFilesThroughTheAPIServer: a pod that only declares files is admitted
// with the writer, the sidecar and the mounts, signed (the API server
// accepts the native sidecar and the volume); the webhook run again
// changes nothing; the same pod in an unlabelled namespace gets nothing;
// a malformed declaration is refused, naming the annotation.
func TestFilesThroughTheAPIServer(t *testing.T) {
	enabled, disabled := namespace(t, true), namespace(t, false)
	withFiles := func(ns string, ann map[string]string) *corev1.Pod {
		p := newPod(ns, corev1.Container{Name: "app", Image: "x:1", Command: []string{"/app"}})
		p.Annotations = ann
		return p
	}
	ann := map[string]string{"latchkey.dev/file.tls.crt": "web?tls.crt", "latchkey.dev/file.tls.key": "web?tls.key", "latchkey.dev/files-refresh": "true"}
	admitted := mustCreatePod(t, withFiles(enabled, ann))
	if !injected(admitted) {
		t.Fatalf("a pod with files is not marked: %+v %+v", admitted.Annotations, admitted.Spec.InitContainers)
	}
	var names []string
	for _, c := range admitted.Spec.InitContainers {
		names = append(names, c.Name)
	}
	if want := []string{podcontract.InstallContainer, podcontract.FilesWriterContainer, podcontract.FilesRefreshContainer}; !reflect.DeepEqual(names, want) {
		t.Fatalf("init containers %v, want %v", names, want)
	}
	if app := admitted.Spec.Containers[0]; app.Command[0] != "/app" || len(app.VolumeMounts) != 1 || app.VolumeMounts[0].MountPath != podcontract.DefaultFilesDir {
		t.Errorf("app container %+v: want its own command and the files mounted", app)
	}
	d := &webhook.Defaulter{Reader: suite.client, Options: webhook.Options{Image: envImage, Marks: suite.marks, Resolver: &suite.resolver}}
	again := admitted.DeepCopy()
	if err := d.Default(context.Background(), again); err != nil || !reflect.DeepEqual(again, admitted) {
		t.Fatalf("a second pass: %v; changed: %v", err, !reflect.DeepEqual(again, admitted))
	}
	left := mustCreatePod(t, withFiles(disabled, ann))
	if injected(left) || len(left.Spec.InitContainers) != 0 || len(left.Spec.Volumes) != 0 {
		t.Errorf("a pod outside a labelled namespace was mutated: %+v", left.Spec)
	}
	_, err := createPod(t, withFiles(enabled, map[string]string{"latchkey.dev/file.a": "x", "latchkey.dev/files-mode": "999"}))
	if err == nil || !strings.Contains(err.Error(), "latchkey.dev/files-mode: want an octal mode") {
		t.Errorf("malformed declaration: %v", err)
	}
}
