// Package chart checks the Helm chart: it lints, it renders for each
// documented combination of values, and what it renders agrees with the Go
// definitions the tests exercise (the webhook configuration).
package chart

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"reflect"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/latchkey-dev/latchkey/internal/webhook"
)

const chartDir = "../../charts/latchkey"

// helmRun runs the helm built from source and returns its combined output.
func helmRun(t *testing.T, args ...string) ([]byte, error) {
	t.Helper()
	bin := os.Getenv("LATCHKEY_HELM")
	if bin == "" {
		t.Fatal("LATCHKEY_HELM is not set; run `make test`, which builds helm from source and sets it")
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+t.TempDir(), "HELM_CONFIG_HOME="+t.TempDir(), "HELM_DATA_HOME="+t.TempDir())
	return cmd.CombinedOutput()
}

func helm(t *testing.T, args ...string) []byte {
	t.Helper()
	out, err := helmRun(t, args...)
	if err != nil {
		t.Fatalf("helm %v: %v\n%s", args, err, out)
	}
	return out
}

// render returns the objects of `helm template` by kind/name, with --set
// for each of sets.
func render(t *testing.T, sets ...string) map[string]*unstructured.Unstructured {
	t.Helper()
	var args []string
	for _, s := range sets {
		args = append(args, "--set", s)
	}
	return renderArgs(t, args...)
}

// renderArgs returns the objects of `helm template` with extra arguments.
func renderArgs(t *testing.T, extra ...string) map[string]*unstructured.Unstructured {
	t.Helper()
	args := append([]string{"template", "latchkey", chartDir, "--namespace", "latchkey-system"}, extra...)
	return decodeObjects(t, helm(t, args...))
}

// decodeObjects decodes rendered manifests by kind/name.
func decodeObjects(t *testing.T, manifests []byte) map[string]*unstructured.Unstructured {
	t.Helper()
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(manifests), 4096)
	objs := map[string]*unstructured.Unstructured{}
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); errors.Is(err, io.EOF) {
			return objs
		} else if err != nil {
			t.Fatal(err)
		}
		if len(u.Object) > 0 {
			objs[u.GetKind()+"/"+u.GetName()] = u
		}
	}
}

func TestLint(t *testing.T) { helm(t, "lint", "--strict", chartDir) }

// TestWebhookConfigurationMatchesGo: the chart's MutatingWebhookConfiguration
// must be what the envtest suite registers (internal/webhook.Configuration),
// apart from where it points and its CA.
func TestWebhookConfigurationMatchesGo(t *testing.T) {
	u := render(t)["MutatingWebhookConfiguration/latchkey-webhook"]
	if u == nil {
		t.Fatal("no MutatingWebhookConfiguration rendered")
	}
	var got admissionregistrationv1.MutatingWebhookConfiguration
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &got); err != nil {
		t.Fatal(err)
	}
	want := webhook.Configuration(webhook.ConfigOptions{
		Name: "latchkey-webhook", ServiceNamespace: "latchkey-system", ServiceName: "latchkey-webhook",
		ExcludeNamespaces: []string{"kube-system", "latchkey-system"}, TimeoutSeconds: 10,
	})
	g, w := got.Webhooks[0], want.Webhooks[0]
	if len(g.ClientConfig.CABundle) == 0 {
		t.Error("the chart renders no caBundle")
	}
	g.ClientConfig.CABundle = nil
	g.MatchConditions[0].Expression = normalize(g.MatchConditions[0].Expression)
	w.MatchConditions[0].Expression = normalize(w.MatchConditions[0].Expression)
	if !reflect.DeepEqual(g, w) {
		t.Errorf("chart webhook differs from webhook.Configuration:\nchart: %+v\ngo:    %+v", g, w)
	}
}

// normalize folds white space: YAML folding changes line breaks.
func normalize(s string) string {
	return string(bytes.Join(bytes.Fields([]byte(s)), []byte(" ")))
}
