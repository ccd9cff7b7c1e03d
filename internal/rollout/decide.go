package rollout

import (
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"slices"
	"strings"
	"time"
)

// Versions maps AzureKeyVaultSecret names to the version of their object
// (status.objectVersion: the Key Vault version, or HashiCorp Vault's KV v2
// version). Versions are not secrets.
type Versions map[string]string

// String is the sorted `akvs=version` list, comma-separated: the form of
// BaselineAnnotation.
func (v Versions) String() string {
	parts := make([]string, 0, len(v))
	for _, k := range slices.Sorted(maps.Keys(v)) {
		parts = append(parts, k+"="+v[k])
	}
	return strings.Join(parts, ",")
}

// Digest is a short stable digest of v: VersionsAnnotation's value, bounded
// whatever the number of AzureKeyVaultSecrets consumed.
func (v Versions) Digest() string {
	h := sha256.Sum256([]byte(v.String()))
	return hex.EncodeToString(h[:8])
}

// ParseVersions reads String's form. Malformed entries (edited by hand) are
// skipped: such a baseline only makes the next change of that object record
// its version rather than roll.
func ParseVersions(s string) Versions {
	v := Versions{}
	for part := range strings.SplitSeq(s, ",") {
		name, version, ok := strings.Cut(part, "=")
		if ok && name != "" && version != "" {
			v[name] = version
		}
	}
	return v
}

// State is what a workload records of its rollouts, on its own metadata.
type State struct {
	// Baseline is the versions its pods run with; nil when none is recorded
	// (the workload was just opted in).
	Baseline Versions
	// RolledAt is when latchkey last rolled it; zero: never.
	RolledAt time.Time
}

// StateOf reads a workload's State from its annotations.
func StateOf(annotations map[string]string) State {
	var st State
	if s, ok := annotations[BaselineAnnotation]; ok {
		st.Baseline = ParseVersions(s)
	}
	if t, err := time.Parse(time.RFC3339, annotations[RolledAtAnnotation]); err == nil {
		st.RolledAt = t
	}
	return st
}

// Decision is what to do with one workload now.
type Decision struct {
	// Write says to patch the workload's metadata with Baseline (and, when
	// Roll, its pod template's VersionsAnnotation and RolledAtAnnotation).
	Write bool
	// Roll says to roll the workload out.
	Roll bool
	// Baseline is the baseline to record when Write.
	Baseline Versions
	// Changed names the AzureKeyVaultSecrets whose version differs from the
	// baseline, sorted: rolled for when Roll, else pending.
	Changed []string
	// Wait, when positive, is how long until a pending change is due.
	Wait time.Duration
}

// Decide decides for a workload in state st whose pod template consumes
// current (the AzureKeyVaultSecrets whose version is known), at now:
//   - no baseline yet (just opted in): record current, roll nothing —
//     opting in never restarts anything;
//   - an object whose version differs from the baseline is a change; the
//     workload rolls once the first change seen (pendingSince; zero: now)
//     is a window old, and a window after its last rollout: several changes
//     within a window make one rollout, and a workload rolls at most once a
//     window, across restarts since RolledAt is stored on it;
//   - an object newly consumed (the template changed, which rolled the pods
//     already) or no longer consumed only updates the baseline;
//   - otherwise nothing: an unchanged version never writes.
func Decide(st State, current Versions, pendingSince, now time.Time, window time.Duration) Decision {
	if st.Baseline == nil {
		if len(current) == 0 {
			return Decision{}
		}
		return Decision{Write: true, Baseline: maps.Clone(current)}
	}
	var changed []string
	sameKeys := len(current) == len(st.Baseline)
	for name, version := range current {
		base, ok := st.Baseline[name]
		switch {
		case !ok:
			sameKeys = false
		case base != version:
			changed = append(changed, name)
		}
	}
	slices.Sort(changed)
	if len(changed) == 0 {
		if sameKeys {
			return Decision{}
		}
		return Decision{Write: true, Baseline: maps.Clone(current)}
	}
	if pendingSince.IsZero() || pendingSince.After(now) {
		pendingSince = now
	}
	due := pendingSince.Add(window)
	if !st.RolledAt.IsZero() {
		if next := st.RolledAt.Add(window); next.After(due) {
			due = next
		}
	}
	if now.Before(due) {
		return Decision{Changed: changed, Wait: due.Sub(now)}
	}
	return Decision{Write: true, Roll: true, Baseline: maps.Clone(current), Changed: changed}
}
