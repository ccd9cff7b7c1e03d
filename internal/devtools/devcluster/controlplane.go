package devcluster

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Network layout. Unusual ranges keep clear of the machine's own networks.
const (
	serviceCIDR   = "10.213.128.0/24"
	serviceIP     = "10.213.128.1" // the `kubernetes` Service, first address of serviceCIDR
	podCIDR       = "10.213.0.0/24"
	clusterDomain = "cluster.local"
)

// startControlPlane starts etcd, the API server, the controller manager and the
// scheduler, and waits until the API server is ready and the default
// ServiceAccount exists. nodeIP, when set, is where the API server listens
// besides loopback, so pods reach it through the `kubernetes` Service.
func (c *Cluster) startControlPlane(ctx context.Context, nodeIP string) error {
	state, bins := c.opts.StateDir, c.opts.Binaries
	pki := filepath.Join(state, "pki")
	ca, err := newAuthority()
	if err != nil {
		return err
	}
	c.ca = ca
	c.CAFile = filepath.Join(pki, "ca.crt")
	if err := os.WriteFile(c.CAFile, ca.certPEM(), 0o644); err != nil {
		return err
	}

	ports, err := freePorts(3)
	if err != nil {
		return err
	}
	etcdClient, etcdPeer, apiPort := ports[0], ports[1], ports[2]

	c.opts.Logf("devcluster: starting etcd")
	if _, err := c.start("etcd", bins.Etcd, []string{
		"--name=devcluster",
		"--data-dir=" + filepath.Join(state, "etcd"),
		"--listen-client-urls=http://127.0.0.1:" + strconv.Itoa(etcdClient),
		"--advertise-client-urls=http://127.0.0.1:" + strconv.Itoa(etcdClient),
		"--listen-peer-urls=http://127.0.0.1:" + strconv.Itoa(etcdPeer),
		"--initial-advertise-peer-urls=http://127.0.0.1:" + strconv.Itoa(etcdPeer),
		"--initial-cluster=devcluster=http://127.0.0.1:" + strconv.Itoa(etcdPeer),
		"--unsafe-no-fsync", // test data: durability buys nothing, fsync costs seconds
		"--log-level=warn",
	}); err != nil {
		return err
	}

	ips := []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP(serviceIP)}
	bind, advertise := "127.0.0.1", "127.0.0.1"
	if nodeIP != "" {
		ips = append(ips, net.ParseIP(nodeIP))
		bind, advertise = "0.0.0.0", nodeIP
	}
	apiCrt, apiKey, err := ca.writeKeyPair(pki, "apiserver", certSpec{
		commonName: "kube-apiserver", server: true, ips: ips,
		dnsNames: []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc." + clusterDomain},
	})
	if err != nil {
		return err
	}
	kubeletClientCrt, kubeletClientKey, err := ca.writeKeyPair(pki, "apiserver-kubelet-client", certSpec{commonName: "kube-apiserver-kubelet-client", orgs: []string{"system:masters"}, client: true})
	if err != nil {
		return err
	}
	saKey, saPub, err := writeServiceAccountKey(pki)
	if err != nil {
		return err
	}
	// The first issuer signs; the https one is accepted too.
	c.ServiceAccountIssuer, c.ServiceAccountKeyFile = "kubernetes/serviceaccount", saPub
	issuers := []string{c.ServiceAccountIssuer, "https://kubernetes.default.svc." + clusterDomain}
	server := fmt.Sprintf("https://127.0.0.1:%d", apiPort)

	c.opts.Logf("devcluster: starting kube-apiserver on %s", server)
	if _, err := c.start("kube-apiserver", bins.APIServer, []string{
		"--etcd-servers=http://127.0.0.1:" + strconv.Itoa(etcdClient),
		"--bind-address=" + bind,
		"--advertise-address=" + advertise,
		"--secure-port=" + strconv.Itoa(apiPort),
		"--cert-dir=" + filepath.Join(state, "apiserver"),
		"--tls-cert-file=" + apiCrt,
		"--tls-private-key-file=" + apiKey,
		"--client-ca-file=" + c.CAFile,
		"--service-account-issuer=" + issuers[0],
		"--service-account-issuer=" + issuers[1],
		"--service-account-key-file=" + saPub,
		"--service-account-signing-key-file=" + saKey,
		"--service-cluster-ip-range=" + serviceCIDR,
		"--authorization-mode=Node,RBAC",
		"--allow-privileged=true",
		"--kubelet-client-certificate=" + kubeletClientCrt,
		"--kubelet-client-key=" + kubeletClientKey,
		"--kubelet-certificate-authority=" + c.CAFile,
		// The node's IP, not its name: there is no DNS for node names.
		"--kubelet-preferred-address-types=InternalIP",
		// Webhooks and aggregated APIs are called at their endpoints, so the
		// API server reaches them without kube-proxy on the control plane.
		"--enable-aggregator-routing=true",
		"--endpoint-reconciler-type=lease",
		"--profiling=false",
		"--v=1",
	}); err != nil {
		return err
	}

	// Client identities: admin, and one per control-plane component so RBAC's
	// bootstrap roles apply as in a real cluster.
	clients := []struct {
		name, cn string
		orgs     []string
	}{
		{"admin", "latchkey-admin", []string{"system:masters"}},
		{"kube-controller-manager", "system:kube-controller-manager", nil},
		{"kube-scheduler", "system:kube-scheduler", nil},
	}
	for _, cl := range clients {
		if err := c.writeKubeconfig(cl.name, server, certSpec{commonName: cl.cn, orgs: cl.orgs, client: true}); err != nil {
			return err
		}
	}
	c.Kubeconfig = c.kubeconfigPath("admin")
	if c.Config, err = clientcmd.BuildConfigFromFlags("", c.Kubeconfig); err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		return err
	}
	if err := c.waitFor(ctx, "kube-apiserver /readyz", func(ctx context.Context) (bool, error) {
		body, err := cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		return err == nil && string(body) == "ok", err
	}); err != nil {
		return err
	}

	c.opts.Logf("devcluster: starting kube-controller-manager and kube-scheduler")
	if _, err := c.start("kube-controller-manager", bins.ControllerManager, []string{
		"--kubeconfig=" + c.kubeconfigPath("kube-controller-manager"),
		"--authentication-kubeconfig=" + c.kubeconfigPath("kube-controller-manager"),
		"--authorization-kubeconfig=" + c.kubeconfigPath("kube-controller-manager"),
		"--service-account-private-key-file=" + saKey,
		"--root-ca-file=" + c.CAFile,
		"--use-service-account-credentials=true",
		"--leader-elect=false",
		"--secure-port=0",
		"--controllers=*,-nodeipam,-cloud-node-lifecycle,-service-lb-controller,-node-route-controller",
		"--v=1",
	}); err != nil {
		return err
	}
	if _, err := c.start("kube-scheduler", bins.Scheduler, []string{
		"--kubeconfig=" + c.kubeconfigPath("kube-scheduler"),
		"--authentication-kubeconfig=" + c.kubeconfigPath("kube-scheduler"),
		"--authorization-kubeconfig=" + c.kubeconfigPath("kube-scheduler"),
		"--leader-elect=false",
		"--secure-port=0",
		"--v=1",
	}); err != nil {
		return err
	}
	return c.waitFor(ctx, "the default ServiceAccount", func(ctx context.Context) (bool, error) {
		_, err := cs.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		return err == nil, err
	})
}

func (c *Cluster) kubeconfigPath(name string) string {
	return filepath.Join(c.opts.StateDir, "kubeconfig", name+".yaml")
}

// writeKubeconfig issues a client certificate and writes a kubeconfig with it
// embedded, so the file is self-contained.
func (c *Cluster) writeKubeconfig(name, server string, spec certSpec) error {
	crt, key, err := c.ca.issue(spec)
	if err != nil {
		return err
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["devcluster"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: c.ca.certPEM()}
	cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{ClientCertificateData: crt, ClientKeyData: key}
	cfg.Contexts["devcluster"] = &clientcmdapi.Context{Cluster: "devcluster", AuthInfo: name}
	cfg.CurrentContext = "devcluster"
	return clientcmd.WriteToFile(*cfg, c.kubeconfigPath(name))
}

// freePorts returns n distinct TCP ports that were free a moment ago.
func freePorts(n int) ([]int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	for range n {
		l, err := new(net.ListenConfig).Listen(context.Background(), "tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
