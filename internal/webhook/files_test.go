package webhook

import (
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
	"k8s.io/utils/ptr"

	"github.com/latchkey-dev/latchkey/internal/injectmark"
	"github.com/latchkey-dev/latchkey/internal/podcontract"
)

var resolverOpts = &ResolverOptions{URL: "https://latchkey-resolver.latchkey.svc", Audience: "aud", CAConfigMap: "latchkey-resolver-ca"}

// filesPod is a restricted pod that declares a certificate pair with
// refresh, and has an init container of its own.
func filesPod() *corev1.Pod {
	restricted := &corev1.SecurityContext{AllowPrivilegeEscalation: ptr.To(false), Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}
	p := pod(corev1.Container{Name: "app", Image: "app:1", Command: []string{"/app"}, SecurityContext: restricted})
	p.Spec.InitContainers = []corev1.Container{{Name: "migrate", Image: "m:1", Command: []string{"/m"}, SecurityContext: restricted}}
	p.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To[int64](1000), FSGroup: ptr.To[int64](2000),
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}}
	p.Annotations = map[string]string{
		"latchkey.dev/file.tls.crt":      "web?tls.crt",
		"latchkey.dev/file.tls.key":      "web?tls.key",
		"latchkey.dev/file-mode.tls.key": "0400",
		"latchkey.dev/files-dir":         "/etc/tls",
		"latchkey.dev/files-refresh":     "true",
	}
	return p
}

func applyFiles(t *testing.T, p *corev1.Pod, o Options) {
	t.Helper()
	d, err := podcontract.ParseFileDeclaration(p.Annotations)
	if err != nil {
		t.Fatal(err)
	}
	if err := mutate(p, analyze(p, nil), testRefs, nil, o); err != nil {
		t.Fatal(err)
	}
	if err := mutateFiles(p, d, o); err != nil {
		t.Fatal(err)
	}
}

func TestMutateFiles(t *testing.T) {
	p := filesPod()
	o := testOpts
	o.Resolver = resolverOpts
	applyFiles(t, p, o)

	var names []string
	for _, c := range p.Spec.InitContainers {
		names = append(names, c.Name)
	}
	// The writer right after the install container, before the pod's own
	// init containers; the sidecar after it.
	if want := []string{podcontract.InstallContainer, podcontract.FilesWriterContainer, podcontract.FilesRefreshContainer, "migrate"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("init containers %v, want %v", names, want)
	}
	writer, sidecar := p.Spec.InitContainers[1], p.Spec.InitContainers[2]
	if !injectmark.Rewritten(&writer) || !injectmark.Rewritten(&sidecar) {
		t.Error("the writers do not start with latchkey's binary: the mark would not cover them")
	}
	if writer.RestartPolicy != nil || sidecar.RestartPolicy == nil || *sidecar.RestartPolicy != corev1.ContainerRestartPolicyAlways {
		t.Errorf("restart policies: writer %v, sidecar %v", writer.RestartPolicy, sidecar.RestartPolicy)
	}
	if !reflect.DeepEqual(writer.Command, []string{podcontract.BinaryPath, "files", "write"}) || !reflect.DeepEqual(sidecar.Command, []string{podcontract.BinaryPath, "files", "refresh"}) {
		t.Errorf("commands %q, %q", writer.Command, sidecar.Command)
	}
	env := map[string]string{}
	for _, e := range writer.Env {
		env[e.Name] = e.Value
	}
	if env["LATCHKEY_FILE_0"] != "web@azurekeyvault?tls.crt" || env["LATCHKEY_FILE_1"] != "web@azurekeyvault?tls.key" ||
		env[podcontract.EnvContainer] != podcontract.FilesWriterContainer || env[podcontract.EnvResolverURL] != resolverOpts.URL {
		t.Errorf("writer env %v", env)
	}
	if !strings.Contains(env[podcontract.EnvFiles], `"mode":"0400"`) || !strings.Contains(env[podcontract.EnvFiles], `"dir":"`+podcontract.FilesWriterDir+`"`) {
		t.Errorf("LATCHKEY_FILES = %s", env[podcontract.EnvFiles])
	}
	// The pod's user owns the files.
	if sc := writer.SecurityContext; *sc.RunAsUser != 1000 || *sc.RunAsGroup != 1000 || !*sc.RunAsNonRoot || *sc.AllowPrivilegeEscalation {
		t.Errorf("writer security context %+v", sc)
	}
	for _, c := range []corev1.Container{p.Spec.Containers[0], p.Spec.InitContainers[3]} {
		if !slicesContainsMount(c.VolumeMounts, corev1.VolumeMount{Name: podcontract.FilesVolume, MountPath: "/etc/tls", ReadOnly: true}) {
			t.Errorf("container %s does not mount the files read-only at /etc/tls: %+v", c.Name, c.VolumeMounts)
		}
		if slicesContainsName(c.VolumeMounts, podcontract.ResolverVolume) {
			t.Errorf("container %s got the resolver's token", c.Name)
		}
	}
	if slicesContainsName(p.Spec.InitContainers[0].VolumeMounts, podcontract.FilesVolume) {
		t.Error("the install container mounts the files")
	}
	var vol *corev1.Volume
	for i := range p.Spec.Volumes {
		if p.Spec.Volumes[i].Name == podcontract.FilesVolume {
			vol = &p.Spec.Volumes[i]
		}
	}
	if vol == nil || vol.EmptyDir == nil || vol.EmptyDir.Medium != corev1.StorageMediumMemory {
		t.Errorf("files volume %+v: want a memory-backed emptyDir", vol)
	}
	if !slicesContainsVolume(p.Spec.Volumes, podcontract.ResolverVolume) {
		t.Error("no resolver volume")
	}
	// Reinvocation: the writer is there, nothing more is added.
	if !filesApplied(p) {
		t.Error("filesApplied = false after mutateFiles")
	}
	if !markPod(p, "ns", nil) {
		t.Error("a pod with only files is not marked")
	}
}

func TestMutateFilesWithoutRefreshOrUser(t *testing.T) {
	p := pod(corev1.Container{Name: "app", Command: []string{"/app"}})
	p.Annotations = map[string]string{"latchkey.dev/file.config.json": "cfg"}
	o := testOpts
	o.Resolver = resolverOpts
	applyFiles(t, p, o)
	if n := len(p.Spec.InitContainers); n != 2 || p.Spec.InitContainers[1].Name != podcontract.FilesWriterContainer {
		t.Fatalf("init containers %+v: want install and writer only", p.Spec.InitContainers)
	}
	if uid := *p.Spec.InitContainers[1].SecurityContext.RunAsUser; uid != writerUID {
		t.Errorf("writer runs as %d, want %d", uid, writerUID)
	}
	if !slicesContainsMount(p.Spec.Containers[0].VolumeMounts, corev1.VolumeMount{Name: podcontract.FilesVolume, MountPath: podcontract.DefaultFilesDir, ReadOnly: true}) {
		t.Errorf("mounts %+v", p.Spec.Containers[0].VolumeMounts)
	}
}

func TestMutateFilesErrors(t *testing.T) {
	d := podcontract.FileDeclaration{Dir: "/etc/tls", Files: []podcontract.DeclaredFile{{Name: "a", Placeholder: podcontract.Placeholder{AKVS: "a"}, Mode: 0o644}}}
	if err := mutateFiles(pod(corev1.Container{Name: "app"}), d, testOpts); err == nil || !strings.Contains(err.Error(), "without one") {
		t.Errorf("no resolver: %v", err)
	}
	o := testOpts
	o.Resolver = resolverOpts
	signal := d
	signal.Refresh, signal.Signal, signal.Program = true, "HUP", "nginx"
	if err := mutateFiles(pod(corev1.Container{Name: "app"}), signal, o); err == nil || !strings.Contains(err.Error(), "shareProcessNamespace: true") {
		t.Errorf("signal without a shared process namespace: %v", err)
	}
	shared := pod(corev1.Container{Name: "app"})
	shared.Spec.ShareProcessNamespace = ptr.To(true)
	if err := mutateFiles(shared, signal, o); err != nil {
		t.Errorf("signal with a shared process namespace: %v", err)
	}
	p := pod(corev1.Container{Name: "app", VolumeMounts: []corev1.VolumeMount{{Name: "certs", MountPath: "/etc/tls"}}})
	if err := mutateFiles(p, d, o); err == nil || !strings.Contains(err.Error(), "container app already mounts volume certs at /etc/tls") {
		t.Errorf("mount clash: %v", err)
	}
}

// TestFilesPodStaysRestricted: the writers and the volume keep a
// restricted pod restricted.
func TestFilesPodStaysRestricted(t *testing.T) {
	evaluator, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		t.Fatal(err)
	}
	restricted := api.LevelVersion{Level: api.LevelRestricted, Version: api.LatestVersion()}
	p := filesPod()
	if r := policy.AggregateCheckResults(evaluator.EvaluatePod(restricted, &p.ObjectMeta, &p.Spec)); !r.Allowed {
		t.Fatalf("not restricted before: %s", r.ForbiddenDetail())
	}
	o := testOpts
	o.Resolver = resolverOpts
	applyFiles(t, p, o)
	if r := policy.AggregateCheckResults(evaluator.EvaluatePod(restricted, &p.ObjectMeta, &p.Spec)); !r.Allowed {
		t.Errorf("not restricted after: %s", r.ForbiddenDetail())
	}
}

func slicesContainsMount(ms []corev1.VolumeMount, m corev1.VolumeMount) bool {
	for _, x := range ms {
		if x == m {
			return true
		}
	}
	return false
}

func slicesContainsName(ms []corev1.VolumeMount, name string) bool {
	for _, x := range ms {
		if x.Name == name {
			return true
		}
	}
	return false
}

func slicesContainsVolume(vs []corev1.Volume, name string) bool {
	for _, v := range vs {
		if v.Name == name {
			return true
		}
	}
	return false
}
