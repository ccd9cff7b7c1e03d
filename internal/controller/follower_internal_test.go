package controller

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/latchkey-dev/latchkey/api/v2beta1"
	"github.com/latchkey-dev/latchkey/internal/devtools/kubetest"
	"github.com/latchkey-dev/latchkey/internal/tenancy"
)

// TestPolicyChangeOnAFollower: a replica that is not the leader follows the
// tenancy policy too (tenancy.Watcher runs on every replica), but its
// AzureKeyVaultSecret controller does not run. A policy change there must
// leave nothing behind: no goroutine waiting to hand the cached objects to
// a controller that only the leader starts (one more, holding a copy of
// every object, per change, for as long as the replica follows).
func TestPolicyChangeOnAFollower(t *testing.T) {
	_, cfg := kubetest.Start(t, kubetest.Options{CRDDirectoryPaths: []string{"../../config/crd"}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, err := client.New(cfg, client.Options{Scheme: Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	// Another replica holds the Lease, for longer than the test runs.
	const ns, lease = "default", "latchkey-follower-test"
	if err := c.Create(ctx, &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: lease},
		Spec: coordinationv1.LeaseSpec{
			HolderIdentity: ptr.To("the-leader"), LeaseDurationSeconds: ptr.To[int32](3600),
			AcquireTime: ptr.To(metav1.NowMicro()), RenewTime: ptr.To(metav1.NowMicro()),
		},
	}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		a := &v2beta1.AzureKeyVaultSecret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("a%d", i)}}
		a.Spec.Vault.Name, a.Spec.Vault.Object.Name, a.Spec.Vault.Object.Type = "kv", "s", v2beta1.ObjectTypeSecret
		if err := c.Create(ctx, a); err != nil {
			t.Fatal(err)
		}
	}

	path := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(path, []byte("namespaces: {}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	policy, err := tenancy.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	opts := DefaultManagerOptions()
	opts.LeaderElectionNamespace, opts.LeaderElectionID = ns, lease
	opts.MetricsAddr, opts.HealthAddr = "0", "0"
	opts.SkipNameValidation = true
	mgr, err := NewManager(cfg, opts, logr.Discard())
	if err != nil {
		t.Fatal(err)
	}
	r := &Reconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Metrics: NewMetrics(prometheus.NewRegistry()),
		Recorder: mgr.GetEventRecorder("test"), Options: opts.Controller, Tenancy: policy}
	if err := r.SetupWithManager(mgr, 1); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	defer func() { cancel(); <-done }()
	// The cache holds the objects: a policy change has something to send.
	if err := wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		list := &v2beta1.AzureKeyVaultSecretList{}
		return mgr.GetCache().List(ctx, list) == nil && len(list.Items) == 3, nil
	}); err != nil {
		t.Fatalf("the follower's cache never held the objects: %v", err)
	}

	before := goroutinesStartedHere(t)
	const changes = 5
	for range changes {
		policy.OnChange() // as the watcher does when the file changes
	}
	if err := wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		return goroutinesStartedHere(t) <= before, nil
	}); err != nil {
		t.Errorf("%d policy changes on a follower left %d goroutines of this package behind (%d before)", changes, goroutinesStartedHere(t), before)
	}
	select {
	case <-mgr.Elected():
		t.Fatal("the replica led: the test shows nothing about a follower")
	default:
	}
}

// goroutinesStartedHere counts the goroutines a function of this package
// started.
func goroutinesStartedHere(t *testing.T) int {
	t.Helper()
	var b bytes.Buffer
	if err := pprof.Lookup("goroutine").WriteTo(&b, 2); err != nil {
		t.Fatal(err)
	}
	return strings.Count(b.String(), "created by github.com/latchkey-dev/latchkey/internal/controller.")
}
