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
	rules, chains := kubeRules(save, "KUBE-")
	wantRules := [][]string{{"INPUT", "-j", "KUBE-FIREWALL"}, {"OUTPUT", "-j", "KUBE-FIREWALL"}}
	if !reflect.DeepEqual(rules, wantRules) {
		t.Errorf("rules = %q, want %q", rules, wantRules)
	}
	if want := []string{"KUBE-FIREWALL", "KUBE-KUBELET-CANARY"}; !reflect.DeepEqual(chains, want) {
		t.Errorf("chains = %q, want %q", chains, want)
	}
	// kube-router's network policy chains beside kube-proxy's: only the
	// prefixes asked for go, with the rules of other chains jumping to them.
	save = `*filter
:FORWARD ACCEPT [0:0]
:KUBE-FORWARD - [0:0]
:KUBE-ROUTER-FORWARD - [0:0]
:KUBE-POD-FW-ABC - [0:0]
:KUBE-NWPLCY-XYZ - [0:0]
-A FORWARD -m comment --comment "kube-router netpol" -j KUBE-ROUTER-FORWARD
-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD
-A KUBE-ROUTER-FORWARD -d 10.0.0.5/32 -j KUBE-POD-FW-ABC
-A KUBE-POD-FW-ABC -j KUBE-NWPLCY-XYZ
COMMIT
`
	rules, chains = kubeRules(save, "KUBE-ROUTER-", "KUBE-POD-FW-", "KUBE-NWPLCY-")
	wantRules = [][]string{{"FORWARD", "-m", "comment", "--comment", "kube-router netpol", "-j", "KUBE-ROUTER-FORWARD"}}
	if !reflect.DeepEqual(rules, wantRules) {
		t.Errorf("rules = %q, want %q", rules, wantRules)
	}
	if want := []string{"KUBE-ROUTER-FORWARD", "KUBE-POD-FW-ABC", "KUBE-NWPLCY-XYZ"}; !reflect.DeepEqual(chains, want) {
		t.Errorf("chains = %q, want %q", chains, want)
	}
	got := splitRule(`POSTROUTING -m comment --comment "a b" -j KUBE-X`)
	if want := []string{"POSTROUTING", "-m", "comment", "--comment", "a b", "-j", "KUBE-X"}; !reflect.DeepEqual(got, want) {
		t.Errorf("splitRule = %q, want %q", got, want)
	}
}
