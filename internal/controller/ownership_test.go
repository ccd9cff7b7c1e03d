package controller

import (
	"maps"
	"reflect"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

var (
	t0    = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	alice = claimant{Name: "alice", UID: "uid-alice", Created: t0}
	bob   = claimant{Name: "bob", UID: "uid-bob", Created: t0.Add(time.Hour)}
)

// state builds an existing output for the table below.
func state(typ string, data map[string]string, ownerUIDs []types.UID, o owners) outputState {
	st := outputState{Exists: true, Type: typ, Data: map[string][]byte{}, OwnerUIDs: ownerUIDs, Owners: o}
	for k, v := range data {
		st.Data[k] = []byte(v)
	}
	return st
}

func want(data map[string]string) desiredOutput {
	d := desiredOutput{Type: "Opaque", Data: map[string][]byte{}}
	for k, v := range data {
		d.Data[k] = []byte(v)
	}
	return d
}

func TestPlanWrite(t *testing.T) {
	tests := []struct {
		name      string
		me        claimant
		others    map[string]claimant
		cur       outputState
		want      desiredOutput
		wantWrite bool
		reason    string
		data      map[string]string
		owners    map[string][]string
		adopt     bool
	}{{
		name: "missing output is created and owned",
		me:   alice, cur: outputState{}, want: want(map[string]string{"k": "v"}),
		wantWrite: true, reason: ReasonSynced, data: map[string]string{"k": "v"},
		owners: map[string][]string{"alice": {"k"}}, adopt: true,
	}, {
		name: "our output: keys updated, keys no longer rendered removed, others' keys kept",
		me:   alice,
		cur:  state("Opaque", map[string]string{"a": "old", "gone": "x", "manual": "m"}, []types.UID{"uid-alice"}, owners{"alice": {Keys: []string{"a", "gone"}}}),
		want: want(map[string]string{"a": "new"}), wantWrite: true, reason: ReasonSynced,
		data: map[string]string{"a": "new", "manual": "m"}, owners: map[string][]string{"alice": {"a"}}, adopt: true,
	}, {
		name: "akv2k8s-created output (owner reference, no record) is adopted and overwritten",
		me:   alice,
		cur:  state("opaque", map[string]string{"azuresecret": "old"}, []types.UID{"uid-alice"}, owners{}),
		want: want(map[string]string{"azuresecret": "new"}), wantWrite: true, reason: ReasonSynced,
		data: map[string]string{"azuresecret": "new"}, owners: map[string][]string{"alice": {"azuresecret"}}, adopt: true,
	}, {
		name: "foreign Opaque Secret: our key added beside theirs",
		me:   alice, cur: state("Opaque", map[string]string{"theirs": "t"}, nil, owners{}),
		want: want(map[string]string{"ours": "o"}), wantWrite: true, reason: ReasonMergedIntoExisting,
		data: map[string]string{"theirs": "t", "ours": "o"}, owners: map[string][]string{"alice": {"ours"}},
	}, {
		name: "foreign Opaque Secret with our key already there: nothing written",
		me:   alice, cur: state("Opaque", map[string]string{"ours": "theirs"}, nil, owners{}),
		want: want(map[string]string{"ours": "o"}), reason: ReasonForeignOutput,
	}, {
		name: "foreign Opaque Secret we merged into before: our key updated",
		me:   alice, cur: state("Opaque", map[string]string{"theirs": "t", "ours": "old"}, nil, owners{"alice": {Keys: []string{"ours"}}}),
		want: want(map[string]string{"ours": "new"}), wantWrite: true, reason: ReasonMergedIntoExisting,
		data: map[string]string{"theirs": "t", "ours": "new"}, owners: map[string][]string{"alice": {"ours"}},
	}, {
		name: "foreign Secret of another type: nothing written",
		me:   alice, cur: state("kubernetes.io/tls", map[string]string{"tls.crt": "c"}, nil, owners{}),
		want: want(map[string]string{"ours": "o"}), reason: ReasonForeignOutput,
	}, {
		name: "foreign ConfigMap (no type): merged",
		me:   alice, cur: state("", map[string]string{"theirs": "t"}, nil, owners{}),
		want: want(map[string]string{"ours": "o"}), wantWrite: true, reason: ReasonMergedIntoExisting,
		data: map[string]string{"theirs": "t", "ours": "o"}, owners: map[string][]string{"alice": {"ours"}},
	}, {
		name: "shared output: the younger claimant does not take the older's key",
		me:   bob, others: map[string]claimant{"alice": alice},
		cur:  state("Opaque", map[string]string{"k": "alice's"}, []types.UID{"uid-alice"}, owners{"alice": {Keys: []string{"k"}}}),
		want: want(map[string]string{"k": "bob's"}), reason: ReasonKeyConflict,
	}, {
		name: "shared output: the older claimant takes the key from the younger",
		me:   alice, others: map[string]claimant{"bob": bob},
		cur:  state("Opaque", map[string]string{"k": "bob's", "b": "bb"}, []types.UID{"uid-bob"}, owners{"bob": {Keys: []string{"k", "b"}}}),
		want: want(map[string]string{"k": "alice's"}), wantWrite: true, reason: ReasonSynced,
		data: map[string]string{"k": "alice's", "b": "bb"}, owners: map[string][]string{"alice": {"k"}, "bob": {"b"}}, adopt: true,
	}, {
		name: "shared output: distinct keys live side by side",
		me:   bob, others: map[string]claimant{"alice": alice},
		cur:  state("Opaque", map[string]string{"a": "1"}, []types.UID{"uid-alice"}, owners{"alice": {Keys: []string{"a"}}}),
		want: want(map[string]string{"b": "2"}), wantWrite: true, reason: ReasonSynced,
		data: map[string]string{"a": "1", "b": "2"}, owners: map[string][]string{"alice": {"a"}, "bob": {"b"}}, adopt: true,
	}, {
		name: "a record of an owner that is gone is dropped and its key is free",
		me:   bob, others: map[string]claimant{},
		cur:  state("Opaque", map[string]string{"k": "old"}, []types.UID{"uid-alice"}, owners{"alice": {Keys: []string{"k"}}}),
		want: want(map[string]string{"k": "bob's"}), wantWrite: true, reason: ReasonSynced,
		data: map[string]string{"k": "bob's"}, owners: map[string][]string{"bob": {"k"}}, adopt: true,
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := planWrite(tc.me, tc.others, tc.cur, tc.want)
			if p.Write != tc.wantWrite || p.Reason != tc.reason {
				t.Fatalf("Write=%v Reason=%s (%s), want Write=%v Reason=%s", p.Write, p.Reason, p.Message, tc.wantWrite, tc.reason)
			}
			if !p.Write {
				if p.Message == "" {
					t.Error("a refusal must say why")
				}
				return
			}
			got := map[string]string{}
			for k, v := range p.Data {
				got[k] = string(v)
			}
			if !reflect.DeepEqual(got, tc.data) {
				t.Errorf("data = %v, want %v", got, tc.data)
			}
			gotOwners := map[string][]string{}
			for n, r := range p.Owners {
				gotOwners[n] = r.Keys
			}
			if !reflect.DeepEqual(gotOwners, tc.owners) {
				t.Errorf("owners = %v, want %v", gotOwners, tc.owners)
			}
			if p.Adopt != tc.adopt {
				t.Errorf("adopt = %v, want %v", p.Adopt, tc.adopt)
			}
			if tc.cur.Exists && p.Type != tc.cur.Type {
				t.Errorf("type changed from %q to %q", tc.cur.Type, p.Type)
			}
		})
	}
}

// TestPlanWriteIsStable checks there is no flip-flop: whichever of two
// contenders reconciles first, replaying both converges on the older one.
func TestPlanWriteIsStable(t *testing.T) {
	for _, first := range []claimant{alice, bob} {
		cur := outputState{}
		all := map[string]claimant{"alice": alice, "bob": bob}
		order := []claimant{first, alice, bob, alice, bob}
		for _, c := range order {
			others := maps.Clone(all)
			delete(others, c.Name)
			p := planWrite(c, others, cur, want(map[string]string{"k": c.Name}))
			if !p.Write {
				continue
			}
			cur = outputState{Exists: true, Type: p.Type, Data: p.Data, Owners: p.Owners, OwnerUIDs: []types.UID{c.UID}}
		}
		if got := string(cur.Data["k"]); got != "alice" {
			t.Errorf("first=%s: key held by %q, want alice (the older)", first.Name, got)
		}
	}
}

func TestPlanRelease(t *testing.T) {
	cur := state("Opaque", map[string]string{"a": "1", "b": "2"}, []types.UID{"uid-alice"},
		owners{"alice": {Keys: []string{"a"}, Labels: []string{"team"}}, "bob": {Keys: []string{"b"}}})
	cur.Labels = map[string]string{"team": "x", "theirs": "y"}
	p, empty := planRelease("alice", cur)
	if empty {
		t.Error("bob's key is left: not empty")
	}
	if _, ok := p.Data["a"]; ok || string(p.Data["b"]) != "2" {
		t.Errorf("data = %v", p.Data)
	}
	if _, ok := p.Labels["team"]; ok || p.Labels["theirs"] != "y" {
		t.Errorf("labels = %v", p.Labels)
	}
	if _, ok := p.Owners["alice"]; ok {
		t.Error("alice's record kept")
	}
	cur.Data, cur.Owners = p.Data, p.Owners
	if _, empty := planRelease("bob", cur); !empty {
		t.Error("nothing left after bob: want empty")
	}
}

// TestCopiedMetadata: what users put on an AzureKeyVaultSecret for tools
// that act on Secrets (Reloader, reflector, replicator, their own labels)
// is copied; keys of Kubernetes' reserved domains (and their subdomains),
// of the tools that manage the AzureKeyVaultSecret itself, of latchkey, and
// Helm's release-record label are not.
func TestCopiedMetadata(t *testing.T) {
	copied := map[string]string{
		"reloader.stakater.com/match":                        "true",
		"reflector.v1.k8s.emberstack.com/reflection-allowed": "true", // k8s.emberstack.com is not k8s.io
		"replicator.v1.mittwald.de/replicate-to":             "team-b",
		"secret.reloader.stakater.com/reload":                "x",
		"team":                                               "payments",
		"owner":                                              "team-a", // only owner=helm is Helm's
		"example.com/kubernetes.io":                          "the name is not the domain",
		"kubernetes.io.example.com/x":                        "a domain that only starts like it",
		"notk8s.io/x":                                        "not a subdomain of k8s.io",
	}
	kept := map[string]string{
		// The attack: the token controller fills a Secret so annotated.
		"kubernetes.io/service-account.name":               "default",
		"kubernetes.io/service-account.uid":                "uid",
		"KUBERNETES.IO/service-account.name":               "domains have no case",
		"kubectl.kubernetes.io/last-applied-configuration": "{}",
		"kubectl.kubernetes.io/restartedAt":                "now",
		"app.kubernetes.io/instance":                       "app", // Argo CD's default tracking label
		"app.kubernetes.io/managed-by":                     "Helm",
		"app.kubernetes.io/name":                           "app",
		"service.beta.kubernetes.io/azure-load-balancer":   "x",
		"k8s.io/x":                         "x",
		"node.k8s.io/x":                    "x",
		"meta.helm.sh/release-name":        "r",
		"helm.sh/resource-policy":          "keep",
		"helm.sh/hook":                     "pre-install",
		"argocd.argoproj.io/tracking-id":   "app:x",
		"argocd.argoproj.io/sync-options":  "Prune=false",
		"kustomize.toolkit.fluxcd.io/name": "k",
		"helm.toolkit.fluxcd.io/name":      "h",
		"fluxcd.io/ignore":                 "true",
		OwnersAnnotation:                   "{}",
		ManagedLabel:                       "true",
		"latchkey.dev/anything":            "x",
	}
	in := map[string]string{}
	maps.Copy(in, copied)
	maps.Copy(in, kept)
	if got := copiedMetadata(in); !maps.Equal(got, copied) {
		t.Errorf("copied %v\nwant %v", sortedKeys(got), sortedKeys(copied))
	}
	// Helm's release record: owner=helm is its storage driver's selector.
	if got := copiedMetadata(map[string]string{"owner": "helm", "name": "r", "status": "deployed"}); got["owner"] != "" || got["name"] != "r" {
		t.Errorf("copied %v: want owner=helm left out, the rest copied", got)
	}
}

// TestPlanWriteNeverWritesARefusedType: whatever the spec says (an object
// stored before the CRD refused it) and whatever the output's history (a
// Secret of that type created before), nothing is created or written in a
// Secret of a type v2beta1.SecretTypeRefused refuses.
func TestPlanWriteNeverWritesARefusedType(t *testing.T) {
	for _, typ := range []string{"kubernetes.io/service-account-token", "bootstrap.kubernetes.io/token", "helm.sh/release.v1"} {
		d := want(map[string]string{"token": "x"})
		d.Type = typ
		if p := planWrite(alice, nil, outputState{}, d); p.Write || p.Reason != ReasonSecretTypeNotAllowed || !strings.Contains(p.Message, typ) {
			t.Errorf("create %s: Write=%v Reason=%s %q", typ, p.Write, p.Reason, p.Message)
		}
		cur := state(typ, map[string]string{"token": "t"}, []types.UID{alice.UID}, owners{"alice": {Keys: []string{"token"}}})
		if p := planWrite(alice, nil, cur, want(map[string]string{"token": "x"})); p.Write || p.Reason != ReasonSecretTypeNotAllowed {
			t.Errorf("write into an existing %s Secret: Write=%v Reason=%s", typ, p.Write, p.Reason)
		}
	}
}

func TestOwnersRoundTrip(t *testing.T) {
	o := owners{"a": {Keys: []string{"x"}}}
	got := parseOwners(map[string]string{OwnersAnnotation: o.encode()})
	if !reflect.DeepEqual(got, o) {
		t.Errorf("round trip: %v", got)
	}
	if got := parseOwners(map[string]string{OwnersAnnotation: "not json"}); len(got) != 0 {
		t.Errorf("unreadable annotation gave %v, want empty", got)
	}
}

func TestPlanWriteRefusesDataTheTypeRejects(t *testing.T) {
	for _, tc := range []struct {
		typ  string
		data map[string]string
		ok   bool
	}{
		{"kubernetes.io/tls", map[string]string{"tls.crt": "c", "tls.key": "k"}, true},
		{"kubernetes.io/tls", map[string]string{"value": "c"}, false},
		{"kubernetes.io/basic-auth", map[string]string{"password": "p"}, true},
		{"kubernetes.io/basic-auth", map[string]string{"value": "p"}, false},
		{"kubernetes.io/ssh-auth", map[string]string{"value": "k"}, false},
		{"kubernetes.io/dockerconfigjson", map[string]string{".dockerconfigjson": "{}"}, true},
		{"opaque", map[string]string{"anything": "x"}, true},
	} {
		d := want(tc.data)
		d.Type = tc.typ
		p := planWrite(alice, nil, outputState{}, d)
		if p.Write != tc.ok || (!tc.ok && (p.Reason != ReasonInvalidOutput || !strings.Contains(p.Message, tc.typ))) {
			t.Errorf("%s %v: Write=%v Reason=%s %q", tc.typ, tc.data, p.Write, p.Reason, p.Message)
		}
	}
	// An existing Secret keeps its type: data for another type is refused.
	cur := state("kubernetes.io/tls", map[string]string{"tls.crt": "c", "tls.key": "k"}, []types.UID{alice.UID}, owners{"alice": {Keys: []string{"tls.crt", "tls.key"}}})
	if p := planWrite(alice, nil, cur, want(map[string]string{"value": "v"})); p.Write || p.Reason != ReasonInvalidOutput {
		t.Errorf("opaque data into an existing tls Secret: Write=%v Reason=%s", p.Write, p.Reason)
	}
}
