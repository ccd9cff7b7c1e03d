package controller

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/latchkey-dev/latchkey/api/v2beta1"
)

// ConditionReady says whether the output holds the object as the spec asks.
const ConditionReady = "Ready"

// ConditionAzureIdentity is present, False with reason Ignored, while
// spec.vault.azureIdentity is set: akv2k8s's per-object identity is not
// honoured (latchkey reads Key Vault with its install's one identity). It
// does not make the object un-Ready: the output is synced all the same.
const (
	ConditionAzureIdentity = "AzureIdentity"
	ReasonIgnored          = "Ignored"
)

// azureIdentityIgnored is the AzureIdentity condition's message. It names no
// identity: the spec shows it.
const azureIdentityIgnored = "spec.vault.azureIdentity is not used: latchkey reads Key Vault with the one identity of its install " +
	"(keyVaultAuth, e.g. workload identity); give that identity access to the vault, and remove the field " +
	"(see docs/migrate-from-akv2k8s.md)"

// ConditionRefreshInterval is present, False with reason BelowMinimum, while
// spec.refreshInterval is shorter than v2beta1.MinRefreshInterval (an object
// stored before the CRD refused that): the object is read at the minimum
// instead. Like AzureIdentity, it does not make the object un-Ready.
const (
	ConditionRefreshInterval = "RefreshInterval"
	ReasonBelowMinimum       = "BelowMinimum"
)

// Reasons for Ready besides the ownership ones (ownership.go).
const (
	ReasonInjectorOnly         = "InjectorOnly"
	ReasonInvalidSpec          = "InvalidSpec"
	ReasonObjectNotFound       = "ObjectNotFound"
	ReasonForbidden            = "Forbidden"
	ReasonAuthenticationFailed = "AuthenticationFailed"
	ReasonThrottled            = "Throttled"
	ReasonKeyVaultUnavailable  = "KeyVaultUnavailable"
	ReasonNotExportable        = "NotExportable"
	ReasonInvalidOutput        = "InvalidOutput"
	ReasonOutputWriteFailed    = "OutputWriteFailed"
	ReasonVaultNotAllowed      = "VaultNotAllowed"
	// ReasonSecretTypeNotAllowed: output.secret.type (or the type of the
	// existing Secret) is one no AzureKeyVaultSecret may write
	// (v2beta1.SecretTypeRefused); the CRD refuses it for new objects.
	ReasonSecretTypeNotAllowed = "SecretTypeNotAllowed"
)

// outcome is what one reconcile did, the input of the status it writes.
type outcome struct {
	ready   bool
	reason  string
	message string
	// version is the Key Vault version read, when a read succeeded.
	version string
	// outputs holds a record per output written this pass.
	outputs []outputResult
	// retryAfter is Key Vault's Retry-After after a throttled read.
	retryAfter time.Duration
	// permanent marks failures only a change of the spec can fix.
	permanent bool
	// raced marks a pass that lost a race to write an output: it reports
	// nothing and is redone.
	raced bool
}

// outputResult says what happened to one output.
type outputResult struct {
	kind    string // "Secret" or "ConfigMap"
	name    string
	keys    []string
	changed bool
	// created is set when this pass created the output.
	created bool
}

// nextStatus computes the status to write, starting from the current one so
// that nothing changes when nothing happened: times move only when an output
// changed, and conditions keep their transition time.
func nextStatus(akvs *v2beta1.AzureKeyVaultSecret, o outcome, now time.Time) v2beta1.AzureKeyVaultSecretStatus {
	st := *akvs.Status.DeepCopy()
	st.ObservedGeneration = akvs.Generation
	status := metav1.ConditionFalse
	if o.ready {
		status = metav1.ConditionTrue
	}
	meta.SetStatusCondition(&st.Conditions, metav1.Condition{
		Type: ConditionReady, Status: status, Reason: o.reason, Message: o.message,
		ObservedGeneration: akvs.Generation, LastTransitionTime: metav1.NewTime(now),
	})
	if akvs.Spec.Vault.Identity() != "" {
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{
			Type: ConditionAzureIdentity, Status: metav1.ConditionFalse, Reason: ReasonIgnored, Message: azureIdentityIgnored,
			ObservedGeneration: akvs.Generation, LastTransitionTime: metav1.NewTime(now),
		})
	} else {
		meta.RemoveStatusCondition(&st.Conditions, ConditionAzureIdentity)
	}
	if ri, raised := akvs.Spec.EffectiveRefreshInterval(0); raised {
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{
			Type: ConditionRefreshInterval, Status: metav1.ConditionFalse, Reason: ReasonBelowMinimum,
			Message: fmt.Sprintf("spec.refreshInterval %s is below the minimum of %s, which applies instead (the CRD refuses it on the next change)",
				akvs.Spec.RefreshInterval.Duration, ri),
			ObservedGeneration: akvs.Generation, LastTransitionTime: metav1.NewTime(now),
		})
	} else {
		meta.RemoveStatusCondition(&st.Conditions, ConditionRefreshInterval)
	}
	if !o.ready {
		// A failure keeps the last good output and what status said of it.
		return st
	}
	if o.version != "" {
		st.ObjectVersion = o.version
	}
	// A successful pass names exactly the outputs it wrote: one the spec no
	// longer has is released, not reported.
	st.SecretName, st.SecretHash, st.ConfigMapName, st.ConfigMapHash = "", "", "", ""
	changed := false
	for _, out := range o.outputs {
		changed = changed || out.changed
		switch out.kind {
		case "Secret":
			st.SecretName, st.SecretHash = out.name, outputHash(o.version, out)
		case "ConfigMap":
			st.ConfigMapName, st.ConfigMapHash = out.name, outputHash(o.version, out)
		}
	}
	if changed || (st.LastOutputChange == nil && len(o.outputs) > 0) {
		t := metav1.NewTime(now.Truncate(time.Second))
		st.LastOutputChange, st.LastAzureUpdate = &t, &t
	}
	return st
}

// outputHash stands in for akv2k8s's secretHash/configMapHash, which tools
// watch to see an output change. akv2k8s hashed the values; a hash of a short
// value can be reversed by trying candidates, so ours covers only what
// identifies the content: the Key Vault version, the output and its keys.
func outputHash(version string, out outputResult) string {
	h := sha256.Sum256([]byte(version + "\x00" + out.kind + "/" + out.name + "\x00" + strings.Join(out.keys, "\x00")))
	return hex.EncodeToString(h[:])
}

// statusChanged reports whether writing next would change anything. Condition
// transition times are kept by SetStatusCondition when the status is the same,
// so a plain comparison suffices.
func statusChanged(cur, next v2beta1.AzureKeyVaultSecretStatus) bool {
	return !equality.Semantic.DeepEqual(cur, next)
}

// readyCondition returns the current Ready condition, or nil.
func readyCondition(st v2beta1.AzureKeyVaultSecretStatus) *metav1.Condition {
	return meta.FindStatusCondition(st.Conditions, ConditionReady)
}
