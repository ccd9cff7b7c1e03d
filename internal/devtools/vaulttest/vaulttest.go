// Package vaulttest runs a real HashiCorp Vault server for tests: v1.1.2 built from the Go module proxy
// (hack/tools/vault, exported by `make test` as LATCHKEY_VAULT), in dev mode (in memory, KV version 2 at secret/),
// driven with the official client: policies, Kubernetes auth against a test API server, roles, secrets, seal.
package vaulttest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"
)

// Issuer is the only service-account token issuer Vault v1.1.2's
// Kubernetes auth accepts: the API server the tests log in against signs
// with it (kubetest.Options.APIServerArgs).
const Issuer = "kubernetes/serviceaccount"

// rootToken is the dev server's root token: test-only.
const rootToken = "latchkey-test-root" //nolint:gosec // a test server's token

// Server is one dev-mode Vault.
type Server struct {
	// Address is its URL (http, on 127.0.0.1).
	Address string
	// Root is a client with the root token.
	Root *vault.Client

	cmd       *exec.Cmd
	exited    chan struct{}
	unsealKey string
}

// Start runs a Vault dev server for the duration of t. Without the binary
// the test fails and says how to get it.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := os.Getenv("LATCHKEY_VAULT")
	if bin == "" {
		t.Fatal("vaulttest: LATCHKEY_VAULT is not set; run `make test`, which builds Vault v1.1.2 (hack/tool.sh vault) and sets it")
	}
	port := freePort(t)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	//nolint:gosec // the binary make builds, named by the test environment
	cmd := exec.CommandContext(context.Background(), bin, "server", "-dev", "-dev-root-token-id="+rootToken, "-dev-listen-address="+addr)
	cmd.Env = []string{"HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &Server{Address: "http://" + addr, cmd: cmd, exited: make(chan struct{})}
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
	go func() { _ = cmd.Wait(); close(s.exited) }()
	t.Cleanup(s.Stop)

	select {
	case s.unsealKey = <-keyc:
	case <-s.exited:
		t.Fatalf("vault exited: %s", stderr.String())
	case <-time.After(time.Minute):
		t.Fatalf("vault printed no unseal key in a minute: %s", stderr.String())
	}
	cfg := vault.DefaultConfig()
	cfg.Address = s.Address
	s.Root, err = vault.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s.Root.SetToken(rootToken)
	s.waitHealthy(t)
	return s
}

// Stop ends the server (it is then unreachable); its data is lost.
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

// Unseal unseals it with the dev server's key.
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

// syncBuffer is a bytes.Buffer safe for the process's writes and our reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
