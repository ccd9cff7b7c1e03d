package resolver_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/latchkey-dev/latchkey/api/v2beta1"
	"github.com/latchkey-dev/latchkey/internal/resolver"
	"github.com/latchkey-dev/latchkey/internal/resolver/protocol"
)

// BenchmarkResolverRollout: 500 pods of one Deployment start and ask the
// resolver for the same placeholder (product.md §6 and issue 15: 1 Key
// Vault read, p99 < 50 ms, no API call per request). Each iteration starts
// a resolver with cold caches and lets its watches list the pods (the
// warm-up: a resolver that has run for a while holds them); the API calls
// counted are those of the burst. Every pod opens its own TLS connection,
// as containers do. Three arrival patterns: all 500 at once (the worst
// case: every request queues behind the others on the 2 cores the API
// server, etcd and the resolver share); the same beside a flood of forged
// tokens (issue 13: a forgery costs no API call, and the real pods' p99 is
// compared with the run without it); and spread at 100 pods a second (a
// rollout as kubelets start containers). The latency is the pod's:
// connection, TLS, token verification, the checks and the value. The
// resolver's namespace burst is raised to the 500 pods: this measures the
// checks, not the bucket (with the default burst the pods over it wait
// Retry-After: TestRolloutBeyondTheBurst). Last, the memory of a resolver
// whose cache holds 10,000 pods in labelled namespaces.
func BenchmarkResolverRollout(b *testing.B) {
	const pods = 500
	w := newWorld(b, suite.res)
	w.akvs("bench", benchVault, "bench", v2beta1.ObjectTypeSecret)
	podObjs, tokens := w.replicas(pods, app("app", "BENCH", "bench@azurekeyvault"))
	// A cluster's API server is warm; this one has just started. One
	// unmeasured round of the same calls warms it (the first reads of a
	// fresh API server are several times slower).
	warm := rest.CopyConfig(suite.cfg)
	warm.QPS, warm.Burst = 1e6, 1e6
	apiCallsOnly(b, kubernetes.NewForConfigOrDie(warm), podObjs)
	// The forgeries, made beforehand: signing them is the attacker's work,
	// not the resolver's, and must not take the 2 cores from it.
	forged := forgeries(b, tokens[0], 8000)
	for _, mode := range []struct {
		name  string
		gap   time.Duration // between two pods' starts
		flood bool
	}{{"at-once", 0, false}, {"at-once-beside-a-forged-flood", 0, true}, {"100-per-second", 10 * time.Millisecond, false}} {
		b.Run(mode.name, func(b *testing.B) {
			var lat []time.Duration
			var reads, reviews, podGets, calls, keyReads int64
			for b.Loop() {
				b.StopTimer()
				r := newResolver(b, func(c *resolver.Config) { c.RateBurst = pods })
				for _, p := range podObjs {
					untilCached(b, r, p, true)
				}
				before := kvReads(benchVault)
				var f *flood
				if mode.flood {
					f = startFlood(r, forged)
					f.alone(r)
				}
				calls0, reviews0, gets0, keys0 := r.apiCalls.Load(), r.reviews.Load(), r.podGets.Load(), r.keyReads.Load()
				b.StartTimer()
				lat = append(lat, rollout(b, r, tokens, mode.gap)...)
				b.StopTimer()
				reads += kvReads(benchVault) - before
				reviews += r.reviews.Load() - reviews0
				podGets += r.podGets.Load() - gets0
				calls += r.apiCalls.Load() - calls0
				keyReads += r.keyReads.Load() - keys0
				if f != nil {
					f.stop(b, r)
				}
				b.StartTimer()
			}
			n := float64(b.N)
			b.ReportMetric(float64(reads)/n, "keyvault-reads/op")
			b.ReportMetric(float64(reviews)/n, "tokenreviews/op")
			b.ReportMetric(float64(podGets)/n, "pod-reads/op")
			b.ReportMetric(float64(calls)/n, "api-calls/op")
			figures[mode.name+"/reads"] = float64(reads) / n
			figures[mode.name+"/p99"] = reportLatency(b, lat)
			// API calls of the burst, the issuer's key reads aside (what an
			// unknown key id of a forgery may cost, counted on their own).
			figures[mode.name+"/api-calls"] = float64(calls-keyReads) / n
			figures[mode.name+"/key-reads"] = float64(keyReads) / n
		})
	}
	// The floor of the design this replaced: the pod read every request
	// cost, made straight from here with no client rate limit.
	b.Run("at-once-api-calls-only", func(b *testing.B) {
		cfg := rest.CopyConfig(suite.cfg)
		cfg.QPS, cfg.Burst = 1e6, 1e6
		cs := kubernetes.NewForConfigOrDie(cfg)
		var lat []time.Duration
		for b.Loop() {
			lat = append(lat, apiCallsOnly(b, cs, podObjs)...)
		}
		figures["at-once-api-calls-only/p99"] = reportLatency(b, lat)
	})
	b.Run("10000-pods-memory", func(b *testing.B) {
		for b.Loop() {
			benchPodMemory(b, 10_000)
		}
	})
	fmt.Printf("\nlatchkey resolver: figures against product.md §6, issue 13 and issue 15 targets\n"+
		"| 500 pods at once: Key Vault reads                        | %-8.0f | 1         | %s |\n"+
		"| 500 pods at once: resolver p99 (ms)                      | %-8.1f | < 50      | %s |\n"+
		"| 500 pods at once: API calls of the burst, after warm-up  | %-8.0f | 0         | %s |\n"+
		"| 500 pods at once: a pod read alone, p99 (ms; the old design's floor) | %-8s | (ref.) | —   |\n"+
		"| 500 pods at once beside a forged flood: Key Vault reads  | %-8.0f | 1         | %s |\n"+
		"| 500 pods at once beside a forged flood: p99 (ms)         | %-8.1f | < 50      | %s |\n"+
		"| 500 pods at once beside a forged flood: API calls of the burst (key reads aside) | %-4.0f | 0 | %s |\n"+
		"| forged-token flood: forgeries answered per second        | %-8.0f | (load)    | —   |\n"+
		"| forged-token flood: forgeries answered 401 / 503         | %-8s | all       | %s |\n"+
		"| forged-token flood alone, 2 s: API calls (key reads aside) | %-6.0f | 0         | %s |\n"+
		"| forged-token flood: reads of the issuer's keys           | %-8.0f | ≤ 1 per 10 s of flood (%.0f) | %s |\n"+
		"| 100 pods/s: resolver p99 (ms)                            | %-8s | (ref.)    | —   |\n"+
		"| 10,000 pods: pods the resolver's cache holds             | %-8.0f | 10000     | %s |\n"+
		"| 10,000 pods: the resolver's Go heap in use (MB; its whole heap: caches, informers, server) | %-6.1f | < 120 | %s |\n"+
		"| 10,000 pods: of which the pod cache, stripped (bytes per pod) | %-6s | (ref.) | —   |\n"+
		"| 10,000 pods: latchkey-resolver process RSS (MB; the built binary, same API server) | %-6.1f | < 120 | %s |\n\n",
		figures["at-once/reads"], verdict(figures["at-once/reads"] == 1, "at-once/reads"),
		figures["at-once/p99"], verdict(figures["at-once/p99"] < 50, "at-once/p99"),
		figures["at-once/api-calls"], verdict(figures["at-once/api-calls"] == 0, "at-once/api-calls"),
		reference(figures, "at-once-api-calls-only/p99", "%.1f"),
		figures["at-once-beside-a-forged-flood/reads"], verdict(figures["at-once-beside-a-forged-flood/reads"] == 1, "at-once-beside-a-forged-flood/reads"),
		figures["at-once-beside-a-forged-flood/p99"], verdict(figures["at-once-beside-a-forged-flood/p99"] < 50, "at-once-beside-a-forged-flood/p99"),
		figures["at-once-beside-a-forged-flood/api-calls"], verdict(figures["at-once-beside-a-forged-flood/api-calls"] == 0, "at-once-beside-a-forged-flood/api-calls"),
		figures["flood/rate"],
		fmt.Sprintf("%.0f/%.0f", figures["flood/401"], figures["flood/503"]), verdict(figures["flood/other"] == 0, "flood/other"),
		figures["flood/alone-calls"], verdict(figures["flood/alone-calls"] == 0, "flood/alone-calls"),
		figures["flood/key-reads"]/2, figures["flood/seconds"]/10+1, verdict(figures["flood/key-reads"]/2 <= figures["flood/seconds"]/10+1, "flood/key-reads", "flood/seconds"),
		reference(figures, "100-per-second/p99", "%.1f"),
		figures["memory/pods"], verdict(figures["memory/pods"] >= 10_000, "memory/pods"),
		figures["memory/heap-mb"], verdict(figures["memory/heap-mb"] < 120, "memory/heap-mb"),
		reference(figures, "memory/bytes-per-pod", "%.0f"),
		figures["memory/rss-mb"], verdict(figures["memory/rss-mb"] > 0 && figures["memory/rss-mb"] < 120, "memory/rss-mb"))
}

// reference formats a figure printed for reference only (no target, so no
// verdict says n/a for it): "n/a" when its sub-benchmark did not run, not a
// 0 nobody measured.
func reference(figures map[string]float64, key, format string) string {
	v, ok := figures[key]
	if !ok {
		return "n/a"
	}
	return fmt.Sprintf(format, v)
}

// forgeries are n forged tokens made from a real one, each with a fresh
// claim, of every kind the forger makes.
func forgeries(b *testing.B, real string, n int) []string {
	f := newForger(b, real)
	out := make([]string, n)
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Go(func() {
			for i := w; i < n; i += 2 {
				_, out[i] = f.next()
			}
		})
	}
	wg.Wait()
	return out
}

// flood sends forged tokens to a resolver from 16 connections, each
// sending the next as soon as the last is answered, until stopped.
type flood struct {
	done               chan struct{}
	wg                 sync.WaitGroup
	started            time.Time
	keys0              int64
	sent, ok401, ok503 atomic.Int64
	other              atomic.Int64
}

func startFlood(r *testResolver, forged []string) *flood {
	f := &flood{done: make(chan struct{}), started: time.Now(), keys0: r.keyReads.Load()}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: suite.pki.client.Transport.(*http.Transport).TLSClientConfig.Clone(), MaxIdleConnsPerHost: 16}}
	body, _ := json.Marshal(protocol.Request{Container: "app", Env: map[string]string{"BENCH": "bench@azurekeyvault"}})
	var next atomic.Int64
	for range 16 {
		f.wg.Go(func() {
			for {
				select {
				case <-f.done:
					return
				default:
				}
				tok := forged[int(next.Add(1))%len(forged)]
				switch send(client, r, tok, body) {
				case http.StatusUnauthorized:
					f.ok401.Add(1)
				case http.StatusServiceUnavailable:
					f.ok503.Add(1)
				default:
					f.other.Add(1)
				}
				f.sent.Add(1)
			}
		})
	}
	return f
}

// alone lets the flood run by itself for two seconds and records the API
// calls the resolver made meanwhile, its key reads aside.
func (f *flood) alone(r *testResolver) {
	time.Sleep(500 * time.Millisecond)
	calls, keys := r.apiCalls.Load(), r.keyReads.Load()
	time.Sleep(2 * time.Second)
	figures["flood/alone-calls"] += float64((r.apiCalls.Load() - calls) - (r.keyReads.Load() - keys))
}

// stop ends the flood and records what it sent and what it cost.
func (f *flood) stop(b *testing.B, r *testResolver) {
	close(f.done)
	f.wg.Wait()
	secs := time.Since(f.started).Seconds()
	figures["flood/seconds"] = secs
	figures["flood/rate"] = float64(f.sent.Load()) / secs
	figures["flood/401"], figures["flood/503"], figures["flood/other"] = float64(f.ok401.Load()), float64(f.ok503.Load()), float64(f.other.Load())
	figures["flood/key-reads"] = float64(r.keyReads.Load() - f.keys0)
	if f.other.Load() > 0 {
		b.Errorf("%d forgeries were not refused with 401 or 503", f.other.Load())
	}
}

// figures are the benchmark's results by sub-benchmark/metric, for the
// table printed after it.
var figures = map[string]float64{}

// verdict is a row's "ok?" cell: whether ok, the target, holds of the
// figures named, or "n/a" when one was not measured (its sub-benchmark
// filtered out by -bench), since a missing figure reads as 0.
func verdict(ok bool, needs ...string) string {
	for _, k := range needs {
		if _, measured := figures[k]; !measured {
			return "n/a"
		}
	}
	if ok {
		return "yes"
	}
	return "NO "
}

// reportLatency reports the median, 99th percentile and maximum of lat,
// and returns the 99th percentile in milliseconds.
func reportLatency(b *testing.B, lat []time.Duration) float64 {
	slices.Sort(lat)
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(q(0.5), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(q(1), "max-ms")
	return q(0.99)
}

// apiCallsOnly makes, for every pod at once, the pod read the resolver's
// checks need (its token is verified without the API server), and returns
// each pod's latency.
func apiCallsOnly(b *testing.B, cs kubernetes.Interface, pods []*corev1.Pod) []time.Duration {
	lat := make([]time.Duration, len(pods))
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, p := range pods {
		wg.Go(func() {
			<-start
			t0 := time.Now()
			_, err := cs.CoreV1().Pods(p.Namespace).Get(context.Background(), p.Name, metav1.GetOptions{})
			lat[i] = time.Since(t0)
			if err != nil {
				b.Error(err)
			}
		})
	}
	close(start)
	wg.Wait()
	return lat
}

// rollout makes every pod ask once, gap apart, and returns the latencies.
func rollout(b testing.TB, r *testResolver, tokens []string, gap time.Duration) []time.Duration {
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(suite.pki.caPEM)
	lat := make([]time.Duration, len(tokens))
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, tok := range tokens {
		wg.Go(func() {
			<-start
			time.Sleep(time.Duration(i) * gap) // the pod's start in the rollout
			c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}}
			body, _ := json.Marshal(protocol.Request{Container: "app", Env: map[string]string{"BENCH": "bench@azurekeyvault"}})
			t0 := time.Now()
			req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, r.url+protocol.ResolvePath, bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+tok)
			resp, err := c.Do(req)
			if err != nil {
				if b != nil {
					b.Error(err)
				}
				return
			}
			raw, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			lat[i] = time.Since(t0)
			if (resp.StatusCode != http.StatusOK || !bytes.Contains(raw, []byte(benchValue))) && b != nil {
				b.Error(fmt.Errorf("pod %d: %d %.100s", i, resp.StatusCode, raw))
			}
		})
	}
	close(start)
	wg.Wait()
	return lat
}
