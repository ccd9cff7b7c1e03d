// Package devcluster runs a real, local Kubernetes built from source: etcd, the
// API server, the controller manager and the scheduler as child processes, and
// optionally one real node (containerd, runc, CNI bridge and a kubelet) that
// pulls images from a registry in this process. The e2e suite and `make dev` use it.
//
// Everything the cluster writes lives under one state folder. Every process it
// starts is recorded there by PID, so Teardown can stop a cluster whose owner
// died (a panicking test, a SIGKILL) and undo what the node left behind:
// mounts, network namespaces, the bridge and cgroups. containerd 1.6 keeps some
// state at fixed paths, so one node per machine at a time.
package devcluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// Binaries are the paths of the programs the cluster runs.
type Binaries struct {
	Etcd, APIServer, ControllerManager, Scheduler, Kubelet, KubeProxy string
}

// BinariesFromEnv reads the paths `make` exports: TEST_ASSET_ETCD and
// TEST_ASSET_KUBE_APISERVER (shared with envtest),
// LATCHKEY_KUBE_CONTROLLER_MANAGER and LATCHKEY_KUBE_SCHEDULER, and, for a
// cluster with a node, LATCHKEY_KUBELET and LATCHKEY_KUBE_PROXY. Only the
// binaries the cluster will run are required, so `make dev` without a node
// builds no kubelet or kube-proxy.
func BinariesFromEnv(node bool) (Binaries, error) {
	b := Binaries{
		Etcd:              os.Getenv("TEST_ASSET_ETCD"),
		APIServer:         os.Getenv("TEST_ASSET_KUBE_APISERVER"),
		ControllerManager: os.Getenv("LATCHKEY_KUBE_CONTROLLER_MANAGER"),
		Scheduler:         os.Getenv("LATCHKEY_KUBE_SCHEDULER"),
		Kubelet:           os.Getenv("LATCHKEY_KUBELET"),
		KubeProxy:         os.Getenv("LATCHKEY_KUBE_PROXY"),
	}
	required := [][2]string{
		{"etcd", b.Etcd}, {"kube-apiserver", b.APIServer},
		{"kube-controller-manager", b.ControllerManager}, {"kube-scheduler", b.Scheduler},
	}
	if node {
		required = append(required, [2]string{"kubelet", b.Kubelet}, [2]string{"kube-proxy", b.KubeProxy})
	}
	for _, r := range required {
		if r[1] == "" {
			return b, fmt.Errorf("devcluster: path of %s not set; run through make (it builds and exports them)", r[0])
		}
	}
	return b, nil
}

// Options configure a cluster.
type Options struct {
	// StateDir holds certificates, data, kubeconfigs, logs and PID records.
	StateDir string
	Binaries Binaries
	// Node adds a real node. It needs root, containerd, runc and the CNI plugins.
	Node bool
	// ModuleDir is the latchkey source tree; the node's pause image is built from it.
	ModuleDir string
	// Logf reports progress; nil is quiet.
	Logf func(format string, args ...any)
}

// Cluster is a running local cluster.
type Cluster struct {
	opts Options
	// Kubeconfig is an admin kubeconfig file.
	Kubeconfig string
	// Config is the admin REST config.
	Config *rest.Config
	// CAFile verifies the API server and signs every cluster certificate.
	CAFile string
	// ServiceAccountIssuer is the `iss` of service-account tokens:
	// kubernetes/serviceaccount, the only one HashiCorp Vault v1.1's
	// Kubernetes auth accepts. The API server accepts tokens of its https
	// issuer too, but publishes no keys (OIDC discovery needs an https
	// first issuer): verifiers read ServiceAccountKeyFile.
	ServiceAccountIssuer string
	// ServiceAccountKeyFile is the PEM public key of the tokens' signing
	// key (the API server's --service-account-key-file).
	ServiceAccountKeyFile string
	// Node is set when the cluster has a real node.
	Node *Node

	ca       *authority
	procs    []*process
	stopOnce sync.Once
}

// Node describes the real node of a cluster.
type Node struct {
	Name string
	IP   string
	// Registry is the registry the node pulls from.
	Registry *Registry
}

const startupTimeout = 3 * time.Minute

// Start brings a cluster up. On error everything already started is stopped.
func Start(ctx context.Context, opts Options) (c *Cluster, err error) {
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	state, err := filepath.Abs(opts.StateDir)
	if err != nil {
		return nil, err
	}
	opts.StateDir = state
	// A previous run that died leaves processes and node state behind.
	if err := Teardown(state); err != nil {
		return nil, fmt.Errorf("devcluster: clean up previous run: %w", err)
	}
	for _, d := range []string{"pki", "logs", "pids", "kubeconfig"} {
		if err := os.MkdirAll(filepath.Join(state, d), 0o755); err != nil {
			return nil, err
		}
	}
	c = &Cluster{opts: opts}
	defer func() {
		if err != nil {
			c.Stop()
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, startupTimeout)
	defer cancel()

	var nodeIP string
	if opts.Node {
		if nodeIP, err = primaryIPv4(); err != nil {
			return nil, err
		}
	}
	if err := c.startControlPlane(ctx, nodeIP); err != nil {
		return nil, err
	}
	if opts.Node {
		if err := c.startNode(ctx, nodeIP); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// Clientset returns a typed client with admin rights.
func (c *Cluster) Clientset() (*kubernetes.Clientset, error) {
	return kubernetes.NewForConfig(c.Config)
}

// LogDir is where every component writes its log.
func (c *Cluster) LogDir() string { return filepath.Join(c.opts.StateDir, "logs") }

// ServiceCIDR is the range of Services' cluster IPs (what a network
// component of the node, such as a NetworkPolicy enforcer, is told).
func (c *Cluster) ServiceCIDR() string { return serviceCIDR }

// Stop stops every component in reverse order of start and undoes what the
// node set up. It is safe to call more than once and from several goroutines
// (a signal handler and a deferred call, say).
func (c *Cluster) Stop() { c.stopOnce.Do(c.stop) }

func (c *Cluster) stop() {
	if c.Node != nil && c.Node.Registry != nil {
		c.Node.Registry.Close()
	}
	for i := len(c.procs) - 1; i >= 0; i-- {
		c.procs[i].stop(c.opts.StateDir, 20*time.Second)
	}
	c.procs = nil
	if err := Teardown(c.opts.StateDir); err != nil {
		c.opts.Logf("devcluster: teardown: %v", err)
	}
}

// StartComponent runs bin with args as one more component of the cluster:
// its output goes to <LogDir>/<name>.log and Stop ends it with the rest,
// as Teardown does if this process dies first. (The e2e suite runs
// cert-manager this way.)
func (c *Cluster) StartComponent(name, bin string, args ...string) error {
	_, err := c.start(name, bin, args)
	return err
}

// start runs a component and remembers it for Stop.
func (c *Cluster) start(name, bin string, args []string, env ...string) (*process, error) {
	p, err := startProcess(c.opts.StateDir, name, bin, args, env)
	if err != nil {
		return nil, err
	}
	c.procs = append(c.procs, p)
	return p, nil
}

// waitFor polls check until it returns true, ctx ends, or one of the
// component processes exits (which usually means a bad flag: its log says).
func (c *Cluster) waitFor(ctx context.Context, what string, check func(context.Context) (bool, error)) error {
	var last error
	for {
		for _, p := range c.procs {
			if gone, err := p.exited(); gone {
				return fmt.Errorf("waiting for %s: %w", what, err)
			}
		}
		ok, err := check(ctx)
		if ok {
			return nil
		}
		if err != nil {
			last = err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, errors.Join(ctx.Err(), last))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// errNoIP is returned when no interface has a usable address for the node.
var errNoIP = errors.New("devcluster: no non-loopback IPv4 address for the node")
