package docs

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/latchkey-dev/latchkey/api/v2beta1"
	"github.com/latchkey-dev/latchkey/internal/podcontract"
	"github.com/latchkey-dev/latchkey/internal/release"
	"github.com/latchkey-dev/latchkey/internal/rollout"
	"github.com/latchkey-dev/latchkey/internal/tenancy"
)

// The guide's release and namespace: every name the pages give (objects,
// ServiceAccounts, federated credential subjects) is for these.
const (
	guide          = "docs/install-aks.md"
	guideRelease   = "latchkey"
	guideNamespace = "latchkey"
	chartDir       = root + "/charts/latchkey"
)

// rendered is what the chart renders for some values.
type rendered map[string]*unstructured.Unstructured // kind/name → object

// render runs helm template for the guide's release with a values file's
// content (may be empty) and extra arguments.
func render(t *testing.T, values string, extra ...string) (rendered, error) {
	t.Helper()
	key := values + "\x00" + strings.Join(extra, "\x00")
	renders.mu.Lock()
	e := renders.m[key]
	if e == nil {
		e = &renderEntry{}
		renders.m[key] = e
	}
	renders.mu.Unlock()
	e.once.Do(func() { e.out, e.err = renderOnce(t, values, extra...) })
	return e.out, e.err
}

// renders keeps each distinct render of a test run: the tests share them
// (read-only).
var renders = struct {
	mu sync.Mutex
	m  map[string]*renderEntry
}{m: map[string]*renderEntry{}}

type renderEntry struct {
	once sync.Once
	out  rendered
	err  error
}

func renderOnce(t *testing.T, values string, extra ...string) (rendered, error) {
	t.Helper()
	args := []string{"template", guideRelease, chartDir, "--namespace", guideNamespace}
	if values != "" {
		f := filepath.Join(t.TempDir(), "values.yaml")
		if err := os.WriteFile(f, []byte(values), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, "-f", f)
	}
	out, ok, err := run(tools["helm"].bin(t), append(args, extra...)...)
	if err != nil || !ok {
		return nil, fmt.Errorf("helm %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return decode(t, out), nil
}

func mustRender(t *testing.T, values string, extra ...string) rendered {
	t.Helper()
	r, err := render(t, values, extra...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func decode(t *testing.T, manifests string) rendered {
	t.Helper()
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(manifests), 4096)
	objs := rendered{}
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

// yamlDocs splits a YAML block into its documents.
func yamlDocs(text string) []string {
	var out []string
	for _, d := range regexp.MustCompile(`(?m)^---\s*$`).Split(text, -1) {
		if strings.TrimSpace(d) != "" {
			out = append(out, d)
		}
	}
	return out
}

// isManifest: a YAML document with apiVersion and kind.
func isManifest(doc string) bool {
	var m struct{ APIVersion, Kind string }
	return yaml.Unmarshal([]byte(doc), &m) == nil && m.APIVersion != "" && m.Kind != ""
}

// valuesSnippets are the YAML blocks of a page that are chart values.
func valuesSnippets(t *testing.T, page string) []block {
	t.Helper()
	var out []block
	for _, b := range readBlocks(t, page) {
		if b.lang == "yaml" && b.marker == "" && !isManifest(b.text) {
			out = append(out, b)
		}
	}
	return out
}

// TestYAMLBlocks: values render with the chart and its schema (which
// refuses unknown keys), manifests decode strictly into their types (and
// an AzureKeyVaultSecret passes latchkey's own checks), a tenancy policy
// parses as the controller parses it.
func TestYAMLBlocks(t *testing.T) {
	t.Parallel()
	n := 0
	for page, blocks := range allBlocks(t) {
		for _, b := range blocks {
			if b.lang != "yaml" {
				continue
			}
			n++
			switch {
			case b.marker == "tenancy-policy":
				if _, err := tenancy.Parse([]byte(b.text)); err != nil {
					t.Errorf("%s: %v", b, err)
				}
			case isManifest(b.text):
				for _, doc := range yamlDocs(b.text) {
					checkManifest(t, b, doc)
				}
			default:
				if _, err := render(t, b.text); err != nil {
					t.Errorf("%s: the values do not render: %v", b, err)
				}
			}
		}
		_ = page
	}
	if n == 0 {
		t.Fatal("no YAML block found")
	}
}

func checkManifest(t *testing.T, b block, doc string) {
	t.Helper()
	var tm struct{ APIVersion, Kind string }
	_ = yaml.Unmarshal([]byte(doc), &tm)
	switch tm.APIVersion + " " + tm.Kind {
	case "networking.k8s.io/v1 NetworkPolicy":
		var np networkingv1.NetworkPolicy
		if err := yaml.UnmarshalStrict([]byte(doc), &np); err != nil {
			t.Errorf("%s: %v", b, err)
		}
	case v2beta1.GroupVersion.String() + " AzureKeyVaultSecret":
		var a v2beta1.AzureKeyVaultSecret
		if err := yaml.UnmarshalStrict([]byte(doc), &a); err != nil {
			t.Errorf("%s: %v", b, err)
			return
		}
		if ps := v2beta1.Check(&a); len(ps) > 0 {
			t.Errorf("%s: %s", b, ps)
		}
	case "apps/v1 Deployment":
		// docs/rollouts.md: a workload opted in to rollouts.
		var d appsv1.Deployment
		if err := yaml.UnmarshalStrict([]byte(doc), &d); err != nil {
			t.Errorf("%s: %v", b, err)
		}
		if v, ok := d.Annotations[rollout.OptInAnnotation]; ok && v != "true" {
			t.Errorf("%s: %s: %q opts nothing in", b, rollout.OptInAnnotation, v)
		}
	default:
		t.Errorf("%s: no test checks a %s %s", b, tm.APIVersion, tm.Kind)
	}
}

// podsByComponent are the rendered Deployments' pod templates by component.
type pod struct {
	labels         map[string]string
	ports          map[string]int64 // container port name → number
	serviceAccount string
}

func pods(t *testing.T, r rendered) map[string]pod {
	t.Helper()
	out := map[string]pod{}
	for key, u := range r {
		if !strings.HasPrefix(key, "Deployment/") {
			continue
		}
		labels, _, _ := unstructured.NestedStringMap(u.Object, "spec", "template", "metadata", "labels")
		sa, _, _ := unstructured.NestedString(u.Object, "spec", "template", "spec", "serviceAccountName")
		p := pod{labels: labels, ports: map[string]int64{}, serviceAccount: sa}
		containers, _, _ := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "containers")
		for _, c := range containers {
			ports, _, _ := unstructured.NestedSlice(c.(map[string]any), "ports")
			for _, pt := range ports {
				m := pt.(map[string]any)
				p.ports[fmt.Sprint(m["name"])] = toInt(m["containerPort"])
			}
		}
		out[labels["app.kubernetes.io/component"]] = p
	}
	return out
}

// selects: every label the selector names, the pod has.
func selects(sel map[string]string, labels map[string]string) bool {
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return len(sel) > 0
}

// docPolicies are the NetworkPolicies of the guide.
func docPolicies(t *testing.T) []networkingv1.NetworkPolicy {
	t.Helper()
	var out []networkingv1.NetworkPolicy
	for _, b := range readBlocks(t, guide) {
		if b.lang != "yaml" || !isManifest(b.text) {
			continue
		}
		for _, doc := range yamlDocs(b.text) {
			var np networkingv1.NetworkPolicy
			if err := yaml.UnmarshalStrict([]byte(doc), &np); err == nil && np.Kind == "NetworkPolicy" {
				out = append(out, np)
			}
		}
	}
	return out
}

// TestNetworkPolicies: the guide's policies select latchkey's pods as the
// chart labels them and allow the ports those pods listen on (a policy
// matches the pod's port, not the Service's); the injection namespace
// label is the webhook's.
func TestNetworkPolicies(t *testing.T) {
	t.Parallel()
	r := mustRender(t, "")
	ps := pods(t, r)
	label := namespaceLabel(t, r)
	allowed := map[string]map[int64]bool{} // component → ports some policy allows
	allow := func(where string, comp string, ports []networkingv1.NetworkPolicyPort) {
		p := ps[comp]
		for _, port := range ports {
			if port.Port == nil {
				t.Errorf("%s: a rule without a port", where)
				continue
			}
			n := int64(port.Port.IntValue())
			if port.Port.StrVal != "" {
				n = p.ports[port.Port.StrVal]
			}
			if !slices.Contains(mapValues(p.ports), n) {
				t.Errorf("%s: port %s is none of the %s pods' container ports %v", where, port.Port.String(), comp, p.ports)
			}
			if allowed[comp] == nil {
				allowed[comp] = map[int64]bool{}
			}
			allowed[comp][n] = true
		}
	}
	component := func(where string, sel map[string]string) string {
		var found []string
		for c, p := range ps {
			if selects(sel, p.labels) {
				found = append(found, c)
			}
		}
		if len(found) != 1 {
			t.Errorf("%s: selector %v selects the pods of %v, want one component's", where, sel, found)
			return ""
		}
		return found[0]
	}
	policies := docPolicies(t)
	if len(policies) == 0 {
		t.Fatal("the guide has no NetworkPolicy")
	}
	for _, np := range policies {
		where := np.Namespace + "/" + np.Name
		if np.Namespace == guideNamespace {
			comp := component(where, np.Spec.PodSelector.MatchLabels)
			for _, in := range np.Spec.Ingress {
				for _, from := range in.From {
					if from.NamespaceSelector != nil && !maps(from.NamespaceSelector.MatchLabels, map[string]string{label: "enabled"}) {
						t.Errorf("%s: namespaceSelector %v, want the injection label %s=enabled", where, from.NamespaceSelector.MatchLabels, label)
					}
				}
				allow(where, comp, in.Ports)
			}
			continue
		}
		for _, out := range np.Spec.Egress {
			for _, to := range out.To {
				if to.NamespaceSelector == nil || to.PodSelector == nil {
					continue
				}
				if !maps(to.NamespaceSelector.MatchLabels, map[string]string{"kubernetes.io/metadata.name": guideNamespace}) {
					t.Errorf("%s: namespaceSelector %v, want latchkey's namespace", where, to.NamespaceSelector.MatchLabels)
				}
				allow(where, component(where, to.PodSelector.MatchLabels), out.Ports)
			}
		}
	}
	// The traffic injection needs: the API server to the webhook, injected
	// pods to the resolver.
	for comp, port := range map[string]string{"resolver": "https", "webhook": "webhook"} {
		if n := ps[comp].ports[port]; !allowed[comp][n] {
			t.Errorf("no policy of the guide allows the %s pods' port %s (%d)", comp, port, n)
		}
	}
}

// toInt is a decoded number (JSON decoding gives float64, YAML int64).
func toInt(v any) int64 {
	switch n := v.(type) {
	case int64:
		return n
	case float64:
		return int64(n)
	case int:
		return int64(n)
	}
	return -1
}

func mapValues(m map[string]int64) []int64 {
	var out []int64
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

func maps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// namespaceLabel is the label the rendered webhook configuration selects
// namespaces by (In [enabled]).
func namespaceLabel(t *testing.T, r rendered) string {
	t.Helper()
	u := r["MutatingWebhookConfiguration/"+guideRelease+"-webhook"]
	if u == nil {
		t.Fatal("no MutatingWebhookConfiguration rendered")
	}
	hooks, _, _ := unstructured.NestedSlice(u.Object, "webhooks")
	exprs, _, _ := unstructured.NestedSlice(hooks[0].(map[string]any), "namespaceSelector", "matchExpressions")
	for _, e := range exprs {
		m := e.(map[string]any)
		if m["operator"] == "In" && fmt.Sprint(m["values"]) == "[enabled]" {
			return m["key"].(string)
		}
	}
	t.Fatal("no In [enabled] expression in the webhook's namespaceSelector")
	return ""
}

// proseValue is "**8443** (`resolver.port`)": a number the prose gives for
// a chart value.
var proseValue = regexp.MustCompile("\\*\\*(\\d+)\\*\\* \\(`([\\w.]+)`\\)")

// TestPortsInProse: each port the pages give for a chart value is that
// value's default.
func TestPortsInProse(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var values map[string]any
	if err := yaml.Unmarshal(b, &values); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, page := range pages {
		for _, m := range proseValue.FindAllStringSubmatch(readPage(t, page), -1) {
			n++
			var v any = values
			for _, k := range strings.Split(m[2], ".") {
				v, _ = v.(map[string]any)[k]
			}
			if fmt.Sprint(v) != m[1] {
				t.Errorf("%s: %s is %v in values.yaml, the page says %s", page, m[2], v, m[1])
			}
		}
	}
	if n == 0 {
		t.Fatal("no port found in the prose")
	}
}

// subjectPattern is a federated credential's subject for a ServiceAccount.
var subjectPattern = regexp.MustCompile(`^system:serviceaccount:([^:]+):(.+)$`)

// TestWorkloadIdentity: each federated credential of the guide names a
// ServiceAccount the chart renders, in the guide's namespace; each values
// snippet that gives ServiceAccounts a workload identity client ID labels
// exactly those ServiceAccounts' pods for AKS's webhook, and every such
// ServiceAccount has a federated credential on the page.
func TestWorkloadIdentity(t *testing.T) {
	t.Parallel()
	s := parseScript(t, guide, readBlocks(t, guide))
	subjects := map[string]bool{} // ServiceAccount names
	for _, c := range s.commands {
		if strings.Join(c.args[:min(4, len(c.args))], " ") != "az identity federated-credential create" {
			continue
		}
		p := parsedFlags(c.args[4:])
		sub, ok := p["--subject"]
		if !ok || p["--audiences"] != "api://AzureADTokenExchange" {
			t.Errorf("%s: want --subject and --audiences api://AzureADTokenExchange", c)
		}
		for _, e := range s.expand(sub) {
			m := subjectPattern.FindStringSubmatch(e)
			if m == nil || m[1] != guideNamespace {
				t.Errorf("%s: subject %s is no ServiceAccount of namespace %s", c, e, guideNamespace)
				continue
			}
			subjects[m[2]] = true
		}
	}
	if len(subjects) == 0 {
		t.Fatal("the guide creates no federated credential")
	}
	annotated := map[string]bool{}
	for _, b := range valuesSnippets(t, guide) {
		if !strings.Contains(b.text, "azure.workload.identity/client-id") {
			continue
		}
		r := mustRender(t, b.text)
		sas := map[string]bool{}
		for key, u := range r {
			if strings.HasPrefix(key, "ServiceAccount/") && u.GetAnnotations()["azure.workload.identity/client-id"] != "" {
				sas[u.GetName()] = true
				annotated[u.GetName()] = true
				if !subjects[u.GetName()] {
					t.Errorf("%s: ServiceAccount %s gets a client ID but no federated credential on the page", b, u.GetName())
				}
			}
		}
		for comp, p := range pods(t, r) {
			if labelled := p.labels["azure.workload.identity/use"] == "true"; labelled != sas[p.serviceAccount] {
				t.Errorf("%s: the %s pods (ServiceAccount %s): workload identity label %v, client ID annotation %v", b, comp, p.serviceAccount, labelled, sas[p.serviceAccount])
			}
		}
	}
	for sa := range subjects {
		if !annotated[sa] {
			t.Errorf("a federated credential names %s, which no values snippet gives a client ID", sa)
		}
	}
}

// parsedFlags maps each --flag of args to the word after it.
func parsedFlags(args []string) map[string]string {
	out := map[string]string{}
	for i := 0; i < len(args); i++ {
		if strings.HasPrefix(args[i], "-") && i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
			out[args[i]] = args[i+1]
			i++
		}
	}
	return out
}

// renderedImages are the images a render runs, the env image included.
func renderedImages(r rendered) []string {
	set := map[string]bool{}
	for key, u := range r {
		if !strings.HasPrefix(key, "Deployment/") {
			continue
		}
		containers, _, _ := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "containers")
		for _, c := range containers {
			m := c.(map[string]any)
			set[m["image"].(string)] = true
			args, _, _ := unstructured.NestedStringSlice(m, "args")
			for _, a := range args {
				if v, ok := strings.CutPrefix(a, "--env-image="); ok {
					set[v] = true
				}
			}
		}
	}
	return sortedKeys(set)
}

func sortedKeys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestImages: the images the guide copies from are the chart's defaults,
// the ones it pushes to are what the chart runs with the guide's
// image.registry, the archives it pushes are the files `make images`
// writes for the version it builds, and every latchkey image tag the pages
// name is this release's.
func TestImages(t *testing.T) {
	t.Parallel()
	s := parseScript(t, guide, readBlocks(t, guide))
	sources, dests := map[string]bool{}, map[string]bool{}
	version := ""
	for _, c := range s.commands {
		switch {
		case len(c.args) > 2 && c.args[0] == "make" && c.args[1] == "images":
			for _, a := range c.args[2:] {
				if v, ok := strings.CutPrefix(a, "VERSION="); ok {
					version = v
				}
			}
		case len(c.args) > 3 && strings.Join(c.args[:3], " ") == "az acr import":
			p := parsedFlags(c.args[3:])
			for _, e := range s.expand(p["--source"]) {
				sources[e] = true
			}
			for _, e := range s.expand(p["--image"]) {
				dests[p["-n"]+".azurecr.io/"+e] = true
			}
		case len(c.args) > 2 && c.args[0] == "skopeo" && c.args[1] == "copy":
			pos := []string{}
			for _, a := range c.args[2:] {
				if !strings.HasPrefix(a, "-") {
					pos = append(pos, a)
				}
			}
			for _, e := range s.expand(pos[0]) {
				file := strings.TrimPrefix(e, "oci-archive:")
				name := strings.TrimSuffix(filepath.Base(file), "-"+version+".oci.tar")
				if want := filepath.Join(".cache/images", name+"-"+version+".oci.tar"); version == "" || file != want || !slices.Contains(imageNames, name) {
					t.Errorf("%s: copies %s, which `make images VERSION=%s` does not write", c, file, version)
				}
			}
			for _, e := range s.expand(pos[1]) {
				dests[strings.TrimPrefix(e, "docker://")] = true
			}
		}
	}
	if version != release.Version {
		t.Errorf("the guide builds version %q, the release is %s", version, release.Version)
	}
	if got, want := sortedKeys(sources), renderedImages(mustRender(t, "")); !slices.Equal(got, want) {
		t.Errorf("the guide imports %v, the chart runs %v by default", got, want)
	}
	registry := ""
	for _, b := range valuesSnippets(t, guide) {
		var v struct {
			Image struct{ Registry string } `json:"image"`
		}
		if yaml.Unmarshal([]byte(b.text), &v) == nil && v.Image.Registry != "" {
			registry = b.text
		}
	}
	if registry == "" {
		t.Fatal("the guide sets no image.registry")
	}
	if got, want := sortedKeys(dests), renderedImages(mustRender(t, registry)); !slices.Equal(got, want) {
		t.Errorf("the guide pushes %v, the chart runs %v with its image.registry", got, want)
	}
	// Every latchkey image tag a page names.
	tag := regexp.MustCompile(`(?:latchkey-[a-z]+|<name>|\$c)[:-](v\d+\.\d+\.\d+)|VERSION=(v\d+\.\d+\.\d+)`)
	for _, page := range pages {
		for _, m := range tag.FindAllStringSubmatch(readPage(t, page), -1) {
			if v := m[1] + m[2]; v != release.Version {
				t.Errorf("%s: %s names version %s, the release is %s", page, m[0], v, release.Version)
			}
		}
	}
	if !strings.Contains(readPage(t, guide), "`"+release.Registry+"/<name>:"+release.Version+"`") {
		t.Errorf("the guide does not say the default images are %s/<name>:%s", release.Registry, release.Version)
	}
}

// imageNames are latchkey's images (hack/images).
var imageNames = []string{"latchkey-controller", "latchkey-webhook", "latchkey-resolver", "latchkey-env"}

// TestSecretsTheGuideCreates: each Secret a values snippet of the guide
// reads (envFromSecret, a secret volume) is one the guide creates in
// latchkey's namespace, and each Secret it creates is read.
func TestSecretsTheGuideCreates(t *testing.T) {
	t.Parallel()
	s := parseScript(t, guide, readBlocks(t, guide))
	created := map[string]bool{}
	for _, c := range s.commands {
		if len(c.args) > 5 && strings.Join(c.args[:3], " ") == "kubectl -n "+guideNamespace && strings.Join(c.args[3:5], " ") == "create secret" {
			created[c.args[6]] = true
		}
	}
	read := map[string]bool{}
	for _, b := range valuesSnippets(t, guide) {
		r := mustRender(t, b.text)
		for key, u := range r {
			if !strings.HasPrefix(key, "Deployment/") {
				continue
			}
			spec, _, _ := unstructured.NestedMap(u.Object, "spec", "template", "spec")
			for _, name := range secretsOf(spec) {
				if strings.HasPrefix(name, guideRelease+"-") && !strings.HasPrefix(name, guideRelease+"-azure") {
					continue // the chart's own
				}
				read[name] = true
				if !created[name] {
					t.Errorf("%s: the %s pods read Secret %s, which the guide does not create", b, u.GetName(), name)
				}
			}
		}
	}
	for name := range created {
		if !read[name] {
			t.Errorf("the guide creates Secret %s, which no values snippet reads", name)
		}
	}
	if len(created) == 0 {
		t.Error("the guide creates no Secret")
	}
}

// secretsOf are the Secrets a pod spec reads through envFrom and volumes.
func secretsOf(spec map[string]any) []string {
	var out []string
	vols, _, _ := unstructured.NestedSlice(spec, "volumes")
	for _, v := range vols {
		if n, ok, _ := unstructured.NestedString(v.(map[string]any), "secret", "secretName"); ok {
			out = append(out, n)
		}
	}
	containers, _, _ := unstructured.NestedSlice(spec, "containers")
	for _, c := range containers {
		from, _, _ := unstructured.NestedSlice(c.(map[string]any), "envFrom")
		for _, f := range from {
			if n, ok, _ := unstructured.NestedString(f.(map[string]any), "secretRef", "name"); ok {
				out = append(out, n)
			}
		}
	}
	return out
}

// TestNamesInProse: every `latchkey-…` name the pages give is an image, a
// container, an object the chart renders (in the default set-up or with
// cert-manager: the Secrets cert-manager writes for its Certificates), or
// one the webhook or resolver makes (named by their arguments).
func TestNamesInProse(t *testing.T) {
	t.Parallel()
	known := map[string]bool{"latchkey-<component>": true}
	for _, n := range imageNames {
		known[n] = true
	}
	for _, r := range []rendered{mustRender(t, ""), mustRender(t, "", "--set", "certManager.enabled=true")} {
		for key, u := range r {
			known[u.GetName()] = true
			if n, ok, _ := unstructured.NestedString(u.Object, "spec", "secretName"); ok && u.GetKind() == "Certificate" {
				known[n] = true // cert-manager writes it
			}
			if strings.HasPrefix(key, "Deployment/") {
				containers, _, _ := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "containers")
				for _, c := range containers {
					args, _, _ := unstructured.NestedStringSlice(c.(map[string]any), "args")
					for _, a := range args {
						if _, v, ok := strings.Cut(a, "="); ok {
							known[v] = true
						}
					}
				}
			}
		}
	}
	known[podcontract.InstallContainer] = true // the webhook's install init container
	name := regexp.MustCompile("`(latchkey-[a-zA-Z0-9<>-]+)`")
	for _, page := range pages {
		for _, m := range name.FindAllStringSubmatch(readPage(t, page), -1) {
			if !known[m[1]] {
				t.Errorf("%s: `%s` names nothing latchkey installs or makes", page, m[1])
			}
		}
	}
}
