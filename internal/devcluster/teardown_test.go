package devcluster

import (
	"reflect"
	"testing"
)

func TestKubeRules(t *testing.T) {
	save := `*filter
:INPUT ACCEPT [0:0]
:KUBE-FIREWALL - [0:0]
:KUBE-KUBELET-CANARY - [0:0]
:OTHER - [0:0]
-A INPUT -j KUBE-FIREWALL
-A OUTPUT -j KUBE-FIREWALL
-A INPUT -j OTHER
-A KUBE-FIREWALL ! -s 127.0.0.0/8 -d 127.0.0.0/8 -m comment --comment "block incoming localnet connections" -j DROP
COMMIT
`
	rules, chains := kubeRules(save)
	wantRules := [][]string{{"INPUT", "-j", "KUBE-FIREWALL"}, {"OUTPUT", "-j", "KUBE-FIREWALL"}}
	if !reflect.DeepEqual(rules, wantRules) {
		t.Errorf("rules = %q, want %q", rules, wantRules)
	}
	if want := []string{"KUBE-FIREWALL", "KUBE-KUBELET-CANARY"}; !reflect.DeepEqual(chains, want) {
		t.Errorf("chains = %q, want %q", chains, want)
	}
	got := splitRule(`POSTROUTING -m comment --comment "a b" -j KUBE-X`)
	if want := []string{"POSTROUTING", "-m", "comment", "--comment", "a b", "-j", "KUBE-X"}; !reflect.DeepEqual(got, want) {
		t.Errorf("splitRule = %q, want %q", got, want)
	}
}
