package controller

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/latchkey-dev/latchkey/api/v2beta1"
)

// Labels and annotations latchkey puts on the Secrets and ConfigMaps it writes.
const (
	// ManagedLabel marks every output holding keys of ours, so the controller
	// can watch and cache those alone instead of every Secret in the cluster.
	ManagedLabel = "latchkey.dev/managed"
	// OwnersAnnotation records, per AzureKeyVaultSecret, the keys (and copied
	// labels and annotations) it owns in this output. Cleanup reads it, so it
	// never needs Key Vault or the AzureKeyVaultSecret, which may be gone.
	OwnersAnnotation = "latchkey.dev/owners"
)

// ownerRecord is what one AzureKeyVaultSecret owns in an output.
type ownerRecord struct {
	Keys        []string `json:"keys"`
	Labels      []string `json:"labels,omitempty"`
	Annotations []string `json:"annotations,omitempty"`
}

// owners maps AzureKeyVaultSecret names (same namespace) to what they own.
type owners map[string]ownerRecord

// parseOwners reads the owners annotation; a missing or unreadable one is
// empty (someone edited it by hand: we then own nothing there, which is safe).
func parseOwners(annotations map[string]string) owners {
	o := owners{}
	if raw, ok := annotations[OwnersAnnotation]; ok {
		_ = json.Unmarshal([]byte(raw), &o)
	}
	return o
}

func (o owners) encode() string {
	b, _ := json.Marshal(o) // a map of string slices always marshals
	return string(b)
}

// claimant is an AzureKeyVaultSecret as the ownership rules see it.
type claimant struct {
	Name    string
	UID     types.UID
	Created time.Time
}

// olderThan orders claimants for contested keys: the older keeps the key;
// equal times fall back to the name, so the outcome never depends on who
// reconciled first and never flips.
func (c claimant) olderThan(o claimant) bool {
	if !c.Created.Equal(o.Created) {
		return c.Created.Before(o.Created)
	}
	return c.Name < o.Name
}

// outputState is an existing Secret or ConfigMap, reduced to what the
// ownership rules need.
type outputState struct {
	Exists bool
	// Type is the Secret type; empty for ConfigMaps.
	Type string
	Data map[string][]byte
	// OwnerUIDs are the UIDs of AzureKeyVaultSecrets in its ownerReferences:
	// set on outputs latchkey (or akv2k8s) created.
	OwnerUIDs   []types.UID
	Owners      owners
	Labels      map[string]string
	Annotations map[string]string
}

// desiredOutput is what one AzureKeyVaultSecret wants in its output.
type desiredOutput struct {
	// Type is the type to create a Secret with; empty for ConfigMaps.
	Type        string
	Data        map[string][]byte
	Labels      map[string]string
	Annotations map[string]string
}

// Reasons for the Ready condition that the ownership rules decide.
const (
	ReasonSynced             = "Synced"
	ReasonMergedIntoExisting = "MergedIntoExisting"
	ReasonKeyConflict        = "KeyConflict"
	ReasonForeignOutput      = "ForeignOutput"
)

// plan is the outcome of the ownership rules for one write.
type plan struct {
	// Write is false when the rules forbid touching the output.
	Write bool
	// Create is true when the output does not exist yet.
	Create bool
	// Adopt adds our ownerReference: we created the output or share one
	// created by another AzureKeyVaultSecret.
	Adopt bool
	// Type is the type to create with (an existing type is never changed).
	Type        string
	Data        map[string][]byte
	Owners      owners
	Labels      map[string]string
	Annotations map[string]string
	Reason      string
	Message     string
}

// planWrite applies latchkey's ownership rules to one AzureKeyVaultSecret's
// output. others are the other AzureKeyVaultSecrets that still exist and hold
// keys in this output; a record of one that is gone is ignored, so its keys
// can be taken over.
//
//   - A missing output is created, owned by us.
//   - An output whose ownerReferences name an AzureKeyVaultSecret (ours or
//     another's) is shared: we add or update our keys; a key another still
//     existing AzureKeyVaultSecret owns goes to the older of the two.
//   - A foreign output (no such ownerReference) is only written if it is an
//     Opaque Secret or a ConfigMap and none of our keys is already there
//     under someone else: we add our keys beside the others'.
//
// Keys we owned but no longer render are removed. An existing Secret's type is
// never changed.
//
// Nothing is ever written into a Secret whose type (the one it will be
// created with, or the one it has) v2beta1.SecretTypeRefused refuses: the
// last guard, whatever the spec or the output's history.
func planWrite(me claimant, others map[string]claimant, cur outputState, want desiredOutput) plan {
	p := planOwnership(me, others, cur, want)
	if !p.Write {
		return p
	}
	if why := v2beta1.SecretTypeRefused(corev1.SecretType(p.Type)); why != "" {
		return refuse(ReasonSecretTypeNotAllowed, "the Secret's "+why)
	}
	if why := typeMismatch(p.Type, p.Data); why != "" {
		return refuse(ReasonInvalidOutput, why)
	}
	return p
}

// planOwnership is planWrite without the check of the data against the
// Secret's type.
func planOwnership(me claimant, others map[string]claimant, cur outputState, want desiredOutput) plan {
	if !cur.Exists {
		p := plan{Write: true, Create: true, Adopt: true, Type: want.Type, Reason: ReasonSynced,
			Data: map[string][]byte{}, Owners: owners{}, Labels: map[string]string{}, Annotations: map[string]string{}}
		maps.Copy(p.Data, want.Data)
		maps.Copy(p.Labels, want.Labels)
		maps.Copy(p.Annotations, want.Annotations)
		p.Owners[me.Name] = ownerRecord{Keys: sortedKeys(want.Data), Labels: sortedKeys(want.Labels), Annotations: sortedKeys(want.Annotations)}
		return p
	}

	managed := len(cur.OwnerUIDs) > 0
	mine := cur.Owners[me.Name]
	if !managed && cur.Type != "" && cur.Type != "Opaque" {
		return refuse(ReasonForeignOutput, fmt.Sprintf("the Secret exists, is of type %s and was not created by an AzureKeyVaultSecret; latchkey only adds keys to foreign Secrets of type Opaque", cur.Type))
	}

	// Who holds each key now, among owners that still exist.
	holder := map[string]string{}
	for name, rec := range cur.Owners {
		if name == me.Name {
			continue
		}
		if _, alive := others[name]; !alive {
			continue
		}
		for _, k := range rec.Keys {
			holder[k] = name
		}
	}

	p := plan{Write: true, Type: cur.Type, Reason: ReasonSynced, Owners: owners{}}
	if !managed {
		p.Reason = ReasonMergedIntoExisting
	}
	for name, rec := range cur.Owners {
		if _, alive := others[name]; alive && name != me.Name {
			p.Owners[name] = rec
		}
	}
	p.Data = maps.Clone(cur.Data)
	if p.Data == nil {
		p.Data = map[string][]byte{}
	}
	for _, k := range mine.Keys {
		if _, still := want.Data[k]; !still {
			delete(p.Data, k)
		}
	}
	for _, k := range sortedKeys(want.Data) {
		if other, held := holder[k]; held {
			if !me.olderThan(others[other]) {
				return refuse(ReasonKeyConflict, fmt.Sprintf("key %q is owned by AzureKeyVaultSecret %s, which is older", k, other))
			}
			rec := p.Owners[other]
			rec.Keys = slices.DeleteFunc(slices.Clone(rec.Keys), func(s string) bool { return s == k })
			p.Owners[other] = rec
		} else if _, present := cur.Data[k]; present && !slices.Contains(mine.Keys, k) && !managed {
			return refuse(ReasonForeignOutput, fmt.Sprintf("key %q already exists in an output not created by an AzureKeyVaultSecret; latchkey does not overwrite it", k))
		}
		p.Data[k] = want.Data[k]
	}

	// Labels and annotations are ours to copy only onto outputs an
	// AzureKeyVaultSecret created; a foreign output keeps its own.
	p.Labels, p.Annotations = maps.Clone(cur.Labels), maps.Clone(cur.Annotations)
	rec := ownerRecord{Keys: sortedKeys(want.Data)}
	if managed {
		p.Adopt = true
		p.Labels = copyOwned(p.Labels, want.Labels, mine.Labels)
		p.Annotations = copyOwned(p.Annotations, want.Annotations, mine.Annotations)
		rec.Labels, rec.Annotations = sortedKeys(want.Labels), sortedKeys(want.Annotations)
	}
	p.Owners[me.Name] = rec
	return p
}

// planRelease removes what name owns from an output: its keys, and the labels
// and annotations it copied. It reports whether anything of anyone's is left.
func planRelease(name string, cur outputState) (p plan, empty bool) {
	rec, ok := cur.Owners[name]
	if !ok {
		return plan{}, false
	}
	p = plan{Write: true, Type: cur.Type, Data: maps.Clone(cur.Data), Owners: owners{},
		Labels: maps.Clone(cur.Labels), Annotations: maps.Clone(cur.Annotations)}
	for n, r := range cur.Owners {
		if n != name {
			p.Owners[n] = r
		}
	}
	for _, k := range rec.Keys {
		delete(p.Data, k)
	}
	for _, k := range rec.Labels {
		delete(p.Labels, k)
	}
	for _, k := range rec.Annotations {
		delete(p.Annotations, k)
	}
	return p, len(p.Data) == 0
}

func refuse(reason, message string) plan {
	return plan{Reason: reason, Message: message}
}

// copyOwned sets want on dst and removes the keys we copied before (prev) that
// want no longer has. Keys others set are left alone.
func copyOwned(dst, want map[string]string, prev []string) map[string]string {
	if dst == nil {
		dst = map[string]string{}
	}
	for _, k := range prev {
		if _, still := want[k]; !still {
			delete(dst, k)
		}
	}
	maps.Copy(dst, want)
	return dst
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
