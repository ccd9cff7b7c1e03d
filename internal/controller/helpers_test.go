package controller_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azcertificates"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/latchkey-dev/latchkey/api/v2beta1"
	"github.com/latchkey-dev/latchkey/internal/controller"
	"github.com/latchkey-dev/latchkey/internal/devtools/akvemu"
	"github.com/latchkey-dev/latchkey/internal/devtools/leakcheck"
)

// testVault is a vault of the emulator and the operator's SDK clients for it.
type testVault struct {
	name    string
	secrets *azsecrets.Client
	certs   *azcertificates.Client
	keys    *azkeys.Client
}

var vaultSeq atomic.Int64

// newVault adds a vault of its own to the emulator for one test: the
// emulator counts requests and injects faults per vault, so counts and
// faults then concern that test alone.
func newVault(t *testing.T, mutate ...func(*akvemu.VaultSeed)) *testVault {
	t.Helper()
	name := fmt.Sprintf("kv-it-%03d", vaultSeq.Add(1))
	vs := akvemu.VaultSeed{Name: name, TenantID: tenantID}
	for _, m := range mutate {
		m(&vs)
	}
	seed := &akvemu.Seed{Tenants: []akvemu.TenantSeed{{ID: tenantID}}, Vaults: []akvemu.VaultSeed{vs}}
	if err := suite.emu.Seed(seed); err != nil {
		t.Fatalf("seed vault %s: %v", name, err)
	}
	v, err := openVault(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { suite.emu.Faults().Clear(name) })
	return v
}

// openVault builds the operator's SDK clients for a vault.
func openVault(name string) (*testVault, error) {
	opts := suite.emu.ClientOptions()
	url := "https://" + name + ".vault.azure.net"
	v := &testVault{name: name}
	var err error
	if v.secrets, err = azsecrets.NewClient(url, suite.cred, &azsecrets.ClientOptions{ClientOptions: opts}); err != nil {
		return nil, err
	}
	if v.certs, err = azcertificates.NewClient(url, suite.cred, &azcertificates.ClientOptions{ClientOptions: opts}); err != nil {
		return nil, err
	}
	v.keys, err = azkeys.NewClient(url, suite.cred, &azkeys.ClientOptions{ClientOptions: opts})
	return v, err
}

// setSecret stores a secret version and returns its version. The value is
// remembered for the leak checks.
func (v *testVault) setSecret(t *testing.T, name, value, contentType string) string {
	t.Helper()
	remember(value)
	params := azsecrets.SetSecretParameters{Value: &value}
	if contentType != "" {
		params.ContentType = &contentType
	}
	resp, err := v.secrets.SetSecret(context.Background(), name, params, nil)
	if err != nil {
		t.Fatalf("set secret %s: %v", name, err)
	}
	return resp.ID.Version()
}

// deleteSecret deletes a secret, as an operator removing it from the vault.
func (v *testVault) deleteSecret(t *testing.T, name string) {
	t.Helper()
	if _, err := v.secrets.DeleteSecret(context.Background(), name, nil); err != nil {
		t.Fatalf("delete secret %s: %v", name, err)
	}
}

// importCertificate imports a PFX (base64) or PEM certificate and returns
// its version. The value (which holds the private key) is remembered for
// the leak checks.
func (v *testVault) importCertificate(t *testing.T, name, value, contentType string, exportable bool) string {
	t.Helper()
	remember(value)
	resp, err := v.certs.ImportCertificate(context.Background(), name, azcertificates.ImportCertificateParameters{
		Base64EncodedCertificate: &value,
		CertificatePolicy: &azcertificates.CertificatePolicy{
			KeyProperties:    &azcertificates.KeyProperties{Exportable: &exportable},
			SecretProperties: &azcertificates.SecretProperties{ContentType: &contentType},
		},
	}, nil)
	if err != nil {
		t.Fatalf("import certificate %s: %v", name, err)
	}
	return resp.ID.Version()
}

// createKey creates an RSA or EC key.
func (v *testVault) createKey(t *testing.T, name string, kty azkeys.KeyType, curve *azkeys.CurveName) *azkeys.JSONWebKey {
	t.Helper()
	params := azkeys.CreateKeyParameters{Kty: &kty, Curve: curve}
	if kty == azkeys.KeyTypeRSA {
		params.KeySize = ptr.To[int32](2048)
	}
	resp, err := v.keys.CreateKey(context.Background(), name, params, nil)
	if err != nil {
		t.Fatalf("create key %s: %v", name, err)
	}
	return resp.Key
}

// fail makes every request to the vault fail as rules say, until cleared.
func (v *testVault) fail(t *testing.T, rules ...akvemu.FaultRule) {
	t.Helper()
	if err := suite.emu.Faults().Set(v.name, akvemu.FaultConfig{Rules: rules}); err != nil {
		t.Fatal(err)
	}
}

// recover ends the vault's faults.
func (v *testVault) recover() { suite.emu.Faults().Clear(v.name) }

// requests counts the requests the vault answered with an operation and a
// status (status < 0: any).
func (v *testVault) requests(operation string, status int) int64 {
	return suite.emu.Counters().Snapshot().Count(v.name, operation, status)
}

// reads counts the successful data-plane reads of the vault: what
// product.md calls "a read" (certificates are read as their secret).
func (v *testVault) reads() int64 {
	return v.requests("GetSecret", 200) + v.requests("GetKey", 200)
}

// inVault points an AzureKeyVaultSecret at a vault.
func inVault(v *testVault) func(*v2beta1.AzureKeyVaultSecret) {
	return func(a *v2beta1.AzureKeyVaultSecret) { a.Spec.Vault.Name = v.name }
}

// everySecond has an AzureKeyVaultSecret refreshed every fastInterval, by
// the suite's fast shard: tests watching refreshes cannot wait for
// spec.refreshInterval's minimum.
func everySecond(a *v2beta1.AzureKeyVaultSecret) { shard(fastShard)(a) }

// shard labels an AzureKeyVaultSecret for a test's own controller (see
// testControllerLabel).
func shard(name string) func(*v2beta1.AzureKeyVaultSecret) {
	return func(a *v2beta1.AzureKeyVaultSecret) {
		if a.Labels == nil {
			a.Labels = map[string]string{}
		}
		a.Labels[testControllerLabel] = name
	}
}

func key(ns, name string) types.NamespacedName {
	return types.NamespacedName{Namespace: ns, Name: name}
}

// errorf is fmt.Errorf, for eventually's checks.
func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }

// getAKVS reads an AzureKeyVaultSecret.
func getAKVS(t *testing.T, ns, name string) *v2beta1.AzureKeyVaultSecret {
	t.Helper()
	a := &v2beta1.AzureKeyVaultSecret{}
	if err := suite.client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, a); err != nil {
		t.Fatal(err)
	}
	return a
}

// getSecret reads a Secret.
func getSecret(t *testing.T, ns, name string) *corev1.Secret {
	t.Helper()
	s := &corev1.Secret{}
	if err := suite.client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, s); err != nil {
		t.Fatal(err)
	}
	return s
}

// readyCondition returns the Ready condition, or a zero one.
func readyCondition(a *v2beta1.AzureKeyVaultSecret) metav1.Condition {
	for _, c := range a.Status.Conditions {
		if c.Type == controller.ConditionReady {
			return c
		}
	}
	return metav1.Condition{}
}

// update changes an object with retries on conflicts.
func update[T client.Object](t *testing.T, obj T, mutate func(T)) {
	t.Helper()
	eventually(t, func() error {
		if err := suite.client.Get(context.Background(), client.ObjectKeyFromObject(obj), obj); err != nil {
			return err
		}
		mutate(obj)
		return suite.client.Update(context.Background(), obj)
	})
}

// deleteObject deletes an object.
func deleteObject(t *testing.T, obj client.Object) {
	t.Helper()
	if err := suite.client.Delete(context.Background(), obj); err != nil {
		t.Fatalf("delete %s: %v", obj.GetName(), err)
	}
}

// window lets time pass to observe that something does NOT happen (no read,
// no write, no event): a few refresh intervals of the objects involved.
// It measures a window; it never waits for a state.
func window(d time.Duration) { time.Sleep(d) }

// eventsFor lists the Events recorded for one object, as "type/reason/count"
// plus the message, in a stable order, so two lists compare as strings.
func eventsFor(t *testing.T, ns, name string) []string {
	t.Helper()
	list := &corev1.EventList{}
	if err := suite.client.List(context.Background(), list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range list.Items {
		if e.InvolvedObject.Name != name {
			continue
		}
		count := e.Count
		if e.Series != nil {
			count = max(count, e.Series.Count)
		}
		out = append(out, fmt.Sprintf("%s %s %s x%d: %s", e.Name, e.Type, e.Reason, count, e.Message))
	}
	slices.Sort(out)
	return out
}

// testController is a controller a test starts for itself.
type testController struct {
	mgr      ctrl.Manager
	registry *prometheus.Registry
	logs     *leakcheck.Buffer
	// stop stops the controller (and returns at once if it has stopped).
	stop func()
}

// startTestController starts a controller that syncs only the
// AzureKeyVaultSecrets labelled with shard (which the suite's controller
// ignores), in namespaces (empty: all). It stops when the test ends.
func startTestController(t *testing.T, shardName string, namespaces []string, mutate ...func(*controller.Config)) *testController {
	t.Helper()
	c := controllerConfig()
	c.Manager.Namespaces = namespaces
	c.Manager.Selector = testControllerLabel + "=" + shardName
	for _, m := range mutate {
		m(&c)
	}
	tc := &testController{registry: c.Registry.(*prometheus.Registry), logs: newLogBuffer()}
	mgr, stop, err := startController(context.Background(), c, tc.logs)
	if err != nil {
		t.Fatalf("start controller: %v", err)
	}
	tc.mgr, tc.stop = mgr, sync.OnceFunc(stop)
	t.Cleanup(tc.stop)
	return tc
}

// metricValue sums the samples of a counter or gauge whose labels include
// the given ones; -1 when the metric is not registered or has no sample.
func metricValue(t *testing.T, reg prometheus.Gatherer, name string, labels map[string]string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum, found := 0.0, false
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if !hasLabels(m, labels) {
				continue
			}
			found = true
			switch {
			case m.Counter != nil:
				sum += m.Counter.GetValue()
			case m.Gauge != nil:
				sum += m.Gauge.GetValue()
			}
		}
	}
	if !found {
		return -1
	}
	return sum
}

func hasLabels(m *dto.Metric, want map[string]string) bool {
	got := map[string]string{}
	for _, l := range m.GetLabel() {
		got[l.GetName()] = l.GetValue()
	}
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

// The values tests put in Key Vault, and every controller log, for the leak
// checks (TestNoValueLeaks and the final sweep in TestMain).
var leakWatch struct {
	values leakcheck.Set
	mu     sync.Mutex
	logs   []*leakcheck.Buffer
}

// remember records values that must never appear in logs, events or status,
// in any form (see leakcheck.Set.Add).
func remember(values ...string) { leakWatch.values.AddValues(values...) }

// newLogBuffer returns a buffer for a controller's log, watched for leaks.
func newLogBuffer() *leakcheck.Buffer {
	b := &leakcheck.Buffer{}
	leakWatch.mu.Lock()
	leakWatch.logs = append(leakWatch.logs, b)
	leakWatch.mu.Unlock()
	return b
}

// findLeaks looks for every remembered value in every controller log and
// in what the cluster shows (clusterText).
func findLeaks(ctx context.Context) []string {
	leakWatch.mu.Lock()
	logs := slices.Clone(leakWatch.logs)
	leakWatch.mu.Unlock()
	return leaksIn(ctx, &leakWatch.values, logs)
}

// leaksIn looks for the values of set in the logs and in what the cluster
// shows. It returns one line per value and place, naming where, never the
// value.
func leaksIn(ctx context.Context, set *leakcheck.Set, logs []*leakcheck.Buffer) []string {
	haystacks, err := clusterText(ctx)
	if err != nil {
		return []string{"listing: " + err.Error()}
	}
	for i, l := range logs {
		haystacks[fmt.Sprintf("controller log #%d", i)] = l.String()
	}
	var out []string
	for _, l := range set.FindAll(haystacks) {
		out = append(out, l.String())
	}
	return out
}

// clusterText is what users see of latchkey's work besides the data: Events,
// AzureKeyVaultSecrets, the metadata of Secrets and ConfigMaps, and
// Deployments (rollouts annotate them).
func clusterText(ctx context.Context) (map[string]string, error) {
	events := &corev1.EventList{}
	akvsList := &v2beta1.AzureKeyVaultSecretList{}
	secrets := &corev1.SecretList{}
	configMaps := &corev1.ConfigMapList{}
	deployments := &appsv1.DeploymentList{}
	for _, list := range []client.ObjectList{events, akvsList, secrets, configMaps, deployments} {
		if err := suite.client.List(ctx, list); err != nil {
			return nil, err
		}
	}
	text := map[string]string{}
	for _, e := range events.Items {
		text["Event "+e.Namespace+"/"+e.Name] = e.Reason + " " + e.Message
	}
	for _, a := range akvsList.Items {
		b, _ := json.Marshal(a)
		text["AzureKeyVaultSecret "+a.Namespace+"/"+a.Name] = string(b)
	}
	for _, s := range secrets.Items {
		b, _ := json.Marshal(s.ObjectMeta)
		text["Secret metadata "+s.Namespace+"/"+s.Name] = string(b)
	}
	for _, c := range configMaps.Items {
		b, _ := json.Marshal(c.ObjectMeta)
		text["ConfigMap metadata "+c.Namespace+"/"+c.Name] = string(b)
	}
	// Rollouts annotate workloads (the placeholders they hold are names).
	for _, d := range deployments.Items {
		b, _ := json.Marshal(d)
		text["Deployment "+d.Namespace+"/"+d.Name] = string(b)
	}
	return text, nil
}
