package devcluster

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/latchkey-dev/latchkey/internal/devtools/ociimage"
)

const (
	nodeName = "latchkey-node"
	// bridgeName and cgroupRoot are fixed so Teardown finds them after a crash.
	bridgeName = "lk0"
	cgroupRoot = "/latchkey-devcluster"
	// pauseRepo is the sandbox image, served by the local registry.
	pauseRepo = "devcluster/pause:1"
	// nodeStartedMarker is written before containerd starts; Teardown removes
	// the network namespaces made after it, and runs `kube-proxy --cleanup`
	// with the binary it names.
	nodeStartedMarker = "node-started"
)

// startNode starts containerd and a kubelet registered as one node, with a
// local registry that containerd pulls from, and waits until it is Ready.
func (c *Cluster) startNode(ctx context.Context, nodeIP string) error {
	state := c.opts.StateDir
	if os.Geteuid() != 0 {
		return fmt.Errorf("devcluster: a real node needs root (containerd, runc and the kubelet manage mounts, cgroups and network namespaces)")
	}
	for _, bin := range []string{"containerd", "runc", "/usr/lib/cni/bridge", "/usr/lib/cni/host-local", "/usr/lib/cni/loopback"} {
		if _, err := exec.LookPath(bin); err != nil {
			return fmt.Errorf("devcluster: %s not found; `make node-packages` installs it: %w", bin, err)
		}
	}
	c.Node = &Node{Name: nodeName, IP: nodeIP}
	if err := os.WriteFile(filepath.Join(state, nodeStartedMarker), []byte(c.opts.Binaries.KubeProxy), 0o644); err != nil {
		return err
	}

	// The registry listens on the node's address, not loopback: containerd
	// pulls from it, and so do pods that read image configs (the webhook).
	reg, err := StartRegistry(net.JoinHostPort(nodeIP, "0"))
	if err != nil {
		return err
	}
	c.Node.Registry = reg
	c.opts.Logf("devcluster: registry on %s; building the pause image", reg.Host)
	if err := c.pushPauseImage(ctx); err != nil {
		return err
	}

	if err := makeCgroupRoot(); err != nil {
		return err
	}
	sock, err := c.startContainerd(ctx)
	if err != nil {
		return err
	}
	if err := c.startKubelet(ctx, nodeIP, sock); err != nil {
		return err
	}
	return c.startKubeProxy(ctx)
}

// startKubeProxy runs kube-proxy in iptables mode, so pods reach Services
// (the API server's `kubernetes` Service among them) as in any cluster.
func (c *Cluster) startKubeProxy(ctx context.Context) error {
	dir := filepath.Join(c.opts.StateDir, "kube-proxy")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := c.writeKubeconfig("kube-proxy", c.Config.Host, certSpec{commonName: "system:kube-proxy", client: true}); err != nil {
		return err
	}
	ports, err := freePorts(2)
	if err != nil {
		return err
	}
	raw, err := yaml.Marshal(map[string]any{
		"apiVersion":       "kubeproxy.config.k8s.io/v1alpha1",
		"kind":             "KubeProxyConfiguration",
		"clientConnection": map[string]any{"kubeconfig": c.kubeconfigPath("kube-proxy")},
		"mode":             "iptables",
		"clusterCIDR":      podCIDR,
		"hostnameOverride": nodeName,
		// Masquerade Service traffic: a pod talking to a Service backed by a
		// pod on the same bridge then gets replies through the host's conntrack.
		"iptables": map[string]any{"masqueradeAll": true, "syncPeriod": "5s", "minSyncPeriod": "0s"},
		// Leave the machine's conntrack sysctls alone.
		"conntrack":          map[string]any{"maxPerCore": 0},
		"metricsBindAddress": fmt.Sprintf("127.0.0.1:%d", ports[0]),
		"healthzBindAddress": fmt.Sprintf("127.0.0.1:%d", ports[1]),
	})
	if err != nil {
		return err
	}
	cfgPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgPath, raw, 0o644); err != nil {
		return err
	}
	c.opts.Logf("devcluster: starting kube-proxy")
	if _, err := c.start("kube-proxy", c.opts.Binaries.KubeProxy, []string{"--config=" + cfgPath, "--v=1"}); err != nil {
		return err
	}
	cs, err := c.Clientset()
	if err != nil {
		return err
	}
	// kube-proxy is ready when it has programmed the `kubernetes` Service.
	return c.waitFor(ctx, "kube-proxy's rules for the kubernetes Service", func(ctx context.Context) (bool, error) {
		out, err := exec.CommandContext(ctx, "iptables-save", "-t", "nat").Output()
		if err != nil {
			return false, err
		}
		_, err = cs.Discovery().ServerVersion()
		return strings.Contains(string(out), "default/kubernetes:https"), err
	})
}

func (c *Cluster) pushPauseImage(ctx context.Context) error {
	bin, err := ociimage.GoBinary(ctx, c.opts.ModuleDir, "./internal/devtools/devcluster/pause", runtime.GOARCH)
	if err != nil {
		return err
	}
	_, err = c.Node.Registry.PushProgram(ctx, pauseRepo, bin, []string{"/pause"})
	return err
}

// startContainerd writes containerd's configuration and CNI network and starts
// it, returning its socket path.
func (c *Cluster) startContainerd(ctx context.Context) (string, error) {
	dir := filepath.Join(c.opts.StateDir, "containerd")
	cniConf := filepath.Join(c.opts.StateDir, "cni", "net.d")
	for _, d := range []string{dir, cniConf} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return "", err
		}
	}
	network, err := json.MarshalIndent(map[string]any{
		"cniVersion": "0.4.0",
		"name":       "devcluster",
		"plugins": []any{map[string]any{
			"type": "bridge", "bridge": bridgeName, "isGateway": true, "hairpinMode": true,
			// No masquerade: pods only talk to this machine and each other, and
			// without it the plugin leaves no iptables rules behind.
			"ipMasq": false,
			"ipam": map[string]any{
				"type":    "host-local",
				"ranges":  [][]map[string]string{{{"subnet": podCIDR}}},
				"routes":  []map[string]string{{"dst": "0.0.0.0/0"}},
				"dataDir": filepath.Join(c.opts.StateDir, "cni", "ipam"),
			},
		}},
	}, "", "  ")
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(cniConf, "10-devcluster.conflist"), network, 0o644); err != nil {
		return "", err
	}

	sock := filepath.Join(dir, "containerd.sock")
	reg := c.Node.Registry.Host
	config := fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]

[grpc]
  address = %q

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %q
  # This machine lacks CAP_SYS_RESOURCE; without this runc fails with
  # "can't get final child's PID from pipe: EOF".
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = %q
  [plugins."io.containerd.grpc.v1.cri".registry.mirrors.%q]
    endpoint = [%q]
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), sock, reg+"/"+pauseRepo, cniConf, reg, "http://"+reg)
	confPath := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(confPath, []byte(config), 0o644); err != nil {
		return "", err
	}
	c.opts.Logf("devcluster: starting containerd")
	if _, err := c.start("containerd", mustLookPath("containerd"), []string{"--config", confPath}); err != nil {
		return "", err
	}
	return sock, c.waitFor(ctx, "containerd's socket", func(ctx context.Context) (bool, error) {
		conn, err := new(net.Dialer).DialContext(ctx, "unix", sock)
		if err != nil {
			return false, err
		}
		_ = conn.Close()
		return true, nil
	})
}

// startKubelet writes the kubelet's identity and configuration, starts it, and
// waits until the node is Ready.
func (c *Cluster) startKubelet(ctx context.Context, nodeIP, runtimeSock string) error {
	dir := filepath.Join(c.opts.StateDir, "kubelet")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	pki := filepath.Join(c.opts.StateDir, "pki")
	servingCrt, servingKey, err := c.ca.writeKeyPair(pki, "kubelet", certSpec{
		commonName: nodeName, server: true, ips: []net.IP{net.ParseIP(nodeIP)}, dnsNames: []string{nodeName},
	})
	if err != nil {
		return err
	}
	if err := c.writeKubeconfig("kubelet", c.Config.Host, certSpec{commonName: "system:node:" + nodeName, orgs: []string{"system:nodes"}, client: true}); err != nil {
		return err
	}
	ports, err := freePorts(1)
	if err != nil {
		return err
	}
	cfg := map[string]any{
		"apiVersion": "kubelet.config.k8s.io/v1beta1",
		"kind":       "KubeletConfiguration",
		"address":    nodeIP,
		"port":       ports[0],
		// The API server proxies `kubectl logs` and `exec` to the kubelet; in
		// this test cluster the kubelet trusts every caller that reaches it.
		"authentication": map[string]any{
			"anonymous": map[string]any{"enabled": true},
			"webhook":   map[string]any{"enabled": false},
			"x509":      map[string]any{"clientCAFile": c.CAFile},
		},
		"authorization":               map[string]any{"mode": "AlwaysAllow"},
		"tlsCertFile":                 servingCrt,
		"tlsPrivateKeyFile":           servingKey,
		"containerRuntimeEndpoint":    "unix://" + runtimeSock,
		"cgroupDriver":                "cgroupfs",
		"cgroupRoot":                  cgroupRoot,
		"failCgroupV1":                false,
		"failSwapOn":                  false,
		"enforceNodeAllocatable":      []string{},
		"evictionHard":                map[string]string{"memory.available": "1Mi", "nodefs.available": "1%", "nodefs.inodesFree": "1%", "imagefs.available": "1%"},
		"imageGCHighThresholdPercent": 100,
		"imageGCLowThresholdPercent":  99,
		"clusterDomain":               clusterDomain,
		"resolvConf":                  "/etc/resolv.conf",
		"readOnlyPort":                0,
		"healthzPort":                 0,
		"volumePluginDir":             filepath.Join(dir, "volume-plugins"),
		"serializeImagePulls":         false,
		"maxPods":                     110,
		"registerNode":                true,
		"syncFrequency":               "5s",
		// A crashed container restarts within 2 s instead of after up to
		// 5 min of back-off, so tests of restarts and recovery are quick.
		"crashLoopBackOff":          map[string]any{"maxContainerRestartPeriod": "2s"},
		"fileCheckFrequency":        "5s",
		"nodeStatusUpdateFrequency": "5s",
	}
	raw, err := yaml.Marshal(cfg)
	if err != nil {
		return err
	}
	cfgPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgPath, raw, 0o644); err != nil {
		return err
	}
	c.opts.Logf("devcluster: starting kubelet as %s on %s", nodeName, nodeIP)
	if _, err := c.start("kubelet", c.opts.Binaries.Kubelet, []string{
		"--config=" + cfgPath,
		"--kubeconfig=" + c.kubeconfigPath("kubelet"),
		"--root-dir=" + filepath.Join(dir, "root"),
		"--cert-dir=" + filepath.Join(dir, "pki"),
		"--hostname-override=" + nodeName,
		"--node-ip=" + nodeIP,
		"--v=1",
	}); err != nil {
		return err
	}
	cs, err := c.Clientset()
	if err != nil {
		return err
	}
	return c.waitFor(ctx, "node "+nodeName+" Ready", func(ctx context.Context) (bool, error) {
		n, err := cs.CoreV1().Nodes().Get(ctx, nodeName, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady {
				return cond.Status == corev1.ConditionTrue, fmt.Errorf("%s: %s", cond.Reason, cond.Message)
			}
		}
		return false, nil
	})
}

// makeCgroupRoot creates the kubelet's cgroup root in every cgroup v1
// hierarchy. cpuset is not inherited on v1, so it copies the parent's CPUs and
// memory nodes, without which no container can start.
func makeCgroupRoot() error {
	for _, h := range cgroupHierarchies() {
		dir := filepath.Join(h, cgroupRoot)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("devcluster: cgroup %s: %w", dir, err)
		}
		if filepath.Base(h) != "cpuset" {
			continue
		}
		for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
			v, err := os.ReadFile(filepath.Join(h, f))
			if err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(dir, f), v, 0o644); err != nil {
				return fmt.Errorf("devcluster: %s: %w", f, err)
			}
		}
	}
	return nil
}

// cgroupHierarchies lists the mount points of cgroup hierarchies (v1, and the
// v2 one a hybrid machine also mounts, where runc creates cgroups too).
func cgroupHierarchies() []string {
	raw, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return nil
	}
	var out []string
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && (f[2] == "cgroup" || f[2] == "cgroup2") {
			out = append(out, f[1])
		}
	}
	return out
}

// primaryIPv4 returns the first global IPv4 address of an interface that is up
// and not one the cluster made. The node may not use loopback: pods reach it
// at this address.
func primaryIPv4() (string, error) {
	ifaces, err := net.Interfaces()
	if err != nil {
		return "", err
	}
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 || ifc.Name == bridgeName ||
			strings.HasPrefix(ifc.Name, "veth") || strings.HasPrefix(ifc.Name, "cni") || strings.HasPrefix(ifc.Name, "docker") {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && ipn.IP.IsGlobalUnicast() {
				return ipn.IP.String(), nil
			}
		}
	}
	return "", errNoIP
}

func mustLookPath(name string) string {
	p, err := exec.LookPath(name)
	if err != nil {
		return name
	}
	return p
}
