package webhook

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/latchkey-dev/latchkey/internal/injectmark"
	"github.com/latchkey-dev/latchkey/internal/podcontract"
)

// pod builds a test pod.
func pod(containers ...corev1.Container) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"}, Spec: corev1.PodSpec{Containers: containers}}
}

func env(kv ...string) []corev1.EnvVar {
	var out []corev1.EnvVar
	for i := 0; i < len(kv); i += 2 {
		out = append(out, corev1.EnvVar{Name: kv[i], Value: kv[i+1]})
	}
	return out
}

var (
	testRefs = map[string]Ref{
		"db":   {Vault: "kv", Name: "db-password", Type: "secret"},
		"cert": {Vault: "kv", Name: "tls", Type: "certificate"},
	}
	testOpts = Options{Image: "latchkey-env:test", ImagePullPolicy: corev1.PullIfNotPresent}
)

func TestAnalyze(t *testing.T) {
	cms := ConfigMaps{
		"settings": {"DB_PASSWORD": "db@azurekeyvault", "PLAIN": "x", "CERT": "cert@azurekeyvault?tls.crt"},
		"single":   {"key": "db@azurekeyvault"},
	}
	p := pod(
		corev1.Container{Name: "untouched", Env: env("A", "b")},
		corev1.Container{Name: "explicit", Env: env("PASS", "db@azurekeyvault", "MAIL", "me@azurekeyvault.example.com")},
		corev1.Container{Name: "envfrom", EnvFrom: []corev1.EnvFromSource{{Prefix: "APP_", ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "settings"}}}},
			Env: env("APP_CERT", "overridden")},
		corev1.Container{Name: "keyref", Env: []corev1.EnvVar{{Name: "PW", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: "single"}, Key: "key"}}}}},
	)
	p.Spec.InitContainers = []corev1.Container{{Name: "init", Env: env("CRT", "cert@azurekeyvault?tls.crt")}}
	plans := analyze(p, cms)
	got := map[string]string{}
	for _, pl := range plans {
		got[container(p, pl).Name] = describe(pl)
	}
	want := map[string]string{
		"init":     "CRT=cert",
		"explicit": "PASS=db",
		// APP_CERT is set explicitly: the ConfigMap's value loses, as in Kubernetes.
		"envfrom": "APP_DB_PASSWORD=db",
		"keyref":  "PW=db",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("plans = %v, want %v", got, want)
	}
	for _, pl := range plans {
		switch container(p, pl).Name {
		case "envfrom":
			if last := pl.env[len(pl.env)-1]; last != (corev1.EnvVar{Name: "APP_DB_PASSWORD", Value: "db@azurekeyvault"}) {
				t.Errorf("envFrom placeholder not copied into env: %+v", pl.env)
			}
		case "keyref":
			if pl.env[0] != (corev1.EnvVar{Name: "PW", Value: "db@azurekeyvault"}) {
				t.Errorf("configMapKeyRef placeholder not pinned: %+v", pl.env[0])
			}
		}
	}
}

func TestArgv(t *testing.T) {
	img := &ImageConfig{Entrypoint: []string{"/entry"}, Cmd: []string{"default-arg"}}
	tests := []struct {
		name    string
		c       corev1.Container
		img     *ImageConfig
		want    []string
		wantErr error
	}{
		{"command and args from the pod", corev1.Container{Command: []string{"/app"}, Args: []string{"-v"}}, nil, []string{"/app", "-v"}, nil},
		{"command only overrides entrypoint and cmd", corev1.Container{Command: []string{"/app"}}, img, []string{"/app"}, nil},
		{"args only replace cmd", corev1.Container{Args: []string{"serve"}}, img, []string{"/entry", "serve"}, nil},
		{"neither: entrypoint and cmd", corev1.Container{}, img, []string{"/entry", "default-arg"}, nil},
		{"cmd only image", corev1.Container{}, &ImageConfig{Cmd: []string{"/bin/app"}}, []string{"/bin/app"}, nil},
		{"no command anywhere", corev1.Container{}, &ImageConfig{}, nil, errNoCommand},
		{"no image config", corev1.Container{}, nil, nil, errNoCommand},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := argv(&tc.c, tc.img)
			if !errors.Is(err, tc.wantErr) || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("argv = %q, %v; want %q, %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestMutate(t *testing.T) {
	p := pod(
		corev1.Container{Name: "app", Image: "app:1", Env: env("PASS", "db@azurekeyvault", "KEY", "cert@azurekeyvault?tls.key", "CRT", "cert@azurekeyvault?tls.crt")},
		corev1.Container{Name: "sidecar", Image: "side:1", Command: []string{"/side"}},
	)
	p.Spec.InitContainers = []corev1.Container{{Name: "migrate", Image: "m:1", Command: []string{"/migrate"}, Env: env("PASS", "db@azurekeyvault")}}
	plans := analyze(p, nil)
	images := map[string]*ImageConfig{"app": {Entrypoint: []string{"/app"}, Cmd: []string{"serve"}}}
	if err := mutate(p, plans, testRefs, images, testOpts); err != nil {
		t.Fatal(err)
	}

	if !markPod(p, "ns", nil) || p.Annotations[podcontract.InjectedAnnotation] != "true" {
		t.Error("pod not marked injected")
	}
	if n := len(p.Spec.InitContainers); n != 2 || p.Spec.InitContainers[0].Name != podcontract.InstallContainer {
		t.Fatalf("init containers = %v; want the install container first", p.Spec.InitContainers)
	}
	app := p.Spec.Containers[0]
	if !reflect.DeepEqual(app.Command, []string{podcontract.BinaryPath, "run", "--"}) || !reflect.DeepEqual(app.Args, []string{"/app", "serve"}) {
		t.Errorf("app command %q args %q", app.Command, app.Args)
	}
	var refs map[string]Ref
	if err := json.Unmarshal([]byte(app.Env[len(app.Env)-1].Value), &refs); err != nil || app.Env[len(app.Env)-1].Name != podcontract.EnvRefs {
		t.Fatalf("last env %+v: %v", app.Env[len(app.Env)-1], err)
	}
	if !reflect.DeepEqual(refs, map[string]Ref{"db": testRefs["db"], "cert": testRefs["cert"]}) {
		t.Errorf("refs = %+v", refs)
	}
	if sc := p.Spec.Containers[1]; len(sc.Env) != 0 || len(sc.VolumeMounts) != 0 || sc.Command[0] != "/side" {
		t.Errorf("container without placeholders was changed: %+v", sc)
	}
	migrate := p.Spec.InitContainers[1]
	if !reflect.DeepEqual(migrate.Args, []string{"/migrate"}) || migrate.VolumeMounts[0].MountPath != podcontract.BinDir || !migrate.VolumeMounts[0].ReadOnly {
		t.Errorf("init container not rewritten: %+v", migrate)
	}
	install := p.Spec.InitContainers[0]
	sc := install.SecurityContext
	if !*sc.RunAsNonRoot || *sc.AllowPrivilegeEscalation || !*sc.ReadOnlyRootFilesystem || sc.Capabilities.Drop[0] != "ALL" || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("install container is not restricted: %+v", sc)
	}
	vol := p.Spec.Volumes[0]
	if vol.Name != podcontract.BinVolume || vol.EmptyDir == nil || vol.EmptyDir.Medium != corev1.StorageMediumMemory {
		t.Errorf("volume = %+v", vol)
	}

	// The rewritten containers are recognised by their command: analysing
	// the pod again plans nothing and the mark stays. (The whole webhook run
	// twice: TestReinvocationChangesNothing.)
	if plans := analyze(p, nil); len(plans) != 0 {
		t.Fatalf("a second analysis plans %d containers", len(plans))
	}
	if markPod(p, "ns", nil) {
		t.Error("a second pass changed the mark")
	}
}

// TestForgedMarkIsIgnored: a pod created with the injected annotation, of
// any value, is rewritten like any other and gets the webhook's own mark;
// the mark it arrived with never verifies.
func TestForgedMarkIsIgnored(t *testing.T) {
	marks, err := injectmark.New([]byte(strings.Repeat("k", injectmark.MinKeyBytes)))
	if err != nil {
		t.Fatal(err)
	}
	o := testOpts
	o.Resolver = &ResolverOptions{URL: "https://resolver.latchkey-system.svc", Audience: "latchkey-resolver-x", CAConfigMap: "latchkey-resolver-ca"}
	o.Marks = marks
	for _, forged := range []string{"true", "v1.AAAA", ""} {
		p := pod(corev1.Container{Name: "app", Command: []string{"/app"}, Env: env("PASS", "db@azurekeyvault")})
		p.Annotations = map[string]string{podcontract.InjectedAnnotation: forged}
		if marks.Verify(p) {
			t.Fatalf("the forged mark %q verifies", forged)
		}
		if why := skip(p); why != "" {
			t.Fatalf("mark %q: pod skipped: %s", forged, why)
		}
		plans := analyze(p, nil)
		if len(plans) != 1 {
			t.Fatalf("mark %q: %d plans, want 1", forged, len(plans))
		}
		if err := mutate(p, plans, testRefs, nil, o); err != nil {
			t.Fatal(err)
		}
		markPod(p, "ns", marks)
		if !reflect.DeepEqual(p.Spec.Containers[0].Command, []string{podcontract.BinaryPath, "run", "--"}) || !marks.Verify(p) {
			t.Errorf("mark %q: not rewritten and marked: %+v %v", forged, p.Spec.Containers[0].Command, p.Annotations)
		}
	}
}

// TestReinvocation: another webhook adds a variable to the rewritten
// container and a container with a placeholder after ours; the
// reinvocation rewrites the new one only, adds no second install container
// or volume, and signs the pod as it is now.
func TestReinvocation(t *testing.T) {
	marks, err := injectmark.New([]byte(strings.Repeat("k", injectmark.MinKeyBytes)))
	if err != nil {
		t.Fatal(err)
	}
	o := testOpts
	o.Resolver = &ResolverOptions{URL: "https://resolver.latchkey-system.svc", Audience: "latchkey-resolver-x", CAConfigMap: "latchkey-resolver-ca"}
	o.Marks = marks
	p := pod(corev1.Container{Name: "app", Command: []string{"/app"}, Env: env("PASS", "db@azurekeyvault")})
	if err := mutate(p, analyze(p, nil), testRefs, nil, o); err != nil {
		t.Fatal(err)
	}
	markPod(p, "ns", marks)
	first := p.Annotations[podcontract.InjectedAnnotation]
	p.Spec.Containers[0].Env = append(p.Spec.Containers[0].Env, corev1.EnvVar{Name: "TRACE_AGENT", Value: "10.0.0.1"})
	p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "added", Command: []string{"/added"}, Env: env("CRT", "cert@azurekeyvault?tls.crt")})
	if marks.Verify(p) {
		t.Fatal("the mark still verifies after another webhook's change")
	}
	plans := analyze(p, nil)
	if len(plans) != 1 || container(p, plans[0]).Name != "added" {
		t.Fatalf("plans %+v, want the added container only", plans)
	}
	if err := mutate(p, plans, testRefs, nil, o); err != nil {
		t.Fatal(err)
	}
	if !markPod(p, "ns", marks) || p.Annotations[podcontract.InjectedAnnotation] == first || !marks.Verify(p) {
		t.Error("the mark was not renewed")
	}
	if n := len(p.Spec.InitContainers); n != 1 {
		t.Errorf("%d init containers, want the one install container", n)
	}
	if n := len(p.Spec.Volumes); n != 2 {
		t.Errorf("%d volumes, want the binary's and the resolver's", n)
	}
	if args := p.Spec.Containers[0].Args; !reflect.DeepEqual(args, []string{"/app"}) {
		t.Errorf("the first container was wrapped again: %q", args)
	}
}

// TestConfigMapRefs: the ConfigMaps read before the analysis are those
// the containers it considers reference (env valueFrom and envFrom), each
// once, in order, with the first container naming it; a rewritten
// container's are not read. A ConfigMap that does not exist (no entry)
// holds no placeholder. (That a read that fails refuses the pod, naming
// the container, is TestConfigMapUnreadable's.)
func TestConfigMapRefs(t *testing.T) {
	from := func(name string) []corev1.EnvFromSource {
		return []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: name}}}}
	}
	keyRef := func(name string) []corev1.EnvVar {
		return []corev1.EnvVar{{Name: "K", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: name}, Key: "k"}}}}
	}
	p := pod(
		corev1.Container{Name: "app", Command: []string{"/app"}, Env: keyRef("b"), EnvFrom: from("settings")},
		corev1.Container{Name: "other", Command: []string{"/app"}, EnvFrom: append(from("settings"), from("c")...)},
	)
	p.Spec.InitContainers = []corev1.Container{{Name: "init", Command: []string{"/init"}, EnvFrom: append(from("a"), corev1.EnvFromSource{
		SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "not-a-configmap"}}})}}
	want := []configMapRef{{"init", "a"}, {"app", "b"}, {"app", "settings"}, {"other", "c"}}
	if got := configMapRefs(p); !reflect.DeepEqual(got, want) {
		t.Errorf("configMapRefs = %v, want %v", got, want)
	}
	if plans := analyze(p, nil); len(plans) != 0 {
		t.Errorf("missing ConfigMaps planned %d containers", len(plans))
	}
	cms := ConfigMaps{"c": {"X": "db@azurekeyvault"}}
	plans := analyze(p, cms)
	if len(plans) != 1 || container(p, plans[0]).Name != "other" {
		t.Fatalf("plans %+v, want container other's", plans)
	}
	// Once rewritten, a container's ConfigMaps are not read again.
	if err := mutate(p, plans, testRefs, nil, testOpts); err != nil {
		t.Fatal(err)
	}
	want = []configMapRef{{"init", "a"}, {"app", "b"}, {"app", "settings"}}
	if got := configMapRefs(p); !reflect.DeepEqual(got, want) {
		t.Errorf("after the rewrite, configMapRefs = %v, want %v", got, want)
	}
}

func TestMutateErrors(t *testing.T) {
	p := pod(corev1.Container{Name: "app", Env: env("X", "missing@azurekeyvault")}, corev1.Container{Name: "noimage", Env: env("Y", "db@azurekeyvault")})
	plans := analyze(p, nil)
	err := mutate(p.DeepCopy(), plans[:1], testRefs, map[string]*ImageConfig{"app": {Entrypoint: []string{"/a"}}}, testOpts)
	if err == nil || !strings.HasPrefix(err.Error(), "container app: AzureKeyVaultSecret ns/missing, named by an @azurekeyvault placeholder, does not exist; latchkey runs without a resolver") {
		t.Errorf("missing AzureKeyVaultSecret, no resolver: %v", err)
	}
	if err := mutate(p.DeepCopy(), plans[1:], testRefs, nil, testOpts); !errors.Is(err, errNoCommand) {
		t.Errorf("no command: %v", err)
	}
}

// TestMutateBeforeTheAzureKeyVaultSecret: a container served by the
// resolver is rewritten although its AzureKeyVaultSecret does not exist
// yet (it waits for it at start); LATCHKEY_REFS holds those that exist. A
// container in direct mode is refused, saying why and what to do.
func TestMutateBeforeTheAzureKeyVaultSecret(t *testing.T) {
	o := testOpts
	o.Resolver = &ResolverOptions{URL: "https://resolver.latchkey-system.svc", Audience: "latchkey-resolver-x", CAConfigMap: "latchkey-resolver-ca"}
	p := pod(corev1.Container{Name: "app", Command: []string{"/app"}, Env: env("LATE", "late@azurekeyvault", "PASS", "db@azurekeyvault")})
	if err := mutate(p, analyze(p, nil), testRefs, nil, o); err != nil {
		t.Fatal(err)
	}
	app := p.Spec.Containers[0]
	if !reflect.DeepEqual(app.Command, []string{podcontract.BinaryPath, "run", "--"}) || !containsEnvName(app.Env, podcontract.EnvResolverURL) {
		t.Fatalf("not rewritten for the resolver: %+v", app)
	}
	var refs map[string]Ref
	for _, e := range app.Env {
		if e.Name == podcontract.EnvRefs {
			if err := json.Unmarshal([]byte(e.Value), &refs); err != nil {
				t.Fatal(err)
			}
		}
	}
	if !reflect.DeepEqual(refs, map[string]Ref{"db": testRefs["db"]}) {
		t.Errorf("refs = %+v, want the existing one only", refs)
	}

	direct := pod(corev1.Container{Name: "app", Command: []string{"/app"}, Env: env("LATE", "late@azurekeyvault", podcontract.EnvDisableAuthService, "true")})
	err := mutate(direct, analyze(direct, nil), testRefs, nil, o)
	for _, want := range []string{"container app: AzureKeyVaultSecret ns/late", "does not exist", podcontract.EnvDisableAuthService + "=true", "create it before the pod"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("direct mode: %v; want it to say %q", err, want)
		}
	}
}

func TestSkipAkv2k8sPods(t *testing.T) {
	p := pod(corev1.Container{Name: "app", Env: env("X", "db@azurekeyvault")})
	p.Spec.InitContainers = []corev1.Container{{Name: akv2k8sInitContainer}}
	if skip(p) == "" {
		t.Error("a pod wrapped by akv2k8s must be skipped")
	}
}

func TestMutateResolverMode(t *testing.T) {
	p := pod(
		corev1.Container{Name: "app", Command: []string{"/app"}, Env: env("PASS", "db@azurekeyvault")},
		corev1.Container{Name: "direct", Command: []string{"/d"}, Env: env("PASS", "db@azurekeyvault", podcontract.EnvDisableAuthService, "true")},
		corev1.Container{Name: "plain", Command: []string{"/p"}},
	)
	o := testOpts
	o.Resolver = &ResolverOptions{URL: "https://resolver.latchkey-system.svc", Audience: "latchkey-resolver-x", CAConfigMap: "latchkey-resolver-ca"}
	plans := analyze(p, nil)
	if err := mutate(p, plans, testRefs, nil, o); err != nil {
		t.Fatal(err)
	}
	mounted := func(c corev1.Container) bool {
		for _, m := range c.VolumeMounts {
			if m.Name == podcontract.ResolverVolume {
				return true
			}
		}
		return false
	}
	if app := p.Spec.Containers[0]; !mounted(app) || !containsEnvName(app.Env, podcontract.EnvResolverURL) {
		t.Errorf("resolver-mode container lacks the token mount or URL: %+v", app)
	}
	if d := p.Spec.Containers[1]; mounted(d) || containsEnvName(d.Env, podcontract.EnvResolverURL) {
		t.Error("a direct-mode container got the resolver token")
	}
	if mounted(p.Spec.Containers[2]) || mounted(p.Spec.InitContainers[0]) {
		t.Error("a container the webhook did not rewrite got the resolver token")
	}
	var vol *corev1.Volume
	for i := range p.Spec.Volumes {
		if p.Spec.Volumes[i].Name == podcontract.ResolverVolume {
			vol = &p.Spec.Volumes[i]
		}
	}
	if vol == nil {
		t.Fatal("no resolver volume")
	}
	tok := vol.Projected.Sources[0].ServiceAccountToken
	if tok.Audience != "latchkey-resolver-x" || *tok.ExpirationSeconds != 600 {
		t.Errorf("token projection = %+v", tok)
	}
}

func containsEnvName(env []corev1.EnvVar, name string) bool {
	for _, e := range env {
		if e.Name == name {
			return true
		}
	}
	return false
}

// TestDirectModeVault: a direct-mode container whose placeholder names a
// Vault-backed AzureKeyVaultSecret gets the install's defaults where the
// resource names none and the pod's ServiceAccount as the one that logs
// in, recorded in LATCHKEY_REFS, and the pod's token projected for Vault's
// audience, mounted into it alone; a container served by the resolver gets
// neither; with the install's Vault backend off the pod is refused.
func TestDirectModeVault(t *testing.T) {
	refs := map[string]Ref{
		"db":   {Vault: "secret", Name: "team-a/db", Type: "secret", HashiCorpVault: &podcontract.HashiCorpVaultRef{Namespace: "ns", Key: "password", ServiceAccount: "named-by-the-resource"}},
		"cert": testRefs["cert"],
	}
	o := testOpts
	o.Resolver = &ResolverOptions{URL: "https://resolver.latchkey-system.svc", Audience: "latchkey-resolver-x", CAConfigMap: "latchkey-resolver-ca"}
	o.Vault = &VaultOptions{Address: "https://vault.example:8200", AuthMount: "kubernetes", Role: "team-a", Audience: "vault"}
	p := pod(
		corev1.Container{Name: "direct", Command: []string{"/app"}, Env: env("PASS", "db@azurekeyvault", "CRT", "cert@azurekeyvault?tls.crt", podcontract.EnvDisableAuthService, "true")},
		corev1.Container{Name: "served", Command: []string{"/app"}, Env: env("PASS", "db@azurekeyvault")},
	)
	p.Spec.ServiceAccountName = "app"
	if err := mutate(p, analyze(p, nil), refs, nil, o); err != nil {
		t.Fatal(err)
	}
	envOf := func(c corev1.Container, name string) string {
		for _, e := range c.Env {
			if e.Name == name {
				return e.Value
			}
		}
		return ""
	}
	direct, served := p.Spec.Containers[0], p.Spec.Containers[1]
	got, err := podcontract.ParseRefs(envOf(direct, podcontract.EnvRefs))
	if err != nil {
		t.Fatal(err)
	}
	want := podcontract.HashiCorpVaultRef{Address: "https://vault.example:8200", Role: "team-a", AuthMount: "kubernetes", ServiceAccount: "app", Namespace: "ns", Key: "password"}
	if h := got["db"].HashiCorpVault; h == nil || *h != want {
		t.Errorf("direct mode's ref %+v, want %+v", h, want)
	}
	if got["cert"].HashiCorpVault != nil {
		t.Errorf("the Key Vault ref got Vault settings: %+v", got["cert"])
	}
	if refs["db"].HashiCorpVault.ServiceAccount != "named-by-the-resource" {
		t.Error("the shared ref was changed in place")
	}
	if envOf(direct, podcontract.EnvVaultToken) != podcontract.VaultTokenDir+"/"+podcontract.VaultTokenFile {
		t.Errorf("direct mode's %s = %q", podcontract.EnvVaultToken, envOf(direct, podcontract.EnvVaultToken))
	}
	servedRefs, err := podcontract.ParseRefs(envOf(served, podcontract.EnvRefs))
	if err != nil {
		t.Fatal(err)
	}
	if h := servedRefs["db"].HashiCorpVault; envOf(served, podcontract.EnvVaultToken) != "" || h == nil || *h != *refs["db"].HashiCorpVault {
		t.Errorf("the container the resolver serves got the Vault token or direct mode's settings: %v", served.Env)
	}
	mounted := func(c corev1.Container) bool {
		for _, m := range c.VolumeMounts {
			if m.Name == podcontract.VaultTokenVolume {
				return true
			}
		}
		return false
	}
	if !mounted(direct) || mounted(served) {
		t.Errorf("the Vault token is mounted into direct=%v served=%v; want direct only", mounted(direct), mounted(served))
	}
	var vol *corev1.Volume
	for i := range p.Spec.Volumes {
		if p.Spec.Volumes[i].Name == podcontract.VaultTokenVolume {
			vol = &p.Spec.Volumes[i]
		}
	}
	if vol == nil || vol.Projected == nil || vol.Projected.Sources[0].ServiceAccountToken.Audience != "vault" {
		t.Fatalf("the Vault token volume: %+v", vol)
	}

	o.Vault = nil
	p = pod(corev1.Container{Name: "direct", Command: []string{"/app"}, Env: env("PASS", "db@azurekeyvault", podcontract.EnvDisableAuthService, "true")})
	if err := mutate(p, analyze(p, nil), refs, nil, o); err == nil || !strings.Contains(err.Error(), "hashicorpVault.enabled") {
		t.Errorf("direct mode reading Vault with the backend off: %v, want a refusal naming hashicorpVault.enabled", err)
	}
}
