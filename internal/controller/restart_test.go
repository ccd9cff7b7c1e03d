package controller_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/latchkey-dev/latchkey/api/v2beta1"
	"github.com/latchkey-dev/latchkey/internal/akvsplan"
	"github.com/latchkey-dev/latchkey/internal/controller"
)

// TestRestartReadsOnlyWhatIsDue: a controller that takes over from another
// (a restart, a new leader) does not read the objects its predecessor
// synced, but acts at once on an AzureKeyVaultSecret whose spec changed and
// on one whose output Secret was deleted while no controller ran. Every
// object has a 1-hour interval: reads in the window beyond those two are
// the objects the schedule says fell due (almost always none).
func TestRestartReadsOnlyWhatIsDue(t *testing.T) {
	t.Parallel()
	const shardName = "restart"
	ns := namespace(t)
	v := newVault(t)
	names := []string{"steady-1", "steady-2", "steady-3", "spec-changed", "output-deleted"}
	objs := map[string]*v2beta1.AzureKeyVaultSecret{}
	for _, n := range names {
		v.setSecret(t, n, n+"-restart-s3cr3t-value", "")
		objs[n] = akvs(ns, n, n, inVault(v), shard(shardName))
	}
	first := startTestController(t, shardName, []string{ns})
	for _, n := range names {
		create(t, objs[n])
	}
	for _, n := range names {
		waitForReady(t, ns, n, metav1.ConditionTrue, controller.ReasonSynced)
		waitForSecret(t, ns, n, hasData(data("value", n+"-restart-s3cr3t-value")))
	}
	first.stop()
	synced := v.reads()
	if synced != int64(len(names)) {
		t.Fatalf("%d reads to sync %d objects, want one each", synced, len(names))
	}

	// While no controller runs: a spec change, and a deleted output.
	update(t, getAKVS(t, ns, "spec-changed"), func(a *v2beta1.AzureKeyVaultSecret) {
		a.Spec.Output.Secret.DataKey = "renamed"
	})
	deleteObject(t, getSecret(t, ns, "output-deleted"))

	start := time.Now()
	second := startTestController(t, shardName, []string{ns})
	waitForSecret(t, ns, "spec-changed", hasData(data("renamed", "spec-changed-restart-s3cr3t-value")))
	a := waitForReady(t, ns, "spec-changed", metav1.ConditionTrue, controller.ReasonSynced)
	if c := readyCondition(a); c.ObservedGeneration != a.Generation {
		t.Errorf("Ready describes generation %d, the spec is at %d", c.ObservedGeneration, a.Generation)
	}
	waitForSecret(t, ns, "output-deleted", hasData(data("value", "output-deleted-restart-s3cr3t-value")))
	// Time for the new controller to act on the steady ones, if it would.
	window(3 * time.Second)
	end := time.Now()
	second.stop()

	due := 0
	interval := controllerConfig().Manager.Controller.RefreshInterval
	jitter := controllerConfig().Manager.Controller.Jitter
	for _, n := range []string{"steady-1", "steady-2", "steady-3"} {
		if controller.NextRefresh(akvsplan.Of(objs[n]).Object(), interval, jitter, start).Before(end) {
			due++
		}
	}
	reads := v.reads() - synced
	t.Logf("after the restart: %d reads (%d objects acted on, %d due by the schedule)", reads, 2, due)
	if want := int64(2 + due); reads != want {
		t.Errorf("%d reads after the restart, want %d: the spec change and the deleted output, plus %d due", reads, want, due)
	}
	// The steady objects' outputs and statuses are as the first left them.
	for _, n := range []string{"steady-1", "steady-2", "steady-3"} {
		waitForSecret(t, ns, n, hasData(data("value", n+"-restart-s3cr3t-value")))
	}
}

// TestMeanRefreshPeriodIsTheInterval: objects on the suite's fast shard
// (interval 1 s) are read once per interval on average, measured from the
// times of successive reads of each object: not later, as when each
// period was counted from the end of the pass and stretched by jitter
// (0.8-0.95 reads per interval).
func TestMeanRefreshPeriodIsTheInterval(t *testing.T) {
	t.Parallel()
	const (
		objects  = 3
		measured = 12 * fastInterval
		every    = 5 * time.Millisecond
	)
	ns := namespace(t)
	var vaults []*testVault
	for i := range objects {
		v := newVault(t)
		vaults = append(vaults, v)
		name := fmt.Sprintf("periodic-%d", i)
		v.setSecret(t, name, name+"-s3cr3t-value", "")
		create(t, akvs(ns, name, name, inVault(v), everySecond))
	}
	for i := range objects {
		waitForReady(t, ns, fmt.Sprintf("periodic-%d", i), metav1.ConditionTrue, controller.ReasonSynced)
	}
	window(2 * fastInterval) // past the first read and the first refresh

	// The time of each read: the vault's counter, sampled.
	last := make([]int64, objects)
	times := make([][]time.Time, objects)
	for i, v := range vaults {
		last[i] = v.reads()
	}
	ctx, cancel := context.WithTimeout(context.Background(), measured)
	defer cancel()
	tick := time.NewTicker(every)
	defer tick.Stop()
	for ctx.Err() == nil {
		now := <-tick.C
		for i, v := range vaults {
			for n := v.reads(); last[i] < n; last[i]++ {
				times[i] = append(times[i], now)
			}
		}
	}
	var sum time.Duration
	gaps := 0
	for _, ts := range times {
		for i := 1; i < len(ts); i++ {
			sum += ts[i].Sub(ts[i-1])
			gaps++
		}
	}
	if gaps < objects*8 {
		t.Fatalf("%d gaps between reads in %s for %d objects: the refreshes did not happen", gaps, measured, objects)
	}
	mean := sum / time.Duration(gaps)
	t.Logf("mean period %s over %d gaps (interval %s)", mean, gaps, fastInterval)
	// The sampling (5 ms) and a late pass move single reads, not the mean:
	// 2% is far below the 5% the old rule's jitter alone added.
	if tol := fastInterval / 50; mean < fastInterval-tol || mean > fastInterval+tol {
		t.Errorf("mean refresh period %s, want %s ± %s", mean, fastInterval, tol)
	}
}
