package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"github.com/latchkey-dev/latchkey/internal/devtools/akvemu"
	"github.com/latchkey-dev/latchkey/internal/devtools/certtest"
	"github.com/latchkey-dev/latchkey/internal/devtools/leakcheck"
	"github.com/latchkey-dev/latchkey/internal/devtools/targets"
	"github.com/latchkey-dev/latchkey/internal/envexec"
	"github.com/latchkey-dev/latchkey/internal/podcontract"
)

// The test binary doubles as the program latchkey-env execs: with
// helperEnv set, TestMain runs helperMain instead of the tests.
const helperEnv = "ENVEXEC_TEST_HELPER"

// Helper modes.
const (
	helperReport = "report" // print a report, then wait for SIGTERM and exit 42
	helperQuit   = "quit"   // exit 0 at once
)

// helperExitOnSignal is the helper's exit code after SIGTERM: the test sees
// it only if the exit code passes through.
const helperExitOnSignal = 42

// report is what the helper prints: its PID, the SHA-256 of the variables
// named by ENVEXEC_TEST_VARS, the LATCHKEY_* variables it can see (none),
// the variables it kept, and its arguments.
type report struct {
	PID    int               `json:"pid"`
	Hashes map[string]string `json:"hashes"`
	Own    []string          `json:"own"`
	Kept   map[string]string `json:"kept"`
	Args   []string          `json:"args"`
}

var buildDir string

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case helperQuit:
		os.Exit(0)
	case helperReport:
		os.Exit(helperMain())
	}
	code := m.Run()
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

func helperMain() int {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM)
	r := report{PID: os.Getpid(), Hashes: map[string]string{}, Kept: map[string]string{}, Args: os.Args[1:]}
	for v := range strings.SplitSeq(os.Getenv("ENVEXEC_TEST_VARS"), ",") {
		if value, ok := os.LookupEnv(v); ok {
			r.Hashes[v] = sum(value)
		}
	}
	for _, kv := range os.Environ() {
		name, value, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(name, "LATCHKEY_"):
			r.Own = append(r.Own, name)
		case strings.HasPrefix(name, "AZURE_TENANT_ID"), strings.HasPrefix(name, "ENV_INJECTOR_"), name == "MAIL":
			r.Kept[name] = value
		}
	}
	b, _ := json.Marshal(r)
	fmt.Printf("%s\nready\n", b)
	select {
	case <-sigs:
		fmt.Println("got SIGTERM")
		return helperExitOnSignal
	case <-time.After(30 * time.Second):
		return 3
	}
}

func sum(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

var (
	buildOnce sync.Once
	binary    string
	buildErr  error
)

// latchkeyEnv builds the binary as it ships (static, stripped) once per
// test process.
func latchkeyEnv(tb testing.TB) string {
	tb.Helper()
	buildOnce.Do(func() {
		if buildDir, buildErr = os.MkdirTemp("", "latchkey-env-test-"); buildErr != nil {
			return
		}
		binary = filepath.Join(buildDir, "latchkey-env")
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", binary, ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		tb.Fatal(buildErr)
	}
	return binary
}

// self is the test binary, the program latchkey-env runs.
func self(tb testing.TB) string {
	tb.Helper()
	p, err := os.Executable()
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// Test data. Every value is made up and distinctive.
const (
	tenant   = "33333333-3333-4333-8333-333333333333"
	spApp    = "cccccccc-0000-4000-8000-000000000001"
	spSecret = "sp-secret-Mn3oP4"
	vault    = "kv-latchkey-env"
)

// world is an emulator reached the way a container reaches Azure: through
// a CONNECT proxy (HTTPS_PROXY), trusting the emulator's CA (SSL_CERT_FILE).
type world struct {
	emu    *akvemu.Server
	proxy  *akvemu.ConnectProxy
	caFile string
	values map[string]string // secret-<i> → value
	// seeded are every object's value (the certificate's holds its private
	// key) by name; leaks are those and the identity's secret, what
	// latchkey-env's stderr and stdout never show.
	seeded map[string]string
	leaks  *leakcheck.Set
}

func newWorld(tb testing.TB, secrets int) *world {
	tb.Helper()
	w := &world{values: map[string]string{}, seeded: map[string]string{}}
	seed := &akvemu.Seed{
		Tenants: []akvemu.TenantSeed{{ID: tenant}},
		Apps:    []akvemu.AppSeed{{ClientID: spApp, TenantID: tenant, Secrets: []string{spSecret}}},
		Vaults: []akvemu.VaultSeed{{
			Name: vault, TenantID: tenant,
			Certificates: []akvemu.CertificateSeed{{Name: "web-tls", Generate: &akvemu.GenerateCertificateSeed{Subject: "CN=web.latchkey-env.test", Chain: "with-intermediate"}}},
		}},
	}
	for i := range secrets {
		name, value := fmt.Sprintf("secret-%d", i), fmt.Sprintf("value-%d-Qr5sT6", i)
		w.values[name] = value
		seed.Vaults[0].Secrets = append(seed.Vaults[0].Secrets, akvemu.SecretSeed{Name: name, Value: to.Ptr(value)})
	}
	seed.Vaults[0].Secrets = append(seed.Vaults[0].Secrets, akvemu.SecretSeed{Name: "multi", Value: to.Ptr(`{"user":"user-Uv7","password":"\"password\" <Wx8>"}`)})
	w.emu = akvemu.StartForTest(tb, seed)
	w.caFile = filepath.Join(tb.TempDir(), "ca.pem")
	if err := os.WriteFile(w.caFile, w.emu.CACertPEM(), 0o600); err != nil {
		tb.Fatal(err)
	}
	p, err := akvemu.StartConnectProxy(w.emu.Addr())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = p.Close() })
	w.proxy = p
	w.leaks = leakcheck.Of(tb, spSecret)
	for _, s := range seed.Vaults[0].Secrets {
		w.seeded[s.Name] = *s.Value
		w.leaks.Add(s.Name, *s.Value)
	}
	w.seeded["web-tls"] = w.backingSecret(tb, "web-tls")
	w.leaks.Add("web-tls", w.seeded["web-tls"])
	w.emu.Counters().Reset() // tests count their own requests
	return w
}

// noValues fails if s, what latchkey-env wrote, holds any value of Key
// Vault or the identity's secret, in any form (leakcheck).
func (w *world) noValues(t testing.TB, what, s string) {
	t.Helper()
	w.leaks.Check(t, what, s)
}

// refs are the AzureKeyVaultSecrets: secret-<i> for each secret, plus
// web-tls and multi.
func (w *world) refs() podcontract.Refs {
	refs := podcontract.Refs{
		"web-tls": {Vault: vault, Name: "web-tls", Type: "certificate"},
		"multi":   {Vault: vault, Name: "multi", Type: "multi-key-value-secret", ContentType: "application/x-json"},
		"gone":    {Vault: vault, Name: "does-not-exist", Type: "secret"},
	}
	for name := range w.values {
		refs[name] = podcontract.Ref{Vault: vault, Name: name, Type: "secret"}
	}
	return refs
}

// env is a container's environment: the proxy, the CA, the service
// principal, LATCHKEY_REFS, and extra.
func (w *world) env(extra ...string) []string {
	return append([]string{
		"PATH=" + os.Getenv("PATH"),
		"HTTPS_PROXY=" + w.proxy.URL(),
		"SSL_CERT_FILE=" + w.caFile,
		"AZURE_TENANT_ID=" + tenant,
		"AZURE_CLIENT_ID=" + spApp,
		"AZURE_CLIENT_SECRET=" + spSecret,
		"LATCHKEY_REFS=" + w.refs().String(),
	}, extra...)
}

// backingSecret reads a secret of the vault (a certificate's backing
// secret too) with the Azure SDK's own clients (azidentity, azsecrets), not
// latchkey's reader: what Key Vault holds, for expected values.
func (w *world) backingSecret(tb testing.TB, name string) string {
	tb.Helper()
	opts := w.emu.ClientOptions()
	cred, err := azidentity.NewClientSecretCredential(tenant, spApp, spSecret, &azidentity.ClientSecretCredentialOptions{ClientOptions: opts})
	if err != nil {
		tb.Fatal(err)
	}
	c, err := azsecrets.NewClient("https://"+vault+".vault.azure.net", cred, &azsecrets.ClientOptions{ClientOptions: opts})
	if err != nil {
		tb.Fatal(err)
	}
	resp, err := c.GetSecret(context.Background(), name, "", nil)
	if err != nil || resp.Value == nil {
		tb.Fatalf("reading %s: %v", name, err)
	}
	return *resp.Value
}

// TestRunExecsTheProgram runs the built binary in front of a program: the
// program keeps the PID, sees the values and none of latchkey's variables,
// gets its arguments, receives SIGTERM itself, and its exit code is the
// process's.
func TestRunExecsTheProgram(t *testing.T) {
	w := newWorld(t, 2)
	bin := latchkeyEnv(t)
	crt, key := certtest.TLSFromPFX(t, w.seeded["web-tls"])
	want := map[string]string{
		"DB":       w.values["secret-0"],
		"API":      w.values["secret-1"],
		"TLS_CRT":  string(crt),
		"TLS_KEY":  string(key),
		"PASSWORD": `"password" <Wx8>`,
	}
	cmd := exec.Command(bin, "run", "--", self(t), "first arg", "--flag")
	cmd.Env = w.env(
		helperEnv+"="+helperReport,
		"ENVEXEC_TEST_VARS=DB,API,TLS_CRT,TLS_KEY,PASSWORD",
		"ENV_INJECTOR_LOG_LEVEL=debug",
		"DB=secret-0@azurekeyvault",
		"API=secret-1@azurekeyvault",
		"TLS_CRT=web-tls@azurekeyvault?tls.crt",
		"TLS_KEY=web-tls@azurekeyvault?tls.key",
		"PASSWORD=multi@azurekeyvault?password",
		"MAIL=me@azurekeyvault.example.com",
	)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	w.emu.Counters().Reset()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill() }()
	lines := bufio.NewScanner(stdout)
	lines.Buffer(nil, 1<<20)
	var out strings.Builder
	next := func() string {
		if !lines.Scan() {
			_ = cmd.Wait()
			t.Fatalf("program output ended (%v); stderr:\n%s", lines.Err(), stderr.String())
		}
		out.WriteString(lines.Text() + "\n")
		return lines.Text()
	}
	var r report
	if err := json.Unmarshal([]byte(next()), &r); err != nil {
		t.Fatal(err)
	}
	if r.PID != cmd.Process.Pid {
		t.Errorf("program PID %d, want %d (the PID latchkey-env was started with)", r.PID, cmd.Process.Pid)
	}
	for name, value := range want {
		if r.Hashes[name] != sum(value) {
			t.Errorf("%s: SHA-256 %s, want %s", name, r.Hashes[name], sum(value))
		}
	}
	if len(r.Own) > 0 {
		t.Errorf("the program sees %v", r.Own)
	}
	if r.Kept["AZURE_TENANT_ID"] != tenant || r.Kept["ENV_INJECTOR_LOG_LEVEL"] != "debug" || r.Kept["MAIL"] != "me@azurekeyvault.example.com" {
		t.Errorf("kept variables: %v", r.Kept)
	}
	if !slices.Equal(r.Args, []string{"first arg", "--flag"}) {
		t.Errorf("arguments %q", r.Args)
	}
	if next() != "ready" {
		t.Fatal("no ready line")
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if got := next(); got != "got SIGTERM" {
		t.Errorf("program printed %q, want it to see SIGTERM", got)
	}
	err = cmd.Wait()
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.ExitCode() != helperExitOnSignal {
		t.Errorf("exit: %v, want code %d", err, helperExitOnSignal)
	}

	logs := stderr.String()
	w.noValues(t, "stderr", logs)
	w.noValues(t, "stdout", out.String()) // the program's report: hashes, not values
	for _, s := range []string{"variable resolved", "variable=TLS_KEY", "starting the program", "fallback=false"} {
		if !strings.Contains(logs, s) {
			t.Errorf("stderr lacks %q:\n%s", s, logs)
		}
	}
	// One read per object: the two secrets, the certificate, the document.
	if n := w.emu.Counters().Snapshot().Count(vault, "GetSecret", http.StatusOK); n != 4 {
		t.Errorf("GetSecret answered 200 %d times, want 4", n)
	}
	// azidentity and the Key Vault clients went through HTTPS_PROXY.
	tunnels, refused := w.proxy.Hosts()
	for _, host := range []string{vault + ".vault.azure.net:443", "login.microsoftonline.com:443"} {
		if tunnels[host] == 0 {
			t.Errorf("no tunnel to %s through the proxy: %v (refused %v)", host, tunnels, refused)
		}
	}
}

// TestRunFailure: a placeholder that cannot be resolved stops the start:
// exit code 1, stderr names the variable and the AzureKeyVaultSecret and
// holds no value, and the program never runs.
func TestRunFailure(t *testing.T) {
	w := newWorld(t, 1)
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			cmd := exec.Command(latchkeyEnv(t), "run", "--", self(t))
			cmd.Env = w.env(helperEnv+"="+helperReport, "ENV_INJECTOR_LOG_FORMAT="+format, "ENV_INJECTOR_LOG_LEVEL=debug",
				"GOOD=secret-0@azurekeyvault", "MISSING=gone@azurekeyvault")
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			var exitErr *exec.ExitError
			if !errors.As(err, &exitErr) || exitErr.ExitCode() != envexec.ExitFailure {
				t.Fatalf("exit: %v, want code %d; stderr:\n%s", err, envexec.ExitFailure, stderr.String())
			}
			if stdout.Len() > 0 {
				t.Errorf("the program ran: %q", stdout.String())
			}
			logs := stderr.String()
			for _, s := range []string{"MISSING", "AzureKeyVaultSecret gone", "not found"} {
				if !strings.Contains(logs, s) {
					t.Errorf("stderr lacks %q:\n%s", s, logs)
				}
			}
			w.noValues(t, "stderr", logs)
			w.noValues(t, "stdout", stdout.String())
		})
	}
}

// TestFallbackRoots: in an image without CA roots (FROM scratch) the
// binary uses its own; the emulator's CA is not among them, so TLS then
// fails, as Azure's would not.
func TestFallbackRoots(t *testing.T) {
	w := newWorld(t, 1)
	empty := t.TempDir()
	cmd := exec.Command(latchkeyEnv(t), "run", "--", self(t))
	cmd.Env = w.env(helperEnv+"="+helperReport, "ENV_INJECTOR_LOG_LEVEL=debug", "ENV_INJECTOR_RETRIES=0",
		"SSL_CERT_FILE="+filepath.Join(empty, "none.pem"), "SSL_CERT_DIR="+empty, "DB=secret-0@azurekeyvault")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.ExitCode() != envexec.ExitFailure {
		t.Fatalf("exit: %v, want 1; stderr:\n%s", err, stderr.String())
	}
	for _, s := range []string{"CA roots loaded", "fallback=true", "TLS certificate not trusted", "variable DB (AzureKeyVaultSecret secret-0)"} {
		if !strings.Contains(stderr.String(), s) {
			t.Errorf("stderr lacks %q:\n%s", s, stderr.String())
		}
	}
	w.noValues(t, "stderr", stderr.String())
}

// TestSignalBeforeExec: SIGTERM while Key Vault is slow stops latchkey-env
// at once with 128+15, and the program never runs.
func TestSignalBeforeExec(t *testing.T) {
	w := newWorld(t, 1)
	if err := w.emu.Faults().Set(vault, akvemu.FaultConfig{Rules: []akvemu.FaultRule{{Operation: "GetSecret", Latency: 30 * time.Second}}}); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(latchkeyEnv(t), "run", "--", self(t))
	cmd.Env = w.env(helperEnv+"="+helperReport, "DB=secret-0@azurekeyvault")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill() }()
	deadline := time.Now().Add(10 * time.Second)
	for w.emu.Counters().Snapshot().Count(vault, "GetSecret", http.StatusUnauthorized) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond) // until the read is under way
	}
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.ExitCode() != 128+int(syscall.SIGTERM) {
		t.Errorf("exit: %v, want code 143; stderr:\n%s", err, stderr.String())
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("stopping took %v", d)
	}
	if stdout.Len() > 0 {
		t.Errorf("the program ran: %q", stdout.String())
	}
	w.noValues(t, "stderr", stderr.String())
}

// TestCommandLine: usage errors exit 2; a program that is not on the PATH
// exits 127, as in shells.
func TestCommandLine(t *testing.T) {
	bin := latchkeyEnv(t)
	dir := t.TempDir()
	noExec, garbage := filepath.Join(dir, "no-exec"), filepath.Join(dir, "garbage")
	if os.WriteFile(noExec, []byte("#!/bin/sh\n"), 0o644) != nil || os.WriteFile(garbage, []byte("not a program"), 0o755) != nil {
		t.Fatal("cannot write the test programs")
	}
	tests := []struct {
		args []string
		code int
		want string
	}{
		{nil, envexec.ExitUsage, "usage:"},
		{[]string{"run"}, envexec.ExitUsage, "usage:"},
		{[]string{"run", "--"}, envexec.ExitUsage, "usage:"},
		{[]string{"run", "prog"}, envexec.ExitUsage, "usage:"},
		{[]string{"install"}, envexec.ExitUsage, "usage:"},
		{[]string{"version"}, envexec.ExitUsage, "usage:"},
		{[]string{"run", "--", "no-such-program-Yz9"}, envexec.ExitNotFound, `program \"no-such-program-Yz9\": executable file not found in PATH`},
		{[]string{"run", "--", "/no/such/program"}, envexec.ExitNotFound, "no such file or directory"},
		{[]string{"run", "--", noExec}, envexec.ExitCannotRun, "permission denied"},
		{[]string{"run", "--", garbage}, envexec.ExitCannotRun, "exec format error"},
		{[]string{"install", "/no/such/folder/latchkey-env"}, envexec.ExitFailure, "latchkey-env install: installing /no/such/folder/latchkey-env"},
	}
	for _, tt := range tests {
		cmd := exec.Command(bin, tt.args...)
		cmd.Env = []string{"PATH=/usr/bin:/bin"}
		out, err := cmd.CombinedOutput()
		code := 0
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			code = exitErr.ExitCode()
		}
		if code != tt.code || !strings.Contains(string(out), tt.want) {
			t.Errorf("latchkey-env %q: exit %d, output %q; want %d and %q", tt.args, code, out, tt.code, tt.want)
		}
	}
}

// TestInstallCommand: the init container's step copies the binary, ready
// to run, with no shell.
func TestInstallCommand(t *testing.T) {
	bin := latchkeyEnv(t)
	dst := filepath.Join(t.TempDir(), "latchkey-env")
	if out, err := exec.Command(bin, "install", dst).CombinedOutput(); err != nil {
		t.Fatalf("install: %v\n%s", err, out)
	}
	a, _ := os.ReadFile(bin)
	b, err := os.ReadFile(dst)
	if err != nil || !bytes.Equal(a, b) {
		t.Fatalf("the copy differs (%v)", err)
	}
	if fi, err := os.Stat(dst); err != nil || fi.Mode() != 0o555 {
		t.Fatalf("mode %v (%v)", fi.Mode(), err)
	}
	// A relative program path, as in a pod's command, from the working directory.
	cmd := exec.Command(dst, "run", "--", "./"+filepath.Base(self(t)))
	cmd.Dir = filepath.Dir(self(t))
	cmd.Env = []string{helperEnv + "=" + helperQuit}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the installed copy does not run: %v\n%s", err, out)
	}
}

// TestBinaryIsSmallAndStatic: ≤ 12 MB, no cgo, nothing from Kubernetes or
// Prometheus, and fallback CA roots linked in.
func TestBinaryIsSmallAndStatic(t *testing.T) {
	bin := latchkeyEnv(t)
	fi, err := os.Stat(bin)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("latchkey-env: %d bytes (%.1f MB)", fi.Size(), float64(fi.Size())/1e6)
	if fi.Size() > targets.EnvBinaryMaxBytes {
		t.Errorf("latchkey-env is %d bytes, over the product brief's %d", fi.Size(), targets.EnvBinaryMaxBytes)
	}
	out, err := exec.Command("go", "version", "-m", bin).Output()
	if err != nil {
		t.Fatal(err)
	}
	info := string(out)
	for _, bad := range []string{"k8s.io/", "sigs.k8s.io/controller-runtime", "prometheus"} {
		if strings.Contains(info, bad) {
			t.Errorf("latchkey-env links %s", bad)
		}
	}
	for _, want := range []string{"CGO_ENABLED=0", "golang.org/x/crypto/x509roots/fallback"} {
		if !strings.Contains(info, want) {
			t.Errorf("go version -m lacks %s", want)
		}
	}
}

// BenchmarkStartOverhead measures what latchkey-env adds to a container's
// start with 10 placeholders, exec to exec: the wrapped program's run time
// minus the same program run directly (overhead-ms), and the CPU time it
// adds (overhead-cpu-ms). The Key Vault part (an emulator on loopback with
// no added latency, reached through the proxy: a token, a challenge and 10
// reads) is reported apart as the binary logs it (keyvault-ms), and so is
// the loading of the CA roots (roots-ms), which any Go program pays at its
// first TLS handshake: with the emulator's CA alone (SSL_CERT_FILE, and an
// empty SSL_CERT_DIR), then also with this host's /etc/ssl/certs, as in an
// image with Debian's ca-certificates.
func BenchmarkStartOverhead(b *testing.B) {
	const placeholders = 10
	w := newWorld(b, placeholders)
	env := w.env(helperEnv+"="+helperQuit, "ENV_INJECTOR_LOG_LEVEL=debug", "ENV_INJECTOR_LOG_FORMAT=json")
	for i := range placeholders {
		env = append(env, fmt.Sprintf("VAR_%d=secret-%d@azurekeyvault", i, i))
	}
	b.Run("ca-file-only", func(b *testing.B) { startOverhead(b, append(env, "SSL_CERT_DIR="+b.TempDir())) })
	b.Run("host-ca-dir", func(b *testing.B) { startOverhead(b, env) })
}

func startOverhead(b *testing.B, env []string) {
	bin, prog := latchkeyEnv(b), self(b)
	// run returns the wall time, the CPU time (the program's included:
	// the exec keeps the process) and stderr.
	run := func(argv ...string) (wall, cpu time.Duration, logs string) {
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Env = env
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		start := time.Now()
		if err := cmd.Run(); err != nil {
			b.Fatalf("%v: %v\n%s", argv, err, stderr.String())
		}
		wall = time.Since(start)
		return wall, cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), stderr.String()
	}
	run(prog) // warm the page cache
	run(bin, "run", "--", prog)
	var direct, wrapped, kv, roots, directCPU, wrappedCPU time.Duration
	n := 0
	for b.Loop() {
		d, dc, _ := run(prog)
		wr, wc, logs := run(bin, "run", "--", prog)
		direct, directCPU = direct+d, directCPU+dc
		wrapped, wrappedCPU = wrapped+wr, wrappedCPU+wc
		kv += loggedTime(b, logs, "placeholders resolved")
		roots += loggedTime(b, logs, "CA roots loaded")
		n++
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(n) }
	b.ReportMetric(ms(wrapped-direct), "overhead-ms/op")
	b.ReportMetric(ms(wrappedCPU-directCPU), "overhead-cpu-ms/op")
	b.ReportMetric(ms(kv), "keyvault-ms/op")
	b.ReportMetric(ms(roots), "roots-ms/op")
	b.ReportMetric(ms(wrapped-direct-kv), "overhead-excl-keyvault-ms/op")
}

// loggedTime is the duration the binary logged (JSON) with msg.
func loggedTime(tb testing.TB, logs, msg string) time.Duration {
	for line := range strings.Lines(logs) {
		var m struct {
			Msg        string  `json:"msg"`
			DurationMs float64 `json:"durationMs"`
		}
		if json.Unmarshal([]byte(line), &m) == nil && m.Msg == msg {
			return time.Duration(m.DurationMs * float64(time.Millisecond))
		}
	}
	tb.Fatalf("no %q duration in the logs:\n%s", msg, logs)
	return 0
}
