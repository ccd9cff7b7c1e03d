package bench

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/latchkey-dev/latchkey/api/v2beta1"
	"github.com/latchkey-dev/latchkey/internal/akvsplan"
	"github.com/latchkey-dev/latchkey/internal/controller"
)

// Memory benchmark sizes: memoryVaults namespaces, each with
// objectsPerVault AzureKeyVaultSecrets (one per object of its own vault)
// and unrelatedPerNamespace Secrets latchkey has nothing to do with.
const (
	unrelatedPerNamespace = 5000
	unrelatedSecretBytes  = 1024
	settleTime            = 5 * time.Second
	mb                    = 1 << 20
	memoryTarget          = 150 * mb
)

// memoryFlags raise the controller's workers and API client limits so that
// syncing 10,000 AKVS takes minutes, not many: with the defaults the sync is
// paced by 16 workers waiting on the API server (measured: 172 s with the
// API server at 54% CPU). More requests in flight can only raise the memory
// measured, so the figure errs on the safe side.
var memoryFlags = []string{"--workers=64", "--kube-api-qps=1000", "--kube-api-burst=2000"}

// memoryLimit is the Go soft memory limit of the reference run (see
// BenchmarkMemory).
const memoryLimit = "GOMEMLIMIT=100MiB"

// benchMemory measures BenchmarkMemory.
func benchMemory(b *testing.B) {
	e := environment(b)
	var namespaces []string
	want := map[types.NamespacedName]string{}
	var objs []*v2beta1.AzureKeyVaultSecret
	for k := range memoryVaults {
		ns := fmt.Sprintf("bench-mem-%d", k)
		namespaces = append(namespaces, ns)
		for i := range objectsPerVault {
			name := fmt.Sprintf("akvs-%d", i)
			objs = append(objs, akvsSpec(ns, name, memoryVault(k), i))
			want[types.NamespacedName{Namespace: ns, Name: name}] = objectValue(memoryVault(k), i)
		}
	}
	e.createNamespaces(b, namespaces...)
	setup := time.Now()
	e.createUnrelatedSecrets(b, namespaces)
	setupTook := time.Since(setup)
	tr := e.track(b, namespaces, want)

	cpu, updates0 := takeCPU(), e.etcdUpdates(b, "azurekeyvaultsecrets")
	b.ResetTimer()
	start := time.Now()
	ctl := e.startController(b, "memory", memoryFlags...)
	e.createAll(b, objs)
	created := time.Since(start)
	tr.wait(b, 15*time.Minute)
	synced := time.Since(start)
	b.StopTimer()
	syncCPU := cpuSince(cpu)
	time.Sleep(settleTime)
	rss, peak := ctl.mustMemory(b)
	ctl.heapProfile(b, "memory")
	m := ctl.scrape(b)
	akvsUpdates := e.etcdUpdates(b, "azurekeyvaultsecrets") - updates0
	ctl.stop()

	restart := e.restartForMemory(b, "memory-restart", objs, nil, restartWindow)
	limited := e.restartForMemory(b, "memory-restart-limit", objs, []string{memoryLimit}, 0)

	b.ReportMetric(float64(peak)/mb, "MB-RSS-peak")
	b.ReportMetric(float64(rss)/mb, "MB-RSS")
	b.ReportMetric(float64(restart.peak)/mb, "MB-RSS-peak-restart")
	b.ReportMetric(float64(restart.rss)/mb, "MB-RSS-restart")
	report.add("controller peak RSS (VmHWM), 10,000 AKVS created and synced among 50,000 unrelated Secrets",
		megabytes(peak), "< 150 MB", peak < memoryTarget)
	report.add(fmt.Sprintf("controller RSS (VmRSS) %s after that sync", settleTime),
		megabytes(rss), "< 150 MB", rss < memoryTarget)
	report.add("controller peak RSS (VmHWM) after a restart (10,000 AKVS queued at once, outputs up to date)",
		megabytes(restart.peak), "< 150 MB", restart.peak < memoryTarget)
	report.add(fmt.Sprintf("controller RSS (VmRSS) %s after the restart's sync", settleTime),
		megabytes(restart.rss), "< 150 MB", restart.rss < memoryTarget)
	report.add(fmt.Sprintf("Key Vault reads in the first %s after a controller restart, %d AKVS synced (refresh %s): read / due by the schedule",
		restartWindow, len(objs), restart.interval), fmt.Sprintf("%d / %d", restart.reads, restart.due),
		fmt.Sprintf("only those due (≤ %d, not %d)", restart.due, len(objs)), restart.reads <= int64(restart.due))
	report.reference("the same restart with "+memoryLimit+": peak RSS (VmHWM)", megabytes(limited.peak))
	report.notef("memory: setup %.0f s (%d unrelated Secrets of %d B, %d at a time); then the controller started and %d AKVS were created "+
		"(done at %.0f s), all correct at %.0f s (%s): %s; %.0f etcd updates of AKVS (status patches that changed something); %s; Go runtime after settling: %s",
		setupTook.Seconds(), memoryVaults*unrelatedPerNamespace, unrelatedSecretBytes, setupWorkers, len(objs), created.Seconds(),
		synced.Seconds(), settingsOf(memoryFlags), reconcileStats(m), akvsUpdates, syncCPU, heapStats(m))
	for _, r := range []restartMemory{restart, limited} {
		report.notef("memory, restart%s: all %d AKVS reconciled again after %.0f s (%.0f taken over unread, %.0f synced; API writes: %s); VmHWM %s, VmRSS %s; Go runtime: %s",
			r.env, len(objs), r.took.Seconds(), r.takenOver, r.synced, writesString(r.writes), megabytes(r.peak), megabytes(r.rss), r.heap)
	}
}

// restartMemory is what one restart of the controller measured.
type restartMemory struct {
	env       string
	rss, peak int64
	took      time.Duration
	writes    apiWrites
	heap      string
	// takenOver and synced are the AKVS the controller found synced by its
	// predecessor and those it synced itself.
	takenOver, synced float64
	// reads are the Key Vault reads in the restart window, due the objects
	// whose due time by the schedule falls in it, with the controller's
	// refresh interval.
	reads    int64
	due      int
	interval time.Duration
}

// restartWindow is how long after a restart its Key Vault reads are counted.
const restartWindow = 2 * time.Minute

// restartForMemory starts the controller over the synced objects, waits
// until it reconciled all of them and settleTime more, and reads its
// memory. With a window, it also counts the Key Vault reads from the start
// until the window has passed, and the objects due in it.
func (e *benchEnv) restartForMemory(b *testing.B, name string, objs []*v2beta1.AzureKeyVaultSecret, env []string, window time.Duration) restartMemory {
	b.Helper()
	n := len(objs)
	r := restartMemory{env: strings.Join(env, " ")}
	if r.env != "" {
		r.env = " with " + r.env
	}
	sched := controller.DefaultManagerOptions().Controller
	r.interval = sched.RefreshInterval
	c0 := e.emu.Counters().Snapshot()
	start := time.Now()
	for _, o := range objs {
		if controller.NextRefresh(akvsplan.Of(o).Object(), sched.RefreshInterval, sched.Jitter, start).Before(start.Add(window)) {
			r.due++
		}
	}
	w0 := e.apiWrites(b)
	ctl := e.startControllerWithEnv(b, name, env, memoryFlags...)
	reconciled := func(m metricSet) float64 {
		return m.sum("latchkey_syncs_total", nil) + m.sum("latchkey_akvs_taken_over_total", nil)
	}
	for reconciled(ctl.scrape(b)) < float64(n) {
		if time.Since(start) > 10*time.Minute {
			b.Fatalf("%s: not all %d AKVS reconciled after 10 minutes", name, n)
		}
		time.Sleep(250 * time.Millisecond)
	}
	r.took = time.Since(start)
	time.Sleep(settleTime)
	r.rss, r.peak = ctl.mustMemory(b)
	ctl.heapProfile(b, name)
	r.writes = e.apiWrites(b).minus(w0)
	m := ctl.scrape(b)
	r.heap = heapStats(m)
	r.takenOver, r.synced = m.sum("latchkey_akvs_taken_over_total", nil), m.sum("latchkey_syncs_total", nil)
	if window > 0 {
		time.Sleep(time.Until(start.Add(window)))
		c1 := e.emu.Counters().Snapshot()
		for k := range memoryVaults {
			r.reads += c1.Count(memoryVault(k), "", 200) - c0.Count(memoryVault(k), "", 200)
		}
	}
	ctl.stop()
	return r
}

func megabytes(n int64) string { return fmt.Sprintf("%.0f MB", float64(n)/mb) }

// heapStats summarises the Go runtime's view of the controller's memory.
func heapStats(m metricSet) string {
	return fmt.Sprintf("heap in use %.0f MB, heap idle not yet returned %.0f MB, stacks %.0f MB, other runtime %.0f MB, %.0f goroutines",
		m.sum("go_memstats_heap_inuse_bytes", nil)/mb,
		(m.sum("go_memstats_heap_idle_bytes", nil)-m.sum("go_memstats_heap_released_bytes", nil))/mb,
		m.sum("go_memstats_stack_inuse_bytes", nil)/mb,
		(m.sum("go_memstats_sys_bytes", nil)-m.sum("go_memstats_heap_sys_bytes", nil)-m.sum("go_memstats_stack_sys_bytes", nil))/mb,
		m.sum("go_goroutines", nil))
}

// createUnrelatedSecrets fills the namespaces with Secrets latchkey must
// never hold in memory: no label of ours, 1 KiB of data each.
func (e *benchEnv) createUnrelatedSecrets(b *testing.B, namespaces []string) {
	b.Helper()
	payload := []byte(strings.Repeat("x", unrelatedSecretBytes))
	n := len(namespaces) * unrelatedPerNamespace
	err := parallel(n, setupWorkers, func(i int) error {
		s := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: namespaces[i%len(namespaces)], Name: fmt.Sprintf("unrelated-%d", i)},
			Data:       map[string][]byte{"data": payload},
		}
		_, err := e.kube.CoreV1().Secrets(s.Namespace).Create(context.Background(), s, metav1.CreateOptions{})
		return err
	})
	if err != nil {
		b.Fatalf("creating unrelated Secrets: %v", err)
	}
}
