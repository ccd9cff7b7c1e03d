package vaultkv_test

import (
	"fmt"
	"testing"
)

// BenchmarkVault prints, for `make bench`, what HashiCorp Vault sees from
// latchkey against the real Vault the tests build: logins and KV reads per
// refresh for 100 resources on one path across 10 namespaces, and for a
// 500-pod rollout asking for one path. Each figure is printed beside its
// target; a miss fails the benchmark.
func BenchmarkVault(b *testing.B) {
	fmt.Printf("| %-70s | %5s | %5s | %-3s |\n", "HashiCorp Vault (v1.1.2, real server)", "seen", "want", "ok?")
	b.Run("refresh-100-resources-10-namespaces", func(b *testing.B) {
		for _, p := range refreshCost(b) {
			row(b, fmt.Sprintf("100 resources, 10 namespaces, %s: logins", p.name), p.logins, p.wantLogins)
			row(b, fmt.Sprintf("100 resources, 10 namespaces, %s: KV reads", p.name), p.reads, p.wantReads)
		}
	})
	b.Run("rollout-500-pods", func(b *testing.B) {
		logins, reads, tokens := rolloutCost(b)
		row(b, "500 pods of one rollout: logins", logins, 1)
		row(b, "500 pods of one rollout: KV reads", reads, 1)
		row(b, "500 pods of one rollout: TokenRequests", tokens, 1)
		b.ReportMetric(float64(logins), "logins")
		b.ReportMetric(float64(reads), "kv-reads")
	})
}

// row prints one figure beside its target and fails b when they differ.
func row(b *testing.B, figure string, got, want int) {
	ok := "yes"
	if got != want {
		ok = "NO"
		b.Errorf("%s: %d, want %d", figure, got, want)
	}
	fmt.Printf("| %-70s | %5d | %5d | %-3s |\n", figure, got, want, ok)
}
