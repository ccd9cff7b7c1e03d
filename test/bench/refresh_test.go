package bench

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/latchkey-dev/latchkey/api/v2beta1"
)

// benchRefresh measures BenchmarkRefresh.
func benchRefresh(b *testing.B) {
	e := environment(b)
	const (
		ns              = "bench-refresh"
		akvsPerObject   = 10
		interval        = 2 * time.Second
		measuredPeriods = 10
		// sampleEvery is how often the emulator's counters are read to
		// time each object's reads.
		sampleEvery = 10 * time.Millisecond
	)
	n := refreshVaults * akvsPerObject
	e.createNamespaces(b, ns)
	e.cleanupNamespace(b, ns)

	var vaults []string
	for i := range refreshVaults {
		vaults = append(vaults, refreshVault(i))
	}
	want := map[types.NamespacedName]string{}
	var objs []*v2beta1.AzureKeyVaultSecret
	for i := range n {
		name, vault := fmt.Sprintf("akvs-%d", i), vaults[i%refreshVaults]
		objs = append(objs, akvsSpec(ns, name, vault, 0))
		want[types.NamespacedName{Namespace: ns, Name: name}] = objectValue(vault, 0)
	}
	tr := e.track(b, []string{ns}, want)
	ctl := e.startController(b, "refresh", "--namespaces="+ns, "--refresh-interval="+interval.String())

	w0 := e.apiWrites(b)
	e.createAll(b, objs)
	tr.wait(b, 2*time.Minute)
	// Let the last status writes of the initial sync land, and the first
	// refresh after it pass.
	time.Sleep(interval * 3 / 2)
	initial := e.apiWrites(b).minus(w0)
	// The counter must see the controller's writes for its 0 below to mean
	// anything: the initial sync wrote every output Secret.
	if initial["secrets"] < float64(n) {
		b.Fatalf("the API write counter saw %.0f Secret writes during the initial sync of %d AKVS: it cannot show that a refresh writes nothing", initial["secrets"], n)
	}

	w1, m0 := e.apiWrites(b), ctl.scrape(b)
	c0, t0 := e.emu.Counters().Snapshot(), time.Now()
	b.ResetTimer()
	reads := e.readTimes(vaults, measuredPeriods*interval, sampleEvery)
	b.StopTimer()
	c1, window := e.emu.Counters().Snapshot(), time.Since(t0)
	w2, m1 := e.apiWrites(b), ctl.scrape(b)

	var okReads, challenges, other int64
	for _, v := range vaults {
		okReads += c1.Count(v, "", 200) - c0.Count(v, "", 200)
		challenges += c1.Count(v, "", 401) - c0.Count(v, "", 401)
		other += c1.Count(v, "", -1) - c0.Count(v, "", -1)
	}
	other -= okReads + challenges
	writes := w2.minus(w1)
	syncs := m1.sum("latchkey_syncs_total", nil) - m0.sum("latchkey_syncs_total", nil)
	meanGap, minGap, gaps := readGaps(reads)
	if gaps == 0 {
		b.Fatalf("no object was read twice in %s: the refresh did not run", window)
	}

	// Reads per refresh interval per object, from the time between one
	// object's successive reads: free of where the window starts and ends.
	readsPerObject := interval.Seconds() / meanGap.Seconds()
	periods := window.Seconds() / interval.Seconds()
	writesPerRefresh := writes.outputWrites() / periods
	syncsPerAKVS := syncs / (periods * float64(n))
	b.ReportMetric(readsPerObject, "reads/refresh/object")
	b.ReportMetric(writesPerRefresh, "writes/refresh")
	b.ReportMetric(syncsPerAKVS, "syncs/refresh/akvs")

	// One read per due time, however many AKVS share the object: two reads
	// for one due time would be close together. A read made late (a busy
	// machine) is followed by one on time, so a gap may be a little
	// shorter than the interval; the mean is what the interval promises.
	oncePerDue := minGap > interval/2
	report.add("Key Vault reads per refresh per distinct object (100 AKVS over 10 objects, refresh 2 s)",
		fmt.Sprintf("%.3f", readsPerObject), "≤ 1.0 (± 0.02: counters sampled every 10 ms)", readsPerObject <= 1.02 && oncePerDue)
	report.add("API writes per refresh when nothing changed (same setup)",
		fmt.Sprintf("%.2f", writesPerRefresh), "0", writesPerRefresh == 0)
	report.notef("refresh: %s (%.1f intervals of 2 s) measured after the initial sync: %d successful Key Vault reads (%.2f per object per interval by count), "+
		"%d other Key Vault answers, %d challenges; the same object was read every %s on average, never less than %s apart (%d gaps); "+
		"%.0f reconciles (%.2f per AKVS per interval: every AKVS was refreshed); API writes: %s, events %.0f. "+
		"During the initial sync the controller wrote %.0f Secrets and %.0f AKVS status patches for %d AKVS (proof that the write counter sees its writes)",
		window.Round(time.Millisecond), periods, okReads, float64(okReads)/(periods*refreshVaults), other, challenges,
		meanGap.Round(time.Millisecond), minGap.Round(time.Millisecond), gaps, syncs, syncsPerAKVS, writesString(writes), writes["events"],
		initial["secrets"], initial["azurekeyvaultsecrets"]-float64(n), n)
	tunnelled, refused := e.proxy.Hosts()
	report.notef("proxy: the controller process reached Key Vault and Entra ID only through HTTPS_PROXY: tunnels %v, refused %v; "+
		"emulator token requests so far %d",
		sortedCounts(tunnelled), sortedCounts(refused), c1.Count("", "Token", -1))
}

// readTimes reads the emulator's counters every `every` for d and returns,
// per vault, when each successful request was first counted.
func (e *benchEnv) readTimes(vaults []string, d, every time.Duration) map[string][]time.Time {
	last := map[string]int64{}
	snap := e.emu.Counters().Snapshot()
	for _, v := range vaults {
		last[v] = snap.Count(v, "", 200)
	}
	out := map[string][]time.Time{}
	tick := time.NewTicker(every)
	defer tick.Stop()
	end := time.Now().Add(d)
	for now := range tick.C {
		snap := e.emu.Counters().Snapshot()
		for _, v := range vaults {
			for c := snap.Count(v, "", 200); last[v] < c; last[v]++ {
				out[v] = append(out[v], now)
			}
		}
		if now.After(end) {
			break
		}
	}
	return out
}

// readGaps is the mean and the shortest time between two successive reads
// of one vault, over every vault, and how many gaps there were.
func readGaps(reads map[string][]time.Time) (mean, shortest time.Duration, n int) {
	var sum time.Duration
	for _, ts := range reads {
		for i := 1; i < len(ts); i++ {
			g := ts[i].Sub(ts[i-1])
			if n == 0 || g < shortest {
				shortest = g
			}
			sum += g
			n++
		}
	}
	if n == 0 {
		return 0, 0, 0
	}
	return sum / time.Duration(n), shortest, n
}

func writesString(w apiWrites) string {
	return fmt.Sprintf("secrets %.0f, configmaps %.0f, azurekeyvaultsecrets %.0f", w["secrets"], w["configmaps"], w["azurekeyvaultsecrets"])
}

func sortedCounts(m map[string]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// benchRefreshInterval measures BenchmarkRefreshInterval.
func benchRefreshInterval(b *testing.B) {
	e := environment(b)
	const (
		ns        = "bench-steady"
		interval  = 30 * time.Second
		periods   = 3
		tolerance = 0.02
	)
	e.createNamespaces(b, ns)
	e.cleanupNamespace(b, ns)
	want := map[types.NamespacedName]string{}
	var objs []*v2beta1.AzureKeyVaultSecret
	for i := range steadyObjects {
		name := fmt.Sprintf("akvs-%d", i)
		objs = append(objs, akvsSpec(ns, name, steadyVault, i))
		want[types.NamespacedName{Namespace: ns, Name: name}] = objectValue(steadyVault, i)
	}
	tr := e.track(b, []string{ns}, want)
	ctl := e.startController(b, "steady", "--namespaces="+ns, "--refresh-interval="+interval.String())
	e.createAll(b, objs)
	tr.wait(b, 2*time.Minute)

	m0 := ctl.scrape(b)
	c0, t0 := e.emu.Counters().Snapshot(), time.Now()
	b.ResetTimer()
	time.Sleep(periods * interval)
	b.StopTimer()
	c1, window := e.emu.Counters().Snapshot(), time.Since(t0)
	m1 := ctl.scrape(b)
	reads := c1.Count(steadyVault, "", 200) - c0.Count(steadyVault, "", 200)
	syncs := m1.sum("latchkey_syncs_total", nil) - m0.sum("latchkey_syncs_total", nil)
	perInterval := float64(reads) / float64(steadyObjects*periods)
	b.ReportMetric(perInterval, "reads/object/interval")
	report.add(fmt.Sprintf("Key Vault reads per object per refresh interval, steady set (%d AKVS on %d objects, refresh %s, over %d intervals)",
		steadyObjects, steadyObjects, interval, periods),
		fmt.Sprintf("%.3f", perInterval), fmt.Sprintf("1.00 ± %.2f", tolerance), perInterval >= 1-tolerance && perInterval <= 1+tolerance)
	report.notef("refresh interval: %d successful Key Vault reads in %s for %d objects (mean period %s per object); %.0f reconciles",
		reads, window.Round(time.Millisecond), steadyObjects, (time.Duration(steadyObjects) * window / time.Duration(max(reads, 1))).Round(time.Millisecond), syncs)
}
