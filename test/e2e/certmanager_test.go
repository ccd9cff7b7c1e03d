//go:build e2e

package e2e

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
)

// certificates is cert-manager's Certificate resource.
var certificates = schema.GroupVersionResource{Group: "cert-manager.io", Version: "v1", Resource: "certificates"}

// dumpCertManagerState logs, if t failed, the status of every cert-manager
// object in namespace ns: why an issuance did not happen.
func dumpCertManagerState(t *testing.T, dyn dynamic.Interface, ns string) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for _, res := range []string{"issuers", "certificates", "certificaterequests"} {
			list, err := dyn.Resource(schema.GroupVersionResource{Group: "cert-manager.io", Version: "v1", Resource: res}).Namespace(ns).List(context.Background(), metav1.ListOptions{})
			if err != nil {
				t.Logf("%s: %v", res, err)
				continue
			}
			for _, o := range list.Items {
				conds, _, _ := unstructured.NestedSlice(o.Object, "status", "conditions")
				t.Logf("%s %s: %v", res, o.GetName(), conds)
			}
		}
	})
}

// TestCertManagerMode: the chart's certManager mode against a real
// cert-manager (its controllers and cainjector, built from the Go module
// proxy: hack/tools/cert-manager). A second release, side by side with the
// first (own namespace and namespace label, as the migration guide runs
// two), is installed with certManager.enabled and nothing else of the
// mode set:
//   - cert-manager issues the webhook's and the resolver's certificates
//     from the chart's own CA (self-signed Issuer → CA Certificate → CA
//     Issuer) into Secrets Helm does not own;
//   - the cainjector puts that CA into the webhook's caBundle, the webhook
//     and resolver pods present the issued certificates, and the resolver
//     publishes the CA to the labelled namespace;
//   - a pod there gets its values through the webhook and the resolver;
//   - a renewal (asked for as `cmctl renew` does) gives both new
//     certificates from the same CA, which they serve without restarting,
//     the caBundle is unchanged, and a pod started afterwards gets its
//     values too.
func TestCertManagerMode(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	rel := release{name: "latchkey-cm", namespace: "latchkey-cm", label: "latchkey-cm-injection"}
	cs, dyn := rel.installBesideCertManager(ctx, t, "certManager.enabled=true")

	caSecret := waitForSecret(ctx, t, cs, rel.namespace, rel.name+"-cert-manager-ca", nil)
	ca := parseCerts(t, caSecret.Data["tls.crt"])[0]
	if !ca.IsCA {
		t.Fatalf("%s holds no CA", caSecret.Name)
	}
	webhookLeaf := rel.checkIssued(ctx, t, cs, "webhook", ca, nil)
	resolverLeaf := rel.checkIssued(ctx, t, cs, "resolver", ca, nil)
	rel.waitForCABundle(ctx, t, cs, ca)
	rel.waitForWebhookServing(ctx, t, cs, webhookLeaf)
	rel.waitForPresenting(ctx, t, cs, resolverSelector, resolverPort, resolverLeaf)
	// helm test verifies both with the CAs of cert-manager's Secrets.
	if out, err := rel.helmTest(ctx); err != nil || !strings.Contains(out, "ok webhook answers") || !strings.Contains(out, "ok resolver answers") {
		t.Errorf("helm test: %v\n%s", err, out)
	}

	f := rel.injectorFixture(ctx, t, "cert-manager")
	if b := rel.readBundle(ctx, t, cs, f.ns); len(b) != 1 || !b[0].Equal(ca) {
		t.Fatalf("the resolver published %d certificates, want cert-manager's CA alone", len(b))
	}
	aliases := rel.resolverAliases(ctx, t, cs)
	pod := f.start(ctx, t, f.deployment("before-renewal", nil, aliases))
	f.checkOutput(ctx, t, pod, "sa_token=absent")
	if served := rel.resolverLogs(ctx, t, cs); !containsLine(served, `"pod":"`+pod.Name+`"`, `"msg":"placeholders served"`) {
		t.Errorf("the resolver of %s did not log serving %s", rel.name, pod.Name)
	}

	// Renewal: new serving certificates (new keys: rotationPolicy Always)
	// from the same CA, picked up by the running pods.
	components := podUIDs(ctx, t, cs, rel.namespace, "app.kubernetes.io/instance="+rel.name)
	for _, c := range []string{"webhook", "resolver"} {
		renew(ctx, t, dyn, rel.namespace, rel.name+"-"+c)
	}
	newWebhookLeaf := rel.checkIssued(ctx, t, cs, "webhook", ca, webhookLeaf)
	newResolverLeaf := rel.checkIssued(ctx, t, cs, "resolver", ca, resolverLeaf)
	rel.waitForWebhookServing(ctx, t, cs, newWebhookLeaf)
	rel.waitForPresenting(ctx, t, cs, resolverSelector, resolverPort, newResolverLeaf)
	if b := rel.webhookCABundle(ctx, t, cs); len(b) != 1 || !b[0].Equal(ca) {
		t.Errorf("the caBundle changed on a renewal: %d certificates", len(b))
	}
	if now := podUIDs(ctx, t, cs, rel.namespace, "app.kubernetes.io/instance="+rel.name); now != components {
		t.Errorf("the renewal restarted latchkey pods:\nbefore %s\nafter  %s", components, now)
	}
	pod = f.start(ctx, t, f.deployment("after-renewal", nil, aliases))
	f.checkOutput(ctx, t, pod, "sa_token=absent")
	f.checkNoLeaks(ctx, t)
}

// installBesideCertManager starts cert-manager and installs release r
// beside the main one: the suite's values with the webhook and the
// resolver only (one replica each), r's namespace label, and set (a
// --set argument). Uninstalled when t ends.
func (r release) installBesideCertManager(ctx context.Context, t *testing.T, set string) (kubernetes.Interface, dynamic.Interface) {
	t.Helper()
	cs, err := env.cluster.Clientset()
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(env.cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	startCertManager(ctx, t)
	if err := prepareReleaseNamespace(ctx, r.namespace); err != nil {
		t.Fatal(err)
	}
	if err := runHelm(ctx, "install", r.name, env.chart, "--namespace", r.namespace, "--values", env.values,
		"--set", set, "--set", "controller.enabled=false",
		"--set", "env_injector.replicas=1", "--set", "resolver.replicas=1",
		"--set", "env_injector.namespaceLabel="+r.label,
		"--wait", "--timeout", "3m"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := runHelm(context.Background(), "uninstall", r.name, "--namespace", r.namespace, "--wait"); err != nil {
			t.Errorf("uninstall: %v", err)
		}
	})
	dumpCertManagerState(t, dyn, r.namespace) // runs before the uninstall
	return cs, dyn
}

// certManager is started once for the tests that need it.
var certManager struct {
	once sync.Once
	err  error
}

// TestCertManagerSwitch: turning certManager.enabled on in an installed
// release, and off again, with `helm upgrade --reuse-values` (off also with
// --force-conflicts, as documented). After turning it on, cert-manager has
// issued the certificates and injected the caBundle; after each upgrade a
// pod in the labelled namespace gets its values.
func TestCertManagerSwitch(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	rel := release{name: "latchkey-switch", namespace: "latchkey-switch", label: "latchkey-switch-injection"}
	cs, _ := rel.installBesideCertManager(ctx, t, "certManager.enabled=false")
	f := rel.injectorFixture(ctx, t, "switch")
	aliases := rel.resolverAliases(ctx, t, cs)

	for i, on := range []bool{true, false} {
		t.Logf("certManager.enabled=%v", on)
		args := []string{"upgrade", rel.name, env.chart, "--namespace", rel.namespace, "--reuse-values",
			"--set", fmt.Sprintf("certManager.enabled=%v", on), "--wait", "--timeout", "3m"}
		if !on {
			// Helm applies server-side, and the caBundle it sets again is
			// the cainjector's field: the documented flag takes it back.
			args = append(args, "--force-conflicts")
		}
		if err := runHelm(ctx, args...); err != nil {
			t.Fatal(err)
		}
		if on {
			ca := parseCerts(t, waitForSecret(ctx, t, cs, rel.namespace, rel.name+"-cert-manager-ca", nil).Data["tls.crt"])[0]
			rel.checkIssued(ctx, t, cs, "webhook", ca, nil)
			rel.checkIssued(ctx, t, cs, "resolver", ca, nil)
			rel.waitForCABundle(ctx, t, cs, ca)
		}
		pod := f.start(ctx, t, f.deployment(fmt.Sprintf("app-%d", i), nil, aliases))
		f.checkOutput(ctx, t, pod, "sa_token=absent")
	}
}

// startCertManager installs cert-manager's CRDs and runs its controllers
// and cainjector (LATCHKEY_CERT_MANAGER, its CRDs in crds/ beside it) as a
// component of the cluster, once.
func startCertManager(ctx context.Context, t *testing.T) {
	t.Helper()
	certManager.once.Do(func() { certManager.err = runCertManager(ctx) })
	if certManager.err != nil {
		t.Fatal(certManager.err)
	}
}

func runCertManager(ctx context.Context) error {
	bin := os.Getenv("LATCHKEY_CERT_MANAGER")
	kubectl := os.Getenv("TEST_ASSET_KUBECTL")
	if bin == "" || kubectl == "" {
		return errors.New("LATCHKEY_CERT_MANAGER or TEST_ASSET_KUBECTL not set; run through make test-e2e")
	}
	crds := filepath.Join(filepath.Dir(bin), "crds")
	for _, args := range [][]string{
		{"apply", "--server-side", "-f", crds},
		{"wait", "--for=condition=Established", "--timeout=60s", "-f", crds},
	} {
		cmd := exec.CommandContext(ctx, kubectl, append([]string{"--kubeconfig", env.cluster.Kubeconfig}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("kubectl %s: %w\n%s", args[0], err, out)
		}
	}
	return env.cluster.StartComponent("cert-manager", bin, "--kubeconfig", env.cluster.Kubeconfig)
}

// checkIssued waits until cert-manager has written release r's Secret of
// component with a certificate other than previous, and checks it: issued
// by the release's CA Issuer, not a Helm object, ca.crt the CA, the leaf
// valid for the component's Service name under that CA. It returns the leaf.
func (r release) checkIssued(ctx context.Context, t *testing.T, cs kubernetes.Interface, component string, ca, previous *x509.Certificate) *x509.Certificate {
	t.Helper()
	name := r.name + "-" + component
	s := waitForSecret(ctx, t, cs, r.namespace, name+"-cert-manager-tls", func(s *corev1.Secret) bool {
		certs, _ := pemCerts(s.Data["tls.crt"])
		return len(certs) > 0 && (previous == nil || !certs[0].Equal(previous))
	})
	if got := s.Annotations["cert-manager.io/issuer-name"]; got != r.name+"-ca" {
		t.Errorf("%s: issuer %q, want the chart's CA Issuer %s-ca", s.Name, got, r.name)
	}
	if owner := s.Annotations["meta.helm.sh/release-name"]; owner != "" {
		t.Errorf("%s is owned by Helm release %s; cert-manager should own it", s.Name, owner)
	}
	if got := parseCerts(t, s.Data["ca.crt"]); len(got) != 1 || !got[0].Equal(ca) {
		t.Errorf("%s: ca.crt is not the release's CA", s.Name)
	}
	leaf := parseCerts(t, s.Data["tls.crt"])[0]
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: name + "." + r.namespace + ".svc"}); err != nil {
		t.Errorf("%s: %v", s.Name, err)
	}
	return leaf
}

// waitForCABundle waits until the cainjector has set release r's webhook
// caBundle to ca alone.
func (r release) waitForCABundle(ctx context.Context, t *testing.T, cs kubernetes.Interface, ca *x509.Certificate) {
	t.Helper()
	err := wait.PollUntilContextCancel(ctx, 500*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		mwc, err := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, r.name+"-webhook", metav1.GetOptions{})
		if err != nil || len(mwc.Webhooks) != 1 {
			return false, nil
		}
		got, _ := pemCerts(mwc.Webhooks[0].ClientConfig.CABundle)
		return len(got) == 1 && got[0].Equal(ca), nil
	})
	if err != nil {
		t.Fatalf("the cainjector did not set the caBundle of %s-webhook to the CA: %v", r.name, err)
	}
}

// waitForSecret waits until Secret ns/name exists and ok (if given)
// accepts it.
func waitForSecret(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns, name string, ok func(*corev1.Secret) bool) *corev1.Secret {
	t.Helper()
	var s *corev1.Secret
	err := wait.PollUntilContextCancel(ctx, 500*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		var err error
		s, err = cs.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
		return err == nil && (ok == nil || ok(s)), nil
	})
	if err != nil {
		t.Fatalf("Secret %s/%s: %v (cert-manager's log: %s)", ns, name, err, filepath.Join(env.cluster.LogDir(), "cert-manager.log"))
	}
	return s
}

// renew asks cert-manager to issue Certificate ns/name again now, as
// `cmctl renew` does: by setting its Issuing condition.
func renew(ctx context.Context, t *testing.T, dyn dynamic.Interface, ns, name string) {
	t.Helper()
	crt, err := dyn.Resource(certificates).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	old, _, _ := unstructured.NestedSlice(crt.Object, "status", "conditions")
	var conds []any
	for _, c := range old {
		if m, ok := c.(map[string]any); !ok || m["type"] != "Issuing" {
			conds = append(conds, c)
		}
	}
	conds = append(conds, map[string]any{
		"type": "Issuing", "status": "True", "reason": "ManuallyTriggered",
		"message":            "renewal asked for by the e2e test",
		"lastTransitionTime": time.Now().UTC().Format(time.RFC3339),
		"observedGeneration": crt.GetGeneration(),
	})
	if err := unstructured.SetNestedSlice(crt.Object, conds, "status", "conditions"); err != nil {
		t.Fatal(err)
	}
	if _, err := dyn.Resource(certificates).Namespace(ns).UpdateStatus(ctx, crt, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("renew %s: %v", name, err)
	}
}
