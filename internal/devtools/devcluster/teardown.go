package devcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Teardown stops whatever a cluster with this state folder left running and
// undoes what its node set up, in an order that lets each step succeed:
// recorded processes, then containerd's shims and every process in the
// kubelet's cgroups, then mounts, network namespaces, the bridge and the
// cgroups themselves, and last the state files (logs are kept for reading).
// It works from the state folder alone, so it also cleans up after a run whose
// process was killed.
func Teardown(stateDir string) error {
	state, err := filepath.Abs(stateDir)
	if err != nil {
		return err
	}
	if _, err := os.Stat(state); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	var errs []error
	errs = append(errs, killRecorded(state))
	killShims(filepath.Join(state, "containerd", "containerd.sock"))
	// The cgroup tree and the bridge are the machine's, not the state
	// folder's: only a folder that started a node may take them down, so a
	// control-plane-only run (make dev, the devenv test) never disturbs
	// another cluster's node.
	_, nodeErr := os.Stat(filepath.Join(state, nodeStartedMarker))
	hadNode := nodeErr == nil
	if hadNode {
		killCgroupMembers()
	}
	errs = append(errs, unmountUnder(state), removeNetns(state), cleanupKubeProxy(state), cleanupKubeletRules(state))
	if hadNode {
		errs = append(errs, removeBridge(), removeCgroupRoot())
	}
	entries, _ := os.ReadDir(state)
	for _, e := range entries {
		if e.Name() == "logs" {
			continue
		}
		if err := os.RemoveAll(filepath.Join(state, e.Name())); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// removeBridge deletes the node's bridge, when it exists.
func removeBridge() error {
	if _, err := os.Stat("/sys/class/net/" + bridgeName); err != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "ip", "link", "delete", bridgeName).CombinedOutput(); err != nil {
		return fmt.Errorf("delete bridge %s: %w: %s", bridgeName, err, out)
	}
	return nil
}

// killShims kills containerd-shim processes started by the containerd
// listening on sock. Shims outlive containerd by design, and they hold the
// containers' mounts.
func killShims(sock string) {
	for _, pid := range pids() {
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil {
			continue
		}
		args := bytes.Split(cmdline, []byte{0})
		if len(args) > 0 && strings.HasPrefix(filepath.Base(string(args[0])), "containerd-shim") &&
			bytes.Contains(cmdline, []byte(sock)) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// killCgroupMembers kills every process in the kubelet's cgroup tree: the
// containers, should their shims have gone first.
func killCgroupMembers() {
	for _, h := range cgroupHierarchies() {
		_ = filepath.WalkDir(filepath.Join(h, cgroupRoot), func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || d.Name() != "cgroup.procs" {
				return nil
			}
			raw, _ := os.ReadFile(p)
			for _, f := range strings.Fields(string(raw)) {
				if pid, err := strconv.Atoi(f); err == nil {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			}
			return nil
		})
	}
}

// unmountUnder detaches every mount point below dir, deepest first.
func unmountUnder(dir string) error {
	var errs []error
	for _, m := range mountPoints() {
		if m == dir || strings.HasPrefix(m, dir+"/") {
			if err := syscall.Unmount(m, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) {
				errs = append(errs, fmt.Errorf("unmount %s: %w", m, err))
			}
		}
	}
	return errors.Join(errs...)
}

// removeNetns removes the network namespaces containerd made for this
// cluster's pods. containerd 1.6 keeps them at a fixed path under generated
// names, so ours are the cni-* namespaces created after the node's start
// marker (only one node per machine is supported, see the package doc).
func removeNetns(state string) error {
	marker, err := os.Stat(filepath.Join(state, nodeStartedMarker))
	if err != nil {
		return nil // no node was started
	}
	var errs []error
	for _, dir := range []string{"/run/netns", "/var/run/netns"} {
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range entries {
			info, err := e.Info()
			if err != nil || !strings.HasPrefix(e.Name(), "cni-") || info.ModTime().Before(marker.ModTime().Add(-time.Second)) {
				continue
			}
			p := filepath.Join(dir, e.Name())
			_ = syscall.Unmount(p, syscall.MNT_DETACH)
			if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// removeCgroupRoot removes the kubelet's cgroup tree, children first.
func removeCgroupRoot() error {
	var errs []error
	for _, h := range cgroupHierarchies() {
		var dirs []string
		_ = filepath.WalkDir(filepath.Join(h, cgroupRoot), func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
		for _, d := range dirs {
			if err := removeCgroup(d); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// removeCgroup retries rmdir for a moment: a killed process leaves its cgroup
// only once the kernel has reaped it.
func removeCgroup(dir string) error {
	var err error
	for range 50 {
		if err = syscall.Rmdir(dir); err == nil || errors.Is(err, syscall.ENOENT) {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("remove cgroup %s: %w", dir, err)
}

// mountPoints lists mount points, deepest (longest) first.
func mountPoints() []string {
	raw, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return nil
	}
	var out []string
	for _, line := range strings.Split(string(raw), "\n") {
		if f := strings.Fields(line); len(f) >= 2 {
			// /proc/mounts escapes spaces and the like as octal.
			out = append(out, strings.ReplaceAll(f[1], `\040`, " "))
		}
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

// pids lists the processes of this machine.
func pids() []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			out = append(out, pid)
		}
	}
	return out
}

// cleanupKubeProxy removes the iptables rules kube-proxy programmed, with the
// binary recorded in the node's start marker.
func cleanupKubeProxy(state string) error {
	bin, err := os.ReadFile(filepath.Join(state, nodeStartedMarker))
	if err != nil || len(bin) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, string(bin), "--cleanup").CombinedOutput(); err != nil {
		return fmt.Errorf("kube-proxy --cleanup: %w: %s", err, out)
	}
	return nil
}

// cleanupKubeletRules removes the KUBE-* chains the kubelet adds to iptables
// (KUBE-FIREWALL, the canaries) and the rules that jump to them, and any
// KUBE-* chain and ipset a test's NetworkPolicy enforcer (kube-router) left;
// kube-proxy's own are gone by then. Only after a node ran here: the marker
// says so.
func cleanupKubeletRules(state string) error {
	if _, err := os.Stat(filepath.Join(state, nodeStartedMarker)); err != nil {
		return nil
	}
	return RemoveChains("KUBE-")
}

// RemoveChains removes the iptables chains (IPv4 and IPv6; filter, nat and
// mangle) whose names start with one of prefixes, the rules of other chains
// that jump to them, and then the ipsets whose names start with one of
// prefixes (kube-router names its sets as its chains: KUBE-SRC-…, KUBE-DST-…),
// which only those rules could match. Every chain is flushed before any is
// deleted: they jump to each other.
func RemoveChains(prefixes ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var errs []error
	for _, bin := range []string{"iptables", "ip6tables"} {
		for _, table := range []string{"filter", "nat", "mangle"} {
			out, err := exec.CommandContext(ctx, bin+"-save", "-t", table).Output()
			if err != nil {
				continue // no such table or tool: nothing to clean
			}
			rules, chains := kubeRules(string(out), prefixes...)
			for _, r := range rules {
				args := append([]string{"-t", table, "-D"}, r...)
				if out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput(); err != nil {
					errs = append(errs, fmt.Errorf("%s %v: %w: %s", bin, args, err, out))
				}
			}
			for _, c := range chains {
				_ = exec.CommandContext(ctx, bin, "-t", table, "-F", c).Run()
			}
			for _, c := range chains {
				if out, err := exec.CommandContext(ctx, bin, "-t", table, "-X", c).CombinedOutput(); err != nil {
					errs = append(errs, fmt.Errorf("%s -X %s: %w: %s", bin, c, err, out))
				}
			}
		}
	}
	if out, err := exec.CommandContext(ctx, "ipset", "list", "-n").Output(); err == nil {
		for _, set := range strings.Fields(string(out)) {
			if hasPrefix(set, prefixes) {
				if out, err := exec.CommandContext(ctx, "ipset", "destroy", set).CombinedOutput(); err != nil {
					errs = append(errs, fmt.Errorf("ipset destroy %s: %w: %s", set, err, out))
				}
			}
		}
	}
	return errors.Join(errs...)
}

// kubeRules reads iptables-save output and returns the chains whose names
// start with one of prefixes and the rules of other chains that jump to
// them (as -D arguments).
func kubeRules(save string, prefixes ...string) (rules [][]string, chains []string) {
	for _, line := range strings.Split(save, "\n") {
		switch {
		case strings.HasPrefix(line, ":"):
			if c := strings.Fields(line[1:])[0]; hasPrefix(c, prefixes) {
				chains = append(chains, c)
			}
		case strings.HasPrefix(line, "-A "):
			rule := splitRule(strings.TrimPrefix(line, "-A "))
			for i := 1; i+1 < len(rule); i++ {
				if rule[i] == "-j" && hasPrefix(rule[i+1], prefixes) && !hasPrefix(rule[0], prefixes) {
					rules = append(rules, rule)
					break
				}
			}
		}
	}
	return rules, chains
}

// hasPrefix: name starts with one of prefixes.
func hasPrefix(name string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// splitRule splits an iptables-save rule into arguments, keeping quoted
// comments whole.
func splitRule(rule string) []string {
	var args []string
	var cur strings.Builder
	quoted := false
	for _, r := range rule {
		switch {
		case r == '"':
			quoted = !quoted
		case r == ' ' && !quoted:
			if cur.Len() > 0 {
				args = append(args, cur.String())
				cur.Reset()
			}
		default:
			cur.WriteRune(r)
		}
	}
	if cur.Len() > 0 {
		args = append(args, cur.String())
	}
	return args
}
