//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
)

const (
	webhookSelector = "app.kubernetes.io/component=webhook"
	webhookPort     = "9443" // env_injector.port
)

// TestWebhookCertRotation: raising env_injector.certRotation makes a new CA
// and serving certificate, and no pod is refused meanwhile: the caBundle
// holds the former CA and the new one, so the API server trusts the webhook
// pods whichever certificate they present until they reload the new one
// (without a restart).
func TestWebhookCertRotation(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	f := newInjectorFixture(ctx, t, "webhook-cert")
	cs := f.cs
	oldBundle := mainRelease.webhookCABundle(ctx, t, cs)
	oldSecret, err := cs.CoreV1().Secrets(releaseNamespace).Get(ctx, webhookName+"-tls", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	oldCA := parseCerts(t, oldSecret.Data["ca.crt"])[0]
	oldServing := parseCerts(t, oldSecret.Data["tls.crt"])[0]
	if !containsCert(oldBundle, oldCA) {
		t.Fatalf("before the rotation the caBundle lacks the Secret's CA %s", oldCA.Subject)
	}
	webhooks := podUIDs(ctx, t, cs, releaseNamespace, webhookSelector)

	if err := runHelm(ctx, "upgrade", "latchkey", env.chart, "--namespace", releaseNamespace, "--reuse-values",
		"--set", "env_injector.certRotation=1", "--wait", "--timeout", "3m"); err != nil {
		t.Fatal(err)
	}
	newSecret, err := cs.CoreV1().Secrets(releaseNamespace).Get(ctx, webhookName+"-tls", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	newCA := parseCerts(t, newSecret.Data["ca.crt"])[0]
	serving := parseCerts(t, newSecret.Data["tls.crt"])[0]
	if serving.Equal(oldServing) || newCA.Equal(oldCA) {
		t.Fatal("the rotation kept the former CA or serving certificate")
	}
	bundle := mainRelease.webhookCABundle(ctx, t, cs)
	if !containsCert(bundle, newCA) || serving.CheckSignatureFrom(newCA) != nil {
		t.Fatalf("the new serving certificate (issuer %s) is not signed by a CA of the new caBundle", serving.Issuer)
	}
	if !containsCert(bundle, oldCA) {
		t.Fatalf("the new caBundle no longer holds the former CA %s", oldCA.Subject)
	}
	if len(bundle) != 2 {
		t.Errorf("the caBundle holds %d certificates, want the former and the new CA", len(bundle))
	}
	// What the API server checks, whichever certificate a webhook pod
	// presents until it reloads: both verify against the new caBundle for
	// the Service's name. (Whether a pod still presents the former one when
	// the admissions below run depends on the kubelet's timing.)
	pool := x509.NewCertPool()
	for _, c := range bundle {
		pool.AddCert(c)
	}
	for which, leaf := range map[string]*x509.Certificate{"former": oldServing, "new": serving} {
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: webhookName + "." + releaseNamespace + ".svc"}); err != nil {
			t.Errorf("the %s serving certificate does not verify against the new caBundle: %v", which, err)
		}
	}

	// The overlap: the API server uses the new caBundle, some webhook pods
	// may still present the former certificate. Nothing is refused.
	placeholder := corev1.EnvVar{Name: "INJECTED_SECRET", Value: "app-secret@azurekeyvault"}
	attempts, sawOld := 0, false
	for end := time.Now().Add(20 * time.Second); time.Now().Before(end); time.Sleep(500 * time.Millisecond) {
		attempts++
		if _, err := cs.CoreV1().Pods(f.ns).Create(ctx, plainPod("during-rotation", placeholder),
			metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
			t.Fatalf("attempt %d during the rotation was refused: %v", attempts, err)
		}
		if !sawOld {
			sawOld = mainRelease.webhookPresents(ctx, cs, oldServing)
		}
	}
	t.Logf("%d admissions during the overlap; a webhook pod still presented the former certificate: %v", attempts, sawOld)

	mainRelease.waitForWebhookServing(ctx, t, cs, serving)
	if now := podUIDs(ctx, t, cs, releaseNamespace, webhookSelector); now != webhooks {
		t.Errorf("the webhook pods restarted on a certificate rotation: %s → %s", webhooks, now)
	}
	if _, err := cs.CoreV1().Pods(f.ns).Create(ctx, plainPod("after-rotation", placeholder),
		metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
		t.Errorf("refused after the rotation: %v", err)
	}
}

// webhookCABundle returns the CAs of release r's MutatingWebhookConfiguration.
func (r release) webhookCABundle(ctx context.Context, t *testing.T, cs kubernetes.Interface) []*x509.Certificate {
	t.Helper()
	name := r.name + "-webhook"
	mwc, err := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(mwc.Webhooks) != 1 {
		t.Fatalf("%d webhooks in %s, want 1", len(mwc.Webhooks), name)
	}
	return parseCerts(t, mwc.Webhooks[0].ClientConfig.CABundle)
}

func containsCert(certs []*x509.Certificate, c *x509.Certificate) bool {
	for _, x := range certs {
		if x.Equal(c) {
			return true
		}
	}
	return false
}

// presented returns the leaf certificate each pod of selector in release
// r's namespace presents on port (nil for a pod that could not be reached).
func (r release) presented(ctx context.Context, cs kubernetes.Interface, selector, port string) (map[string]*x509.Certificate, error) {
	pods, err := cs.CoreV1().Pods(r.namespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil, err
	}
	got := map[string]*x509.Certificate{}
	for _, p := range pods.Items {
		got[p.Name] = nil
		d := tls.Dialer{Config: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec // only the presented certificate is compared
		conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(p.Status.PodIP, port))
		if err != nil {
			continue
		}
		got[p.Name] = conn.(*tls.Conn).ConnectionState().PeerCertificates[0]
		_ = conn.Close()
	}
	return got, nil
}

// webhookPresents tells whether some webhook pod of release r presents cert.
func (r release) webhookPresents(ctx context.Context, cs kubernetes.Interface, cert *x509.Certificate) bool {
	got, err := r.presented(ctx, cs, webhookSelector, webhookPort)
	if err != nil {
		return false
	}
	for _, c := range got {
		if c != nil && bytes.Equal(c.Raw, cert.Raw) {
			return true
		}
	}
	return false
}

// waitForWebhookServing waits until every webhook pod of release r presents cert.
func (r release) waitForWebhookServing(ctx context.Context, t *testing.T, cs kubernetes.Interface, cert *x509.Certificate) {
	t.Helper()
	r.waitForPresenting(ctx, t, cs, webhookSelector, webhookPort, cert)
}

// waitForPresenting waits until every pod of selector in release r's
// namespace presents cert on port.
func (r release) waitForPresenting(ctx context.Context, t *testing.T, cs kubernetes.Interface, selector, port string, cert *x509.Certificate) {
	t.Helper()
	var last string
	err := wait.PollUntilContextCancel(ctx, time.Second, true, func(ctx context.Context) (bool, error) {
		got, err := r.presented(ctx, cs, selector, port)
		if err != nil || len(got) == 0 {
			return false, nil
		}
		for name, c := range got {
			switch {
			case c == nil:
				last = name + " unreachable"
				return false, nil
			case !bytes.Equal(c.Raw, cert.Raw):
				last = name + " still serves the certificate issued by " + c.Issuer.String()
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		t.Fatalf("the %s pods do not serve the new certificate: %v (%s)", selector, err, last)
	}
}
