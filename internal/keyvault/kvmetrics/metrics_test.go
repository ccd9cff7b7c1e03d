package kvmetrics

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/latchkey-dev/latchkey/internal/keyvault"
)

func TestMetrics(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m, err := New(reg)
	if err != nil {
		t.Fatal(err)
	}
	m.RequestDone("kv", keyvault.KindCertificate, keyvault.ResultOK, 30*time.Millisecond)
	m.RequestDone("kv", keyvault.KindCertificate, keyvault.ResultThrottled, time.Millisecond)
	m.RequestRejected("kv")
	m.VaultPaused("kv", 3*time.Second)
	for _, o := range []keyvault.CacheOutcome{keyvault.CacheMiss, keyvault.CacheJoined, keyvault.CacheJoined, keyvault.CacheHit} {
		m.CacheLookup(o)
	}
	checks := []struct {
		name string
		got  float64
		want float64
	}{
		{"ok requests", testutil.ToFloat64(m.requests.WithLabelValues("kv", "certificate", "ok")), 1},
		{"throttled requests", testutil.ToFloat64(m.requests.WithLabelValues("kv", "certificate", "throttled")), 1},
		{"rejected", testutil.ToFloat64(m.rejected.WithLabelValues("kv")), 1},
		{"pauses", testutil.ToFloat64(m.pauses.WithLabelValues("kv")), 1},
		{"pause seconds", testutil.ToFloat64(m.pauseSeconds.WithLabelValues("kv")), 3},
		{"joined", testutil.ToFloat64(m.cacheLookups.WithLabelValues("joined")), 2},
		{"hit", testutil.ToFloat64(m.cacheLookups.WithLabelValues("hit")), 1},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if n := testutil.CollectAndCount(m.latency); n != 1 {
		t.Errorf("latency series: %d", n)
	}
	if _, err := reg.Gather(); err != nil {
		t.Fatalf("pedantic registry: %v", err)
	}
	if _, err := New(reg); err == nil {
		t.Fatal("registering twice succeeded")
	}
}
