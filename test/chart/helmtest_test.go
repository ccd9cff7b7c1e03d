package chart

import (
	"io"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/latchkey-dev/latchkey/internal/installcheck"
	"github.com/latchkey-dev/latchkey/internal/webhook"
)

// servedVersions are the versions the chart's CRD serves.
func servedVersions(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(chartDir + "/crds/spv.no_azurekeyvaultsecrets.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.Unmarshal(b, &crd); err != nil {
		t.Fatal(err)
	}
	var v []string
	for _, ver := range crd.Spec.Versions {
		if ver.Served {
			v = append(v, ver.Name)
		}
	}
	return v
}

// checkTestPod: the `helm test` pod is a test hook that runs the env image
// with arguments `latchkey-env check` accepts, asks every running
// component at its Service, with the CA that verifies it mounted (only the
// CA), every component's metrics as they are served (metrics.auth), and
// every version the CRD serves.
func checkTestPod(t *testing.T, o objects) {
	t.Helper()
	pod := o["Pod/latchkey-test"]
	if pod == nil {
		t.Fatal("no helm test pod rendered")
	}
	if a := pod.GetAnnotations(); a["helm.sh/hook"] != "test" {
		t.Errorf("test pod annotations %v: not a test hook", a)
	}
	spec, _, _ := unstructured.NestedMap(pod.Object, "spec")
	c := spec["containers"].([]any)[0].(map[string]any)
	args, _, _ := unstructured.NestedStringSlice(c, "args")
	if len(args) == 0 || args[0] != "check" {
		t.Fatalf("test pod args %q: want latchkey-env check", args)
	}
	opts, err := installcheck.Parse(args[1:], io.Discard)
	if err != nil {
		t.Fatalf("test pod args %q: %v", args, err)
	}
	if opts.Group != "spv.no" || opts.Resource != "azurekeyvaultsecrets" || !slices.Equal(opts.Versions, servedVersions(t)) {
		t.Errorf("the test asks for %s.%s %v, the CRD serves %v", opts.Resource, opts.Group, opts.Versions, servedVersions(t))
	}
	// Each component that runs is asked at its Service; the CA file is a
	// mounted volume holding the CA the component is verified with.
	mounts := map[string]string{}
	ms, _, _ := unstructured.NestedSlice(c, "volumeMounts")
	for _, m := range ms {
		mm := m.(map[string]any)
		mounts[mm["mountPath"].(string)] = mm["name"].(string)
	}
	vols := map[string]map[string]any{}
	vs, _, _ := unstructured.NestedSlice(spec, "volumes")
	for _, v := range vs {
		vols[v.(map[string]any)["name"].(string)] = v.(map[string]any)
	}
	caVolume := func(file string) map[string]any {
		for dir, name := range mounts {
			if strings.HasPrefix(file, dir+"/") {
				return vols[name]
			}
		}
		t.Errorf("CA file %s is in no mounted volume", file)
		return nil
	}
	webhookOn := o["Deployment/latchkey-webhook"] != nil
	if (opts.WebhookURL != "") != webhookOn {
		t.Errorf("webhook URL %q with the webhook running: %v", opts.WebhookURL, webhookOn)
	}
	if webhookOn {
		u, _ := url.Parse(opts.WebhookURL)
		if u.Host != "latchkey-webhook.latchkey-system.svc" || u.Path != webhook.Path {
			t.Errorf("webhook URL %s: want the Service and %s", opts.WebhookURL, webhook.Path)
		}
		v := caVolume(opts.WebhookCA)
		secret, _, _ := unstructured.NestedString(v, "secret", "secretName")
		items, _, _ := unstructured.NestedSlice(v, "secret", "items")
		if secret != mountedSecret(t, o, "webhook", "tls") || len(items) != 1 || items[0].(map[string]any)["key"] != "ca.crt" {
			t.Errorf("webhook CA volume %v: want only ca.crt of the webhook's Secret %s", v, mountedSecret(t, o, "webhook", "tls"))
		}
	}
	resolverOn := o["Deployment/latchkey-resolver"] != nil
	if (opts.ResolverURL != "") != resolverOn {
		t.Errorf("resolver URL %q with the resolver running: %v", opts.ResolverURL, resolverOn)
	}
	if resolverOn {
		if opts.ResolverURL != "https://latchkey-resolver.latchkey-system.svc" {
			t.Errorf("resolver URL %s", opts.ResolverURL)
		}
		// The CA bundle the resolver publishes, from where it reads it.
		want := volume(t, o, "resolver", "ca-bundle")
		got := caVolume(opts.ResolverCA)
		delete(got, "name")
		w := map[string]any{}
		for k, v := range want {
			if k != "name" {
				w[k] = v
			}
		}
		field(t, got, w)
	}
	// Each running component's metrics, at its Service: with metrics.auth
	// over HTTPS, refused without credentials and answered with the
	// ServiceAccount latchkey-test's token; else over plain HTTP.
	auth := o["ClusterRole/latchkey-metrics-reader"] != nil
	urls, scheme, sa := opts.HTTPURLs, "http", ""
	if auth {
		urls, scheme, sa = opts.MetricsURLs, "https", "latchkey-test"
		if len(opts.HTTPURLs) > 0 {
			t.Errorf("plain-HTTP URLs %v with metrics.auth", opts.HTTPURLs)
		}
	} else if len(opts.MetricsURLs) > 0 {
		t.Errorf("authenticated metrics URLs %v without metrics.auth", opts.MetricsURLs)
	}
	for _, component := range []string{"controller", "webhook", "resolver"} {
		on := o["Deployment/latchkey-"+component] != nil
		u := scheme + "://latchkey-" + component + "-metrics.latchkey-system.svc:" + metricsPort(t, o, component) + "/metrics"
		if on != slices.Contains(urls, u) {
			t.Errorf("metrics URLs %v with the %s running (%v): want %s", urls, component, on, u)
		}
	}
	if got, _, _ := unstructured.NestedString(spec, "serviceAccountName"); got != sa {
		t.Errorf("test pod ServiceAccount %q, want %q", got, sa)
	}
	if auth && o["ServiceAccount/latchkey-test"] == nil {
		t.Error("the test pod's ServiceAccount latchkey-test is not rendered")
	}
	if spec["automountServiceAccountToken"] != true || spec["enableServiceLinks"] != true {
		t.Error("the test pod needs its token (discovery) and the Services' variables")
	}
}

// metricsPort is the port of a component's metrics Service ("-" without one).
func metricsPort(t *testing.T, o objects, component string) string {
	t.Helper()
	s := o["Service/latchkey-"+component+"-metrics"]
	if s == nil {
		return "-"
	}
	ports, _, _ := unstructured.NestedSlice(s.Object, "spec", "ports")
	b, _ := yaml.Marshal(ports[0].(map[string]any)["port"])
	return strings.TrimSpace(string(b))
}

// TestHelmTestPod: the test pod in the main set-ups (TestMatrix checks it
// in every other).
func TestHelmTestPod(t *testing.T) {
	for _, args := range [][]string{nil, {"--set", "certManager.enabled=true"}, {"--set", "controller.metrics.port=9090"},
		{"--set", "metrics.auth=false"}, {"--set", "metrics.auth=false", "--set", "resolver.metrics.port=9091"}} {
		checkTestPod(t, renderArgs(t, args...))
	}
}
