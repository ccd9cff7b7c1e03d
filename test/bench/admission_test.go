package bench

import (
	"context"
	"fmt"
	"io"
	"log"
	"math"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	gcrname "github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/latchkey-dev/latchkey/api/v2beta1"
	"github.com/latchkey-dev/latchkey/internal/devtools/ociimage"
	"github.com/latchkey-dev/latchkey/internal/devtools/targets"
	"github.com/latchkey-dev/latchkey/internal/podcontract"
	"github.com/latchkey-dev/latchkey/internal/webhook"
)

// Admission benchmark settings (product.md §6: 50 pods/s, p99 < 10 ms).
const (
	admissionRate  = 50 // pods per second
	admissionPods  = 500
	admissionFig   = "webhook admission latency at 50 pods/s"
	admissionLimit = 10 * time.Millisecond
)

// BenchmarkAdmission measures the env injector's webhook as the API server
// calls it: pods with placeholders are created at 50 per second in a
// labelled namespace, and the webhook's own histogram of the time from an
// admission review's arrival to its answer (latchkey_webhook_admission_duration_seconds,
// buckets from 0.25 ms) gives p50 and p99, interpolated within buckets as
// Prometheus's histogram_quantile does. Twice: pods that set their command
// (no registry lookup), then pods that leave it to the image, whose config
// the webhook's cache already holds (one warm-up pod first). The client's
// view of the whole create (API server, admission, etcd) is reported beside
// it. The webhook runs in this process with the production setup.
func BenchmarkAdmission(b *testing.B) {
	e := environment(b)
	reg := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	b.Cleanup(reg.Close)
	image := strings.TrimPrefix(reg.URL, "http://") + "/bench/app:1"
	if err := pushApp(image); err != nil {
		b.Fatal(err)
	}
	metrics := prometheus.NewRegistry()
	wio := e.testEnv.WebhookInstallOptions
	cfg := webhook.DefaultConfig()
	cfg.Host, cfg.Port, cfg.CertDir = wio.LocalServingHost, wio.LocalServingPort, wio.LocalServingCertDir
	cfg.MetricsAddr, cfg.HealthAddr = "0", "0"
	cfg.EnvImage = "latchkey-env:bench"
	cfg.InsecureRegistries = []string{strings.TrimPrefix(reg.URL, "http://")}
	cfg.Registry = metrics
	mgr, err := webhook.Setup(e.cfg, cfg, logr.Discard())
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	b.Cleanup(func() { cancel(); <-done })
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		b.Fatal("webhook cache did not sync")
	}

	ns := "bench-admission"
	if err := e.client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{podcontract.DefaultNamespaceLabel: "enabled"}}}); err != nil {
		b.Fatal(err)
	}
	if err := e.client.Create(ctx, &v2beta1.AzureKeyVaultSecret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "db"},
		Spec: v2beta1.AzureKeyVaultSecretSpec{Vault: v2beta1.AzureKeyVault{Name: "kv", Object: v2beta1.AzureKeyVaultObject{Name: "db", Type: v2beta1.ObjectTypeSecret}}}}); err != nil {
		b.Fatal(err)
	}
	// The webhook reads AzureKeyVaultSecrets from its cache: wait for it.
	waitWebhookReady(ctx, b, e, ns, podSpec(ns, "warm-command", image, true))

	b.ResetTimer()
	for _, c := range []struct {
		name    string
		command bool
	}{{"no registry lookup", true}, {"cached registry lookup", false}} {
		if !c.command {
			// One pod fills the image-config cache.
			if err := e.client.Create(ctx, podSpec(ns, "warm-image", image, false)); err != nil {
				b.Fatal(err)
			}
		}
		before := histogram(b, metrics)
		client := createAtRate(ctx, b, e, ns, image, c.command)
		after := histogram(b, metrics)
		// Every pod is one review at least: a histogram that recorded fewer
		// measured nothing (its quantiles would read as the first bucket).
		if reviews := count(after) - count(before); reviews < admissionPods {
			b.Fatalf("admission, %s: the webhook's histogram recorded %d reviews for %d pods", c.name, reviews, admissionPods)
		}
		p50, p99 := quantile(before, after, 0.5), quantile(before, after, 0.99)
		b.ReportMetric(p50*1000, strings.ReplaceAll(c.name, " ", "-")+"-p50-ms")
		b.ReportMetric(p99*1000, strings.ReplaceAll(c.name, " ", "-")+"-p99-ms")
		report.add(fmt.Sprintf("%s, %s: p50 / p99", admissionFig, c.name),
			fmt.Sprintf("%.2f / %.2f ms", p50*1000, p99*1000), "p99 < 10 ms", p99 < admissionLimit.Seconds())
		report.notef("admission, %s: %d pods at %d/s; webhook histogram: %d reviews; the client's whole create (API server, webhook, etcd) p50 %s, p99 %s",
			c.name, admissionPods, admissionRate, count(after)-count(before), client[len(client)/2].Round(10*time.Microsecond), client[len(client)*99/100].Round(10*time.Microsecond))
	}
	size, err := envBinarySize()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(size)/1e6, "latchkey-env-MB")
	report.add("in-container binary size (cmd/latchkey-env, static, stripped)", fmt.Sprintf("%.1f MB", float64(size)/1e6),
		fmt.Sprintf("≤ %g MB", targets.EnvBinaryMaxBytes/1e6), size <= targets.EnvBinaryMaxBytes)
}

// pushApp pushes an image whose ENTRYPOINT and CMD the webhook must read.
func pushApp(image string) error {
	img, err := ociimage.Build(ociimage.Spec{
		Files:      []ociimage.File{{Path: "/app", Mode: 0o755, Data: []byte("program")}},
		Entrypoint: []string{"/app"}, Cmd: []string{"serve"}, OS: "linux", Architecture: runtime.GOARCH,
	})
	if err != nil {
		return err
	}
	ref, err := gcrname.ParseReference(image, gcrname.Insecure)
	if err != nil {
		return err
	}
	return remote.Write(ref, img)
}

func podSpec(ns, name, image string, command bool) *corev1.Pod {
	c := corev1.Container{Name: "app", Image: image, Env: []corev1.EnvVar{{Name: "DB_PASSWORD", Value: "db@azurekeyvault"}}}
	if command {
		c.Command = []string{"/app", "serve"}
	}
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: corev1.PodSpec{Containers: []corev1.Container{c}}}
}

// waitWebhookReady creates pods until one is admitted and mutated.
func waitWebhookReady(ctx context.Context, b *testing.B, e *benchEnv, ns string, pod *corev1.Pod) {
	b.Helper()
	deadline := time.Now().Add(time.Minute)
	for i := 0; ; i++ {
		p := pod.DeepCopy()
		p.Name = fmt.Sprintf("%s-%d", pod.Name, i)
		err := e.client.Create(ctx, p)
		if err == nil && p.Annotations[podcontract.InjectedAnnotation] == "true" {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("webhook not answering: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// createAtRate creates admissionPods pods at admissionRate per second, each
// create in its own goroutine so a slow answer does not slow the rate, and
// returns the sorted create latencies the client saw.
func createAtRate(ctx context.Context, b *testing.B, e *benchEnv, ns, image string, command bool) []time.Duration {
	b.Helper()
	var mu sync.Mutex
	var wg sync.WaitGroup
	latencies := make([]time.Duration, 0, admissionPods)
	tick := time.NewTicker(time.Second / admissionRate)
	defer tick.Stop()
	prefix := "cmd"
	if !command {
		prefix = "img"
	}
	for i := range admissionPods {
		<-tick.C
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := podSpec(ns, fmt.Sprintf("%s-%d", prefix, i), image, command)
			start := time.Now()
			err := e.client.Create(ctx, p)
			d := time.Since(start)
			if err != nil || p.Annotations[podcontract.InjectedAnnotation] != "true" {
				b.Errorf("pod %s: %v (mutated: %v)", p.Name, err, p.Annotations[podcontract.InjectedAnnotation])
				return
			}
			mu.Lock()
			latencies = append(latencies, d)
			mu.Unlock()
		}()
	}
	wg.Wait()
	slices.Sort(latencies)
	if len(latencies) == 0 {
		b.Fatal("no pod admitted")
	}
	return latencies
}

// histogram reads the webhook's admission histogram: cumulative counts by
// upper bound.
func histogram(b *testing.B, reg *prometheus.Registry) *dto.Histogram {
	b.Helper()
	families, err := reg.Gather()
	if err != nil {
		b.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == "latchkey_webhook_admission_duration_seconds" {
			return f.GetMetric()[0].GetHistogram()
		}
	}
	b.Fatal("no admission histogram")
	return nil
}

func count(h *dto.Histogram) uint64 { return h.GetSampleCount() }

// quantile is the q-quantile of the observations between two snapshots,
// interpolated linearly within the bucket it falls in (histogram_quantile).
func quantile(before, after *dto.Histogram, q float64) float64 {
	total := float64(after.GetSampleCount() - before.GetSampleCount())
	if total == 0 {
		return math.NaN() // no observation: no quantile, and no target met
	}
	rank := q * total
	lower, prevCount := 0.0, 0.0
	for i, bkt := range after.GetBucket() {
		c := float64(bkt.GetCumulativeCount() - before.GetBucket()[i].GetCumulativeCount())
		if c >= rank {
			if c == prevCount {
				return bkt.GetUpperBound()
			}
			return lower + (bkt.GetUpperBound()-lower)*(rank-prevCount)/(c-prevCount)
		}
		lower, prevCount = bkt.GetUpperBound(), c
	}
	return math.Inf(1)
}

// envBinarySize builds cmd/latchkey-env as its image ships it and returns its size.
func envBinarySize() (int64, error) {
	dir, err := os.MkdirTemp("", "latchkey-env-size-")
	if err != nil {
		return 0, err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	out := filepath.Join(dir, "latchkey-env")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, "./cmd/latchkey-env")
	cmd.Dir = "../.."
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("%w: %s", err, msg)
	}
	st, err := os.Stat(out)
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}
