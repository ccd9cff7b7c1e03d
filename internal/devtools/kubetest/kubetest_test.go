package kubetest

import (
	"context"
	"os"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// TestStartServesTheBuiltVersion checks the test API server is the one built
// from source (the version the tools module pins) and stores objects in etcd.
func TestStartServesTheBuiltVersion(t *testing.T) {
	_, cfg := Start(t, Options{})
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	v, err := cs.Discovery().ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	if want := pinnedKubernetes(t); v.GitVersion != want {
		t.Errorf("server version %s, want %s (pinned in hack/tools/k8s/go.mod)", v.GitVersion, want)
	}
	ctx := context.Background()
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "probe", Namespace: "default"}, Data: map[string]string{"k": "v"}}
	if _, err := cs.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err := cs.CoreV1().ConfigMaps("default").Get(ctx, "probe", metav1.GetOptions{})
	if err != nil || got.Data["k"] != "v" {
		t.Fatalf("read back %v, %v", got, err)
	}
}

// pinnedKubernetes reads the Kubernetes version the tools module pins.
func pinnedKubernetes(t *testing.T) string {
	raw, err := os.ReadFile("../../../hack/tools/k8s/go.mod")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "require" && f[1] == "k8s.io/kubernetes" {
			return f[2]
		}
	}
	t.Fatal("k8s.io/kubernetes not required in hack/tools/k8s/go.mod")
	return ""
}
