package resolver_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"

	"github.com/latchkey-dev/latchkey/api/v2beta1"
	"github.com/latchkey-dev/latchkey/internal/resolver"
	"github.com/latchkey-dev/latchkey/internal/resolver/protocol"
)

// TestTenancyPolicyFollowedByEveryReplica: every resolver replica serves,
// so every one must follow the admin's policy file, not only the elected
// leader. A resolver that is not the leader (another holder keeps the
// lease) serves a vault the policy allows, and refuses it once the edited
// policy no longer does.
func TestTenancyPolicyFollowedByEveryReplica(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ns := createNamespace(t, "", true)
	policy := filepath.Join(t.TempDir(), "tenancy.yaml")
	allow := func(vaultName string) {
		t.Helper()
		if err := os.WriteFile(policy, []byte("namespaces:\n  "+ns+":\n    - vault: "+vaultName+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	allow(vault)
	const leaseName = "tenancy-follower"
	now := metav1.NewMicroTime(time.Now())
	if err := suite.client.Create(ctx, &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: leaseName},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("another-replica"), LeaseDurationSeconds: ptr.To(int32(3600)),
			AcquireTime: &now, RenewTime: &now},
	}); err != nil {
		t.Fatal(err)
	}
	r := newResolver(t, func(c *resolver.Config) {
		c.TenancyPolicy = policy
		c.TenancyPoll = 50 * time.Millisecond
		c.LeaderElection, c.LeaderElectionNamespace, c.LeaderElectionID = true, ns, leaseName
	})
	w := newWorldIn(t, r, ns)
	w.akvs("db", vault, "db-password", v2beta1.ObjectTypeSecret)
	p := w.pod("pod-a", app("app", "DB", "db@azurekeyvault"))
	tok := token(t, p, audience)
	env := map[string]string{"DB": "db@azurekeyvault"}
	if a := ask(t, r, tok, "app", env); a.status != http.StatusOK {
		t.Fatalf("allowed vault: %d %s", a.status, a.raw)
	}

	allow("some-other-vault")
	var last answer
	err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		last = ask(t, r, tok, "app", env)
		return last.status == http.StatusForbidden, nil
	})
	if err != nil || last.err.Code != protocol.CodeVaultNotAllowed {
		// Not the body: a 200 holds the value.
		t.Fatalf("after the policy stopped allowing the vault: %d %q, want 403 %s", last.status, last.err.Code, protocol.CodeVaultNotAllowed)
	}
	var lease coordinationv1.Lease
	if err := suite.client.Get(ctx, types.NamespacedName{Namespace: ns, Name: leaseName}, &lease); err != nil {
		t.Fatal(err)
	}
	if h := ptr.Deref(lease.Spec.HolderIdentity, ""); h != "another-replica" {
		t.Fatalf("the resolver became the leader (%s): the test did not test a follower", h)
	}
}
