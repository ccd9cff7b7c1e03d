package injectmark

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/latchkey-dev/latchkey/internal/podcontract"
)

func key(c string) []byte { return []byte(strings.Repeat(c, MinKeyBytes)) }

func rewrittenPod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "web-1"},
		Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{{Name: "latchkey-env-install", Command: []string{"/latchkey-env", "install"}}},
			Containers: []corev1.Container{
				{Name: "app", Command: []string{podcontract.BinaryPath, "run", "--"}, Args: []string{"/app"},
					Env: []corev1.EnvVar{{Name: "DB", Value: "db@azurekeyvault"}, {Name: "NODE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}}}},
				{Name: "sidecar", Command: []string{"/sidecar"}},
			},
		},
	}
}

// TestMark: a mark verifies over the pod it was written for, under any of
// the keys, and not once what the resolver serves from changes.
func TestMark(t *testing.T) {
	old, err := New(key("o"))
	if err != nil {
		t.Fatal(err)
	}
	keys, err := New(key("n"), key("o"))
	if err != nil {
		t.Fatal(err)
	}
	p := rewrittenPod()
	p.Annotations = map[string]string{podcontract.InjectedAnnotation: keys.Sign("team", p)}
	if !keys.Verify(p) {
		t.Fatal("the mark does not verify")
	}
	byOld := rewrittenPod()
	byOld.Annotations = map[string]string{podcontract.InjectedAnnotation: old.Sign("team", byOld)}
	if !keys.Verify(byOld) {
		t.Error("a mark of the second key does not verify")
	}
	if old.Verify(p) {
		t.Error("a mark of the first key verifies without it")
	}
	for name, change := range map[string]func(*corev1.Pod){
		"forged":                   func(p *corev1.Pod) { p.Annotations[podcontract.InjectedAnnotation] = "true" },
		"not base64":               func(p *corev1.Pod) { p.Annotations[podcontract.InjectedAnnotation] = "v1.%%%" },
		"no mark":                  func(p *corev1.Pod) { delete(p.Annotations, podcontract.InjectedAnnotation) },
		"namespace":                func(p *corev1.Pod) { p.Namespace = "other" },
		"a placeholder added":      func(p *corev1.Pod) { p.Spec.Containers[0].Env[0].Value = "admin@azurekeyvault" },
		"a variable renamed":       func(p *corev1.Pod) { p.Spec.Containers[0].Env[0].Name = "ADMIN" },
		"a reference made literal": func(p *corev1.Pod) { p.Spec.Containers[0].Env[1].ValueFrom = nil },
		"a container renamed":      func(p *corev1.Pod) { p.Spec.Containers[0].Name = "other" },
		"args":                     func(p *corev1.Pod) { p.Spec.Containers[0].Args = []string{"/sh"} },
		"a container looks rewritten": func(p *corev1.Pod) {
			p.Spec.Containers[1].Command = []string{podcontract.BinaryPath, "run", "--", "/sidecar"}
		},
		"moved to the init containers": func(p *corev1.Pod) {
			p.Spec.InitContainers = append(p.Spec.InitContainers, p.Spec.Containers[0])
			p.Spec.Containers = p.Spec.Containers[1:]
		},
	} {
		q := p.DeepCopy()
		change(q)
		if keys.Verify(q) {
			t.Errorf("%s: the mark still verifies", name)
		}
	}
	// What the resolver does not serve from may change.
	q := p.DeepCopy()
	q.Name, q.Spec.Containers[1].Env = "web-2", []corev1.EnvVar{{Name: "X", Value: "y"}}
	q.Spec.Containers[0].Image = "app:2"
	if !keys.Verify(q) {
		t.Error("the mark no longer verifies after changes outside what it covers")
	}
	var none *Keys
	if none.Verify(p) {
		t.Error("nil keys verify")
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	k, err := Load(write("keys", "# rotated 2026-01-01\n"+string(key("n"))+"\n\n  "+string(key("o"))+"  \n"))
	if err != nil || len(k.keys) != 2 || string(k.keys[1]) != string(key("o")) {
		t.Fatalf("Load = %v, %v", k, err)
	}
	for name, data := range map[string]string{"empty": "", "comments only": "# x\n", "short": "abc\n"} {
		path := write(name, data)
		_, err := Load(path)
		if err == nil || !strings.Contains(err.Error(), path) || strings.Contains(err.Error(), "abc") {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := Load(filepath.Join(dir, "missing")); err == nil {
		t.Error("a missing file loads")
	}
}
