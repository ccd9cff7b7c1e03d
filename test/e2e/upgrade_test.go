//go:build e2e

package e2e

import (
	"context"
	"crypto/sha256"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// TestUpgradeChangesNothing: `helm upgrade` with the same values restarts
// no latchkey pod and keeps every certificate and CA: the webhook's CA in
// the MutatingWebhookConfiguration, the resolver's CAs and serving
// certificate, and the CA bundle pods trust. (A chart that made new
// certificates on every render would restart everything and break pods
// holding the old bundle.)
func TestUpgradeChangesNothing(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cs, err := env.cluster.Clientset()
	if err != nil {
		t.Fatal(err)
	}
	before := installState(ctx, t, cs)
	if err := runHelm(ctx, "upgrade", "latchkey", env.chart, "--namespace", releaseNamespace, "--reuse-values", "--wait", "--timeout", "3m"); err != nil {
		t.Fatal(err)
	}
	after := installState(ctx, t, cs)
	for what, b := range before {
		if a := after[what]; a != b {
			t.Errorf("%s changed on an upgrade without changes:\nbefore %s\nafter  %s", what, b, a)
		}
	}
}

// installState fingerprints what an upgrade must leave alone: each
// latchkey pod (name, UID, restarts), the hashes of the certificate
// Secrets and the CA bundle, and the webhook's caBundle.
func installState(ctx context.Context, t *testing.T, cs kubernetes.Interface) map[string]string {
	t.Helper()
	state := map[string]string{}
	pods, err := cs.CoreV1().Pods(releaseNamespace).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=latchkey"})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, p := range pods.Items {
		restarts := int32(0)
		for _, s := range p.Status.ContainerStatuses {
			restarts += s.RestartCount
		}
		ids = append(ids, fmt.Sprintf("%s/%s/%d", p.Name, p.UID, restarts))
	}
	sort.Strings(ids)
	state["pods"] = strings.Join(ids, ",")
	secrets, err := cs.CoreV1().Secrets(releaseNamespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range secrets.Items {
		if strings.HasPrefix(s.Name, "latchkey-") && !strings.HasPrefix(s.Name, "sh.helm.") {
			state["secret "+s.Name] = digest(s.Data)
		}
	}
	cms, err := cs.CoreV1().ConfigMaps(releaseNamespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, cm := range cms.Items {
		if strings.HasSuffix(cm.Name, "-ca-bundle") || strings.HasSuffix(cm.Name, "-ca") {
			state["configmap "+cm.Name] = digest(map[string][]byte{"ca.crt": []byte(cm.Data["ca.crt"])})
		}
	}
	mwcs, err := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=latchkey"})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range mwcs.Items {
		for _, w := range m.Webhooks {
			state["webhook "+w.Name] = digest(map[string][]byte{"caBundle": w.ClientConfig.CABundle})
		}
	}
	if len(state) < 5 {
		t.Fatalf("too little to compare (%d entries): %v", len(state), state)
	}
	return state
}

// digest hashes data's keys and values in key order.
func digest(data map[string][]byte) string {
	keys := make([]string, 0, len(data))
	for k := range data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	h := sha256.New()
	for _, k := range keys {
		fmt.Fprintf(h, "%s=%x;", k, data[k])
	}
	return fmt.Sprintf("%x", h.Sum(nil))[:16]
}
