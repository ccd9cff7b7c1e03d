// Package vaulttest runs a real HashiCorp Vault server for tests: v1.1.2 built from the Go module proxy
// (hack/tools/vault, exported by `make test` as LATCHKEY_VAULT), in dev mode (in memory, KV version 2 at secret/)
// or with its data on disk (StartPersistent, for restarts), driven with the official client: policies,
// Kubernetes auth against a test API server, roles, secrets, seal, restart.
package vaulttest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"

	"github.com/latchkey-dev/latchkey/internal/devtools/leakcheck"
)

// Issuer is the only service-account token issuer Vault v1.1.2's
// Kubernetes auth accepts: the API server the tests log in against signs
// with it (kubetest.Options.APIServerArgs).
const Issuer = "kubernetes/serviceaccount"

// rootToken is the dev server's root token: test-only.
const rootToken = "latchkey-test-root" //nolint:gosec // a test server's token

// Server is one Vault.
type Server struct {
	// Address is its URL (http, on 127.0.0.1).
	Address string
	// Root is a client with the root token.
	Root *vault.Client

	args      []string // the server command's arguments, for Restart
	home      string
	cmd       *exec.Cmd
	exited    chan struct{}
	stderr    *leakcheck.Buffer
	unsealKey string
}

// Start runs a Vault dev server for the duration of t. Without the binary
// the test fails and says how to get it.
func Start(t testing.TB) *Server {
	t.Helper()
	return StartOn(t, "127.0.0.1:"+strconv.Itoa(freePort(t)))
}

// StartOn is Start listening on addr (host:port), e.g. a node's address
// that pods reach.
func StartOn(t testing.TB, addr string) *Server {
	t.Helper()
	s := &Server{Address: "http://" + addr, home: t.TempDir(),
		args: []string{"server", "-dev", "-dev-root-token-id=" + rootToken, "-dev-listen-address=" + addr}}
	out := s.launch(t)
	keyc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if k, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "Unseal Key: "); ok {
				keyc <- k
			}
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	t.Cleanup(s.Stop)

	select {
	case s.unsealKey = <-keyc:
	case <-s.exited:
		t.Fatalf("vault exited: %s", s.stderr.String())
	case <-time.After(time.Minute):
		t.Fatalf("vault printed no unseal key in a minute: %s", s.stderr.String())
	}
	s.Root = s.client(t)
	s.Root.SetToken(rootToken)
	s.waitHealthy(t)
	return s
}

// StartPersistent runs a Vault that keeps its data on disk (file storage in
// a folder of t), as a production server does: initialised with one unseal
// key, unsealed, with KV version 2 at secret/ like the dev server. Restart
// stops and starts it again; its data, tokens and leases are kept.
func StartPersistent(t testing.TB) *Server {
	t.Helper()
	port := strconv.Itoa(freePort(t))
	dir := t.TempDir()
	conf := fmt.Sprintf("storage \"file\" {\n  path = %q\n}\nlistener \"tcp\" {\n  address = \"127.0.0.1:%s\"\n  tls_disable = 1\n}\n"+
		"disable_mlock = true\napi_addr = \"http://127.0.0.1:%s\"\n", filepath.Join(dir, "data"), port, port)
	if err := os.WriteFile(filepath.Join(dir, "vault.hcl"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	s := &Server{Address: "http://127.0.0.1:" + port, home: dir, args: []string{"server", "-config=" + filepath.Join(dir, "vault.hcl")}}
	out := s.launch(t)
	go func() { _, _ = io.Copy(io.Discard, out) }()
	t.Cleanup(s.Stop)
	s.Root = s.client(t)
	s.waitAnswering(t)
	init, err := s.Root.Sys().Init(&vault.InitRequest{SecretShares: 1, SecretThreshold: 1})
	if err != nil {
		t.Fatalf("vault operator init: %v", err)
	}
	s.unsealKey = init.Keys[0]
	s.Root.SetToken(init.RootToken)
	s.Unseal(t)
	if err := s.Root.Sys().Mount("secret", &vault.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}); err != nil {
		t.Fatalf("mount kv-v2 at secret/: %v", err)
	}
	// A new KV v2 mount upgrades itself in the background and refuses
	// requests meanwhile.
	deadline := time.Now().Add(time.Minute)
	for {
		_, err := s.Root.Logical().Read("secret/config")
		if err == nil {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("secret/ not ready in a minute: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Restart stops the server and starts it again, sealed as a restarted
// Vault is, then unseals it: what survives is what its storage kept (all
// of it when started with StartPersistent, nothing in dev mode).
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Stop()
	out := s.launch(t)
	go func() { _, _ = io.Copy(io.Discard, out) }()
	s.waitAnswering(t)
	s.Unseal(t)
}

// launch starts the server command and returns its stdout.
func (s *Server) launch(t testing.TB) io.Reader {
	t.Helper()
	bin := os.Getenv("LATCHKEY_VAULT")
	if bin == "" {
		t.Fatal("vaulttest: LATCHKEY_VAULT is not set; run `make test`, which builds Vault v1.1.2 (hack/tool.sh vault) and sets it")
	}
	cmd := exec.CommandContext(context.Background(), bin, s.args...) //nolint:gosec // the binary make builds, named by the test environment
	cmd.Env = []string{"HOME=" + s.home, "PATH=" + os.Getenv("PATH")}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	s.stderr = &leakcheck.Buffer{}
	cmd.Stderr = s.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.cmd, s.exited = cmd, make(chan struct{})
	exited := s.exited
	go func() { _ = cmd.Wait(); close(exited) }()
	return out
}

func (s *Server) client(t testing.TB) *vault.Client {
	t.Helper()
	cfg := vault.DefaultConfig()
	cfg.Address = s.Address
	c, err := vault.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// waitAnswering waits until the server answers its health endpoint, in
// whatever state (uninitialised, sealed).
func (s *Server) waitAnswering(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		_, err := s.Root.Sys().Health()
		if err == nil {
			return
		}
		select {
		case <-s.exited:
			t.Fatalf("vault exited: %s", s.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("vault does not answer in a minute: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop ends the server (it is then unreachable); a dev server's data is
// lost.
func (s *Server) Stop() {
	if s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
}

func (s *Server) waitHealthy(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		h, err := s.Root.Sys().Health()
		if err == nil && h.Initialized && !h.Sealed {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("vault not healthy in a minute: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Seal seals the Vault: every request then fails with 503 until Unseal.
func (s *Server) Seal(t testing.TB) {
	t.Helper()
	if err := s.Root.Sys().Seal(); err != nil {
		t.Fatal(err)
	}
}

// Unseal unseals it with its key.
func (s *Server) Unseal(t testing.TB) {
	t.Helper()
	if _, err := s.Root.Sys().Unseal(s.unsealKey); err != nil {
		t.Fatal(err)
	}
	s.waitHealthy(t)
}

// Write writes data at path with the root token (e.g. a policy, a role).
func (s *Server) Write(t testing.TB, path string, data map[string]any) {
	t.Helper()
	if _, err := s.Root.Logical().Write(path, data); err != nil {
		t.Fatalf("vault write %s: %v", path, err)
	}
}

// Put writes a new version of the KV v2 secret at path of the secret/
// mount and returns its version.
func (s *Server) Put(t testing.TB, path string, data map[string]any) int {
	t.Helper()
	kv, err := s.Root.KVv2("secret").Put(context.Background(), path, data)
	if err != nil {
		t.Fatalf("vault kv put secret/%s: %v", path, err)
	}
	return kv.VersionMetadata.Version
}

// Policy writes a policy granting read on each of paths (KV v2 data paths,
// e.g. secret/data/team-a/*).
func (s *Server) Policy(t testing.TB, name string, paths ...string) {
	t.Helper()
	var b strings.Builder
	for _, p := range paths {
		fmt.Fprintf(&b, "path %q { capabilities = [\"read\"] }\n", p)
	}
	if err := s.Root.Sys().PutPolicy(name, b.String()); err != nil {
		t.Fatal(err)
	}
}

// EnableKubernetesAuth enables the kubernetes auth method at mount,
// checking tokens with the API server at host (CA caPEM) through a
// TokenReview made with reviewerJWT (a ServiceAccount token allowed to
// create tokenreviews). Vault v1.1 appends the API path to host verbatim,
// so a trailing slash (envtest's) is dropped: "//apis/…" is a 404.
func (s *Server) EnableKubernetesAuth(t testing.TB, mount, host string, caPEM []byte, reviewerJWT string) {
	t.Helper()
	if err := s.Root.Sys().EnableAuthWithOptions(mount, &vault.EnableAuthOptions{Type: "kubernetes"}); err != nil {
		t.Fatal(err)
	}
	s.Write(t, "auth/"+mount+"/config", map[string]any{
		"kubernetes_host": strings.TrimRight(host, "/"), "kubernetes_ca_cert": string(caPEM), "token_reviewer_jwt": reviewerJWT,
	})
}

// Role writes a Kubernetes auth role binding ServiceAccounts of namespaces
// to policies, with a token TTL.
func (s *Server) Role(t testing.TB, mount, name string, serviceAccounts, namespaces []string, ttl time.Duration, policies ...string) {
	t.Helper()
	s.Write(t, "auth/"+mount+"/role/"+name, map[string]any{
		"bound_service_account_names":      strings.Join(serviceAccounts, ","),
		"bound_service_account_namespaces": strings.Join(namespaces, ","),
		// v1.1 names them policies (token_policies came later).
		"policies": strings.Join(policies, ","),
		"ttl":      int(ttl / time.Second),
	})
}

// Proxy is a reverse proxy in front of a Server that counts the requests
// it passes, by method and path: what reached Vault's door.
type Proxy struct {
	// Address is the proxy's URL, to give the code under test.
	Address string

	mu     sync.Mutex
	counts map[string]int
}

// NewProxy serves a counting reverse proxy in front of s for t.
func (s *Server) NewProxy(t testing.TB) *Proxy {
	t.Helper()
	l, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{Address: "http://" + l.Addr().String(), counts: map[string]int{}}
	target := s.Address
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.counts[r.Method+" "+r.URL.Path]++
		p.mu.Unlock()
		req, err := http.NewRequestWithContext(r.Context(), r.Method, target+r.URL.RequestURI(), r.Body) //nolint:gosec // a test proxy to the test's own Vault
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		req.Header = r.Header.Clone()
		resp, err := http.DefaultClient.Do(req) //nolint:gosec // a test proxy to the test's own Vault
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return p
}

// Count is how many requests of method to a path starting with prefix the
// proxy passed.
func (p *Proxy) Count(method, prefix string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for k, c := range p.counts {
		if strings.HasPrefix(k, method+" "+prefix) {
			n += c
		}
	}
	return n
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
