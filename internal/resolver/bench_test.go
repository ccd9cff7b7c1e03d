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
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/api/v2beta1"
	"github.com/latchkey-dev/latchkey/internal/resolver/protocol"
)

// BenchmarkResolverRollout: 500 pods of one Deployment start and ask the
// resolver for the same placeholder (product.md §6: 1 Key Vault read, p99
// < 50 ms). Each iteration starts a resolver with cold caches. Every pod
// opens its own TLS connection, as containers do. Two arrival patterns:
// all 500 at once (the worst case: every request queues behind the
// others on the 2 cores the API server, etcd and the resolver share), and
// spread at 100 pods a second (a rollout as kubelets start containers).
// The latency is the pod's: connection, TLS, TokenReview, pod read and
// the value.
func BenchmarkResolverRollout(b *testing.B) {
	const pods = 500
	w := newWorld(b, suite.res)
	w.akvs("bench", benchVault, "bench", v2beta1.ObjectTypeSecret)
	_, tokens := w.replicas(pods, app("app", "BENCH", "bench@azurekeyvault"))
	for _, mode := range []struct {
		name string
		gap  time.Duration // between two pods' starts
	}{{"at-once", 0}, {"100-per-second", 10 * time.Millisecond}} {
		b.Run(mode.name, func(b *testing.B) {
			var lat []time.Duration
			var reads, reviews, podGets int64
			for b.Loop() {
				b.StopTimer()
				r := newResolver(b, nil)
				before := kvReads(benchVault)
				b.StartTimer()
				lat = append(lat, rollout(b, r, tokens, mode.gap)...)
				b.StopTimer()
				reads += kvReads(benchVault) - before
				reviews += r.reviews.Load()
				podGets += r.podGets.Load()
				b.StartTimer()
			}
			slices.Sort(lat)
			q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
			n := float64(b.N)
			b.ReportMetric(float64(reads)/n, "keyvault-reads/op")
			b.ReportMetric(float64(reviews)/n, "tokenreviews/op")
			b.ReportMetric(float64(podGets)/n, "pod-reads/op")
			b.ReportMetric(q(0.5), "p50-ms")
			b.ReportMetric(q(0.99), "p99-ms")
			b.ReportMetric(q(1), "max-ms")
		})
	}
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
