package controller

import (
	"hash/fnv"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/types"

	"github.com/latchkey-dev/latchkey/api/v2beta1"
)

// Metrics are the controller's own metrics plus akv2k8s 1.8.4's two sync
// counters under their names, labels and help, so existing dashboards and
// alerts keep working (docs/reference.md#metrics).
type Metrics struct {
	syncs       *prometheus.CounterVec
	lastSuccess *prometheus.GaugeVec
	legacy      legacySyncs
	takenOver   prometheus.Counter
	// rollouts and workloadPatches count rollouts on change (rollouts.go).
	rollouts, workloadPatches *prometheus.CounterVec
}

// NewMetrics registers the controller's metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		syncs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "latchkey_syncs_total",
			Help: "AzureKeyVaultSecret reconciles, by result (success, failure) and Ready reason.",
		}, []string{"result", "reason"}),
		// Status is written only when something changes, so it cannot say
		// how fresh an output is; this can: time() minus it is the
		// staleness, and an alert on it catches a resource that has failed
		// for too long while its last good Secret stays.
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "latchkey_akvs_last_success_timestamp_seconds",
			Help: "When each AzureKeyVaultSecret was last found Ready: its outputs matched Key Vault as read within the refresh interval (Unix time).",
		}, []string{"namespace", "name"}),
		legacy: newLegacySyncs(),
		takenOver: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "latchkey_akvs_taken_over_total",
			Help: "AzureKeyVaultSecrets this controller found synced by its predecessor when it started, and left unread until their next refresh due time.",
		}),
		rollouts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "latchkey_rollouts_total",
			Help: "Workloads rolled out because the version of an AzureKeyVaultSecret they consume changed, by kind (Deployment, StatefulSet, DaemonSet).",
		}, []string{"kind"}),
		workloadPatches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "latchkey_workload_patches_total",
			Help: "Patches of opted-in workloads, by kind: every rollout, and every baseline recorded without a rollout (opting in, a consumption added or removed).",
		}, []string{"kind"}),
	}
	reg.MustRegister(m.syncs, m.lastSuccess, m.legacy.total, m.legacy.failed, m.takenOver, m.rollouts, m.workloadPatches)
	return m
}

// observeSync counts one reconcile of akvs, ending at now. A nil *Metrics
// counts nothing (tests).
func (m *Metrics) observeSync(akvs *v2beta1.AzureKeyVaultSecret, o outcome, now time.Time) {
	if m == nil {
		return
	}
	key := types.NamespacedName{Namespace: akvs.Namespace, Name: akvs.Name}
	result := "success"
	if o.ready {
		m.lastSuccess.WithLabelValues(key.Namespace, key.Name).Set(float64(now.UnixNano()) / 1e9)
	} else {
		result = "failure"
	}
	m.syncs.WithLabelValues(result, o.reason).Inc()
	m.legacy.observe(key, seenOf(akvs), o)
}

// observeWorkloadPatch counts a patch of a workload of kind, and a rollout
// when it rolled.
func (m *Metrics) observeWorkloadPatch(kind string, rolled bool) {
	if m == nil {
		return
	}
	m.workloadPatches.WithLabelValues(kind).Inc()
	if rolled {
		m.rollouts.WithLabelValues(kind).Inc()
	}
}

// forget drops the series of a deleted AzureKeyVaultSecret and counts its
// deletion as akv2k8s did.
// observeTakeOver counts an AzureKeyVaultSecret taken over (takeover.go).
func (m *Metrics) observeTakeOver() {
	if m != nil {
		m.takenOver.Inc()
	}
}

func (m *Metrics) forget(key types.NamespacedName) {
	if m != nil {
		m.lastSuccess.DeleteLabelValues(key.Namespace, key.Name)
		m.legacy.deleted(key)
	}
}

// observeCleanupFailure counts an output that could not be rid of the keys
// of a deleted AzureKeyVaultSecret.
func (m *Metrics) observeCleanupFailure() {
	if m != nil {
		m.legacy.failed.WithLabelValues(opDelete, objAKVS).Inc()
	}
}

// akv2k8s's label values: operation is the informer event (or "sync", a
// Key Vault read); object is what was synced. akv2k8s 1.8.4 counted
// exactly these pairs (test/akv2k8s/metrics.yaml lists them with their
// source).
const (
	opAdd    = "add"
	opUpdate = "update"
	opDelete = "delete"
	opSync   = "sync"
	objAKVS  = "AzureKeyVaultSecret"
	objVault = "AzureKeyVault"
)

// legacySyncs are akv2k8s_syncs_total and akv2k8s_syncs_failed_total.
// akv2k8s counted informer events, which latchkey's reconciles do not
// carry, so the counters remember each AzureKeyVaultSecret's UID,
// generation and metadata from its last pass and tell the events apart.
type legacySyncs struct {
	total, failed *prometheus.CounterVec
	mu            sync.Mutex
	seen          map[types.NamespacedName]seen
}

func newLegacySyncs() legacySyncs {
	labels := []string{"operation", "object"}
	return legacySyncs{
		total:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: "akv2k8s_syncs_total", Help: "The total number of syncs"}, labels),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "akv2k8s_syncs_failed_total", Help: "The total number of sync failures"}, labels),
		seen:   map[types.NamespacedName]seen{},
	}
}

// seen is what the counters remember of an AzureKeyVaultSecret.
type seen struct {
	uid        types.UID
	generation int64
	// metadata hashes the labels and annotations, which are copied onto
	// the outputs: changing them is changing the AzureKeyVaultSecret.
	metadata uint64
	// output: akv2k8s counted only AzureKeyVaultSecrets with an output.
	output bool
	// unreadable: the stored spec could not be decoded.
	unreadable bool
}

func seenOf(akvs *v2beta1.AzureKeyVaultSecret) seen {
	return seen{uid: akvs.UID, generation: akvs.Generation, metadata: hashMetadata(akvs.Labels, akvs.Annotations),
		output:     akvs.Spec.Output != nil && (akvs.Spec.Output.Secret != nil || akvs.Spec.Output.ConfigMap != nil),
		unreadable: len(akvs.Unreadable) > 0}
}

// legacyPass is what akv2k8s 1.8.4 would have counted for one pass.
type legacyPass struct {
	// op and obj label akv2k8s_syncs_total; empty: not counted.
	op, obj string
	// failedOp and failedObj label akv2k8s_syncs_failed_total; empty: not
	// counted.
	failedOp, failedObj string
}

// classifyPass decides, from what was seen of an AzureKeyVaultSecret before
// (nil: nothing, or another object of that name) and now, and the pass's
// outcome, what akv2k8s 1.8.4 would have counted. Its informer event:
//   - first seen (created, or listed at the controller's start): add;
//   - its spec, labels or annotations changed: update of the
//     AzureKeyVaultSecret;
//   - nothing changed (a refresh, a retry, an output repaired): update of
//     the AzureKeyVault, akv2k8s's periodic check of Key Vault;
//
// each counted only for objects with an output, as akv2k8s did. A failed
// Key Vault read is a failed sync of the AzureKeyVault; a spec that cannot
// be decoded fails the event that brought it (under akv2k8s's labels, which
// called an update it could not decode "AzureKeyVault") and counts no sync.
func classifyPass(prev *seen, cur seen, o outcome) legacyPass {
	var p legacyPass
	var counted bool
	switch {
	case prev == nil || prev.uid != cur.uid:
		p.op, p.obj, counted = opAdd, objAKVS, cur.output
		p.failedOp, p.failedObj = opAdd, objAKVS
	case prev.generation != cur.generation || prev.metadata != cur.metadata:
		p.op, p.obj, counted = opUpdate, objAKVS, cur.output || prev.output
		p.failedOp, p.failedObj = opUpdate, objVault
	default:
		p.op, p.obj, counted = opUpdate, objVault, cur.output
		p.failedOp, p.failedObj = opUpdate, objVault
	}
	switch {
	case cur.unreadable:
		counted = false
	case keyVaultFailed(o):
		p.failedOp, p.failedObj = opSync, objVault
	default:
		p.failedOp, p.failedObj = "", ""
	}
	if !counted {
		p.op, p.obj = "", ""
	}
	return p
}

// keyVaultFailed reports whether a pass failed reading Key Vault.
func keyVaultFailed(o outcome) bool {
	switch o.reason {
	case ReasonObjectNotFound, ReasonForbidden, ReasonAuthenticationFailed, ReasonThrottled, ReasonKeyVaultUnavailable:
		return true
	}
	return false
}

// observe counts one pass of the AzureKeyVaultSecret key.
func (l *legacySyncs) observe(key types.NamespacedName, cur seen, o outcome) {
	l.mu.Lock()
	prev, ok := l.seen[key]
	l.seen[key] = cur
	l.mu.Unlock()
	var p legacyPass
	if ok {
		p = classifyPass(&prev, cur, o)
	} else {
		p = classifyPass(nil, cur, o)
	}
	if p.op != "" {
		l.total.WithLabelValues(p.op, p.obj).Inc()
	}
	if p.failedOp != "" {
		l.failed.WithLabelValues(p.failedOp, p.failedObj).Inc()
	}
}

// deleted counts the deletion of an AzureKeyVaultSecret seen with an output.
func (l *legacySyncs) deleted(key types.NamespacedName) {
	l.mu.Lock()
	prev, ok := l.seen[key]
	delete(l.seen, key)
	l.mu.Unlock()
	if ok && prev.output {
		l.total.WithLabelValues(opDelete, objAKVS).Inc()
	}
}

// hashMetadata is a fingerprint of labels and annotations.
func hashMetadata(maps ...map[string]string) uint64 {
	h := fnv.New64a()
	for _, m := range maps {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			_, _ = h.Write([]byte(k))
			_, _ = h.Write([]byte{0})
			_, _ = h.Write([]byte(m[k]))
			_, _ = h.Write([]byte{0})
		}
		_, _ = h.Write([]byte{1})
	}
	return h.Sum64()
}
