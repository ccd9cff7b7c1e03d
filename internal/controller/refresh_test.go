package controller_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/latchkey-dev/latchkey/api/v2beta1"
	"github.com/latchkey-dev/latchkey/internal/controller"
	"github.com/latchkey-dev/latchkey/internal/devtools/akvemu"
)

// TestPinnedVersionIsNeverPolled: an AzureKeyVaultSecret pinned to a
// version is read once, even with a 1s refresh interval and when its output
// is repaired later, while an unpinned one beside it (in another vault, so
// the counts stay apart) is read again and again in the same window.
func TestPinnedVersionIsNeverPolled(t *testing.T) {
	t.Parallel()
	ns := namespace(t)
	pinnedVault, control := newVault(t), newVault(t)
	one := pinnedVault.setSecret(t, "pinned", "pinned-one-s3cr3t-value", "")
	pinnedVault.setSecret(t, "pinned", "pinned-two-s3cr3t-value", "")
	control.setSecret(t, "polled", "polled-s3cr3t-value", "")
	create(t, akvs(ns, "pinned", "pinned", inVault(pinnedVault), everySecond, func(a *v2beta1.AzureKeyVaultSecret) {
		a.Spec.Vault.Object.Version = one
	}))
	create(t, akvs(ns, "polled", "polled", inVault(control), everySecond))
	waitForSecret(t, ns, "pinned", hasData(data("value", "pinned-one-s3cr3t-value")))
	waitForReady(t, ns, "pinned", metav1.ConditionTrue, controller.ReasonSynced)
	waitForReady(t, ns, "polled", metav1.ConditionTrue, controller.ReasonSynced)

	pinnedBefore, controlBefore := pinnedVault.reads(), control.reads()
	window(4 * time.Second) // four refresh intervals
	if n := pinnedVault.reads() - pinnedBefore; n != 0 {
		t.Errorf("the pinned version was read %d more times", n)
	}
	t.Logf("reads in the window: pinned %d, unpinned %d", pinnedVault.reads()-pinnedBefore, control.reads()-controlBefore)
	if n := control.reads() - controlBefore; n < 2 {
		t.Errorf("the unpinned object was read %d times in the window: the refreshes the test relies on did not happen", n)
	}
	if pinnedBefore != 1 {
		t.Errorf("the pinned version was read %d times to sync it, want 1", pinnedBefore)
	}

	// Repairing the output, long after the read, needs no read either: the
	// version cannot have changed.
	update(t, getSecret(t, ns, "pinned"), func(s *corev1.Secret) { s.Data["value"] = []byte("tampered") })
	waitForSecret(t, ns, "pinned", hasData(data("value", "pinned-one-s3cr3t-value")))
	if n := pinnedVault.reads(); n != 1 {
		t.Errorf("the pinned version was read %d times in all, want 1", n)
	}
}

// TestSharedObjectIsReadOncePerInterval: 20 AzureKeyVaultSecrets pointing at
// one object cost one Key Vault read per refresh interval, not 20; the
// reads reuse one SDK client (one challenge round trip for the vault) and
// one token (Entra ID is not asked again). It does not run in parallel:
// Entra ID's token counter is global, and other tests' controllers get
// tokens of their own.
func TestSharedObjectIsReadOncePerInterval(t *testing.T) {
	const (
		n        = 20
		interval = fastInterval
		measured = 5 * interval
	)
	ns := namespace(t)
	v := newVault(t)
	v.setSecret(t, "shared", "shared-s3cr3t-value", "")
	start := time.Now()
	for i := range n {
		create(t, akvs(ns, fmt.Sprintf("consumer-%02d", i), "shared", inVault(v), everySecond))
	}
	for i := range n {
		waitForReady(t, ns, fmt.Sprintf("consumer-%02d", i), metav1.ConditionTrue, controller.ReasonSynced)
	}
	// One read at creation, then one per due time of the object, however
	// many ask; the first due time may come less than an interval after
	// the creation's read (due times are fixed on the clock).
	if r, limit := v.reads(), int64(time.Since(start)/interval)+2; r > limit {
		t.Errorf("%d reads to sync %d AzureKeyVaultSecrets created together in %s, want at most %d", r, n, time.Since(start), limit)
	}

	tokens := suite.emu.Counters().Snapshot().Count("", "Token", -1)
	before := v.reads()
	window(measured)
	reads := v.reads() - before
	t.Logf("%d reads in %s for %d AzureKeyVaultSecrets", reads, measured, n)
	// Each AzureKeyVaultSecret refreshed about 5 times in the window: 100
	// reconciles. One read serves every reconcile of an interval.
	if limit := int64(measured/interval) + 2; reads > limit {
		t.Errorf("%d reads in %s for %d AzureKeyVaultSecrets on one object, want at most %d (one per interval)", reads, measured, n, limit)
	}
	if reads < 2 {
		t.Errorf("%d reads in %s: the refreshes the test relies on did not happen", reads, measured)
	}
	if got := suite.emu.Counters().Snapshot().Count("", "Token", -1); got != tokens {
		t.Errorf("%d token requests during the reads: the token is not reused", got-tokens)
	}
	if c := v.requests("GetSecret", 401); c != 1 {
		t.Errorf("%d challenge round trips for the vault, want 1: one SDK client, reused", c)
	}
}

// TestThrottlingPausesTheVault: Key Vault answers 429 with Retry-After; the
// AzureKeyVaultSecret reports Throttled, a second one on the same vault is
// Throttled without any request reaching Key Vault during the pause, and
// both recover by themselves once it ends.
func TestThrottlingPausesTheVault(t *testing.T) {
	t.Parallel()
	const pause = 8 * time.Second
	ns := namespace(t)
	v := newVault(t)
	v.setSecret(t, "first", "throttle-first-s3cr3t-value", "")
	v.setSecret(t, "second", "throttle-second-s3cr3t-value", "")
	v.fail(t, akvemu.FaultRule{Operation: "GetSecret", Status: 429, RetryAfter: pause, Count: 1})

	create(t, akvs(ns, "first", "first", inVault(v)))
	a := waitForReady(t, ns, "first", metav1.ConditionFalse, controller.ReasonThrottled)
	if msg := readyCondition(a).Message; !strings.Contains(msg, "throttled") {
		t.Errorf("message %q does not say Key Vault throttled", msg)
	}
	create(t, akvs(ns, "second", "second", inVault(v)))
	waitForReady(t, ns, "second", metav1.ConditionFalse, controller.ReasonThrottled)
	// Requests that reached the vault: the challenge, the one 429, nothing else.
	if got, throttled := v.requests("GetSecret", -1)-v.requests("GetSecret", 401), v.requests("GetSecret", 429); got != 1 || throttled != 1 {
		t.Errorf("%d requests (%d answered 429) reached the paused vault, want only the throttled one", got, throttled)
	}

	waitForSecret(t, ns, "first", hasData(data("value", "throttle-first-s3cr3t-value")))
	waitForSecret(t, ns, "second", hasData(data("value", "throttle-second-s3cr3t-value")))
	waitForReady(t, ns, "first", metav1.ConditionTrue, controller.ReasonSynced)
	waitForReady(t, ns, "second", metav1.ConditionTrue, controller.ReasonSynced)
	if got := v.requests("GetSecret", 429); got != 1 {
		t.Errorf("%d throttled requests, want 1", got)
	}
}
