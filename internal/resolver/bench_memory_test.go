package resolver_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/latchkey-dev/latchkey/internal/scheme"
)

// podsPerNamespace is how the memory benchmark spreads its pods: a
// Deployment's worth per namespace.
const podsPerNamespace = 500

// benchPodMemory creates n pods the webhook rewrote, in labelled
// namespaces, and records the memory of a resolver holding them: the Go
// heap of an in-process resolver (the test process's heap in use after a
// GC, before and after; the suite's own resolver holds the pods too, so
// the pods' share is halved), and the RSS of the latchkey-resolver binary
// run against the same API server once its watches have listed the pods.
func benchPodMemory(b *testing.B, n int) {
	heap := func() uint64 {
		var ms runtime.MemStats
		runtime.GC()
		runtime.GC()
		runtime.ReadMemStats(&ms)
		return ms.HeapInuse
	}
	m0 := heap()
	r := newResolver(b, nil)
	m1 := heap()
	held0 := r.Pods.Len()
	createPods(b, n)
	eventually(b, func() error {
		if got := r.Pods.Len() - held0; got < n {
			return fmt.Errorf("the resolver holds %d of the %d pods", got, n)
		}
		if got, want := suite.res.Pods.Len(), r.Pods.Len(); got < want {
			return fmt.Errorf("the suite's resolver holds %d pods, this one %d", got, want)
		}
		return nil
	})
	m2 := heap()
	perPod := float64(int64(m2)-int64(m1)) / 2 / float64(n)
	resolverHeap := float64(int64(m1)-int64(m0)) + perPod*float64(n)
	figures["memory/pods"] = float64(r.Pods.Len() - held0)
	figures["memory/bytes-per-pod"] = perPod
	figures["memory/heap-mb"] = resolverHeap / (1 << 20)
	b.ReportMetric(figures["memory/heap-mb"], "resolver-heap-MB")
	b.ReportMetric(perPod, "bytes/pod")
	rss, err := binaryRSS(b)
	if err != nil {
		b.Errorf("the latchkey-resolver binary's RSS: %v", err)
		return
	}
	figures["memory/rss-mb"] = rss
	b.ReportMetric(rss, "binary-RSS-MB")
}

// createPods stores n copies of a pod the real webhook rewrote, spread over
// labelled namespaces, many at once.
func createPods(b *testing.B, n int) {
	cfg := rest.CopyConfig(suite.cfg)
	cfg.QPS, cfg.Burst = 1e6, 1e6
	c, err := client.New(cfg, client.Options{Scheme: scheme.New()})
	if err != nil {
		b.Fatal(err)
	}
	var templates []*corev1.Pod
	for range (n + podsPerNamespace - 1) / podsPerNamespace {
		w := newWorld(b, suite.res)
		// The mark covers the namespace and the containers, not the name:
		// every copy of the template carries a valid one.
		templates = append(templates, w.pod("template", app("app", "BENCH", "bench@azurekeyvault"), app("sidecar", "LOG", "info")))
	}
	work := make(chan int)
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for i := range work {
				t := templates[i/podsPerNamespace]
				p := &corev1.Pod{Spec: *t.Spec.DeepCopy()}
				p.Namespace, p.Name, p.Annotations = t.Namespace, fmt.Sprintf("web-%d", i), t.Annotations
				if err := c.Create(context.Background(), p); err != nil {
					b.Error(err)
				}
			}
		})
	}
	for i := range n - len(templates) {
		work <- i
	}
	close(work)
	wg.Wait()
}

// binaryRSS builds latchkey-resolver, runs it against the suite's API
// server until its readiness check passes (informers and every pod watch
// synced), and returns its largest RSS in MB over the next 5 seconds.
func binaryRSS(b *testing.B) (float64, error) {
	dir := b.TempDir()
	bin := filepath.Join(dir, "latchkey-resolver")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/latchkey-resolver").CombinedOutput(); err != nil {
		return 0, fmt.Errorf("build: %w: %s", err, out)
	}
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := writeKubeconfig(kubeconfig, suite.cfg); err != nil {
		return 0, err
	}
	health, err := freePort()
	if err != nil {
		return 0, err
	}
	logs, err := os.Create(filepath.Join(dir, "resolver.log"))
	if err != nil {
		return 0, err
	}
	defer func() { _ = logs.Close() }()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "--kubeconfig", kubeconfig, "--audience", audience, "--injection-mark-keys", suite.markKeys,
		"--cert-dir", suite.pki.certDir, "--port", "0", "--keyvault-auth", "environment", "--tenancy-policy", suite.policy,
		"--leader-elect=false", "--metrics-bind-address", "0", "--health-probe-bind-address", "127.0.0.1:"+strconv.Itoa(health))
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		cancel()
		return 0, err
	}
	defer func() { cancel(); _ = cmd.Wait() }()
	probe := &http.Client{Timeout: 5 * time.Second}
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1:"+strconv.Itoa(health)+"/readyz", nil)
		resp, err := probe.Do(req)
		if err != nil {
			return false, nil //nolint:nilerr // not listening yet
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})
	if err != nil {
		return 0, fmt.Errorf("not ready (log in %s): %w", logs.Name(), err)
	}
	var peak float64
	for range 5 {
		time.Sleep(time.Second)
		rss, err := vmRSS(cmd.Process.Pid)
		if err != nil {
			return 0, err
		}
		peak = max(peak, rss)
	}
	return peak, nil
}

// vmRSS is a process's resident set in MB, from /proc.
func vmRSS(pid int) (float64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024, err
		}
	}
	return 0, fmt.Errorf("no VmRSS for process %d", pid)
}

// writeKubeconfig writes cfg's server and credentials as a kubeconfig.
func writeKubeconfig(path string, cfg *rest.Config) error {
	kc := clientcmdapi.NewConfig()
	kc.Clusters["c"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["u"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}
	kc.Contexts["x"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "u"}
	kc.CurrentContext = "x"
	return clientcmd.WriteToFile(*kc, path)
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer func() { _ = ln.Close() }()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
