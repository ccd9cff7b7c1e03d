package bench

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
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// controllerProcess is cmd/latchkey-controller running as its own process,
// configured only through flags and environment, as in a Deployment.
type controllerProcess struct {
	cmd     *exec.Cmd
	metrics string // host:port of /metrics
	health  string // host:port of /readyz
	pprof   string // host:port of /debug/pprof, "" unless profiling
	logPath string
	exited  chan struct{}
	waitErr error
}

// startController runs the controller with the benchmark's flags after the
// common ones, waits until it is ready (its caches synced), and stops it when
// b ends.
func (e *benchEnv) startController(b *testing.B, name string, flags ...string) *controllerProcess {
	b.Helper()
	return e.startControllerWithEnv(b, name, nil, flags...)
}

// startControllerWithEnv is startController with variables added to the
// controller's environment (such as GOMEMLIMIT).
func (e *benchEnv) startControllerWithEnv(b *testing.B, name string, env []string, flags ...string) *controllerProcess {
	b.Helper()
	p := &controllerProcess{metrics: freeAddr(b), health: freeAddr(b), exited: make(chan struct{})}
	args := append([]string{
		"--keyvault-auth=environment",
		"--leader-elect=false", // one replica; the Lease is no part of the figures
		"--metrics-bind-address=" + p.metrics,
		"--metrics-auth=false", // scraped over plain HTTP by the benchmark itself
		"--health-probe-bind-address=" + p.health,
	}, flags...)
	if profileDir() != "" {
		p.pprof = freeAddr(b)
		args = append(args, "--pprof-bind-address="+p.pprof)
	}
	p.logPath = filepath.Join(e.dir, name+".log")
	logf, err := os.Create(p.logPath)
	if err != nil {
		b.Fatal(err)
	}
	p.cmd = exec.Command(e.controllerBin, args...) //nolint:gosec // our own binary and flags
	p.cmd.Env = append(e.controllerEnviron(), env...)
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	if err := p.cmd.Start(); err != nil {
		_ = logf.Close()
		b.Fatal(err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		_ = logf.Close()
		close(p.exited)
	}()
	b.Cleanup(p.stop)
	if err := p.waitReady(2 * time.Minute); err != nil {
		b.Fatalf("controller %s: %v\n%s", name, err, p.logTail())
	}
	return p
}

// controllerEnviron is the controller's whole environment: nothing is
// inherited from the benchmark. Key Vault and Entra ID are reached through
// the proxy, trusting the emulator's CA; the API server (loopback) never
// goes through a proxy.
func (e *benchEnv) controllerEnviron() []string {
	return []string{
		"HOME=" + e.dir,
		"KUBECONFIG=" + e.kubeconfig,
		"HTTPS_PROXY=" + e.proxy.URL(),
		"NO_PROXY=127.0.0.1,localhost",
		"SSL_CERT_FILE=" + e.caFile,
		"AZURE_TENANT_ID=" + tenantID,
		"AZURE_CLIENT_ID=" + clientID,
		"AZURE_CLIENT_SECRET=" + clientSecret,
	}
}

// freeAddr returns a loopback address nobody listens on.
func freeAddr(b *testing.B) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

var localHTTP = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil}}

func getLocal(url string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := localHTTP.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}

// waitReady polls /readyz, which answers 200 once the caches synced.
func (p *controllerProcess) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-p.exited:
			return fmt.Errorf("exited: %w", p.waitErr)
		default:
		}
		if code, _, err := getLocal("http://" + p.health + "/readyz"); err == nil && code == http.StatusOK {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("not ready after %s", timeout)
}

// stop sends SIGTERM and waits for a graceful exit, killing it after a while.
func (p *controllerProcess) stop() {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(40 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// memory reads the resident set size now (VmRSS) and at its peak (VmHWM),
// in bytes.
func (p *controllerProcess) memory() (rss, peak int64, err error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, 0, err
	}
	field := func(name string) int64 {
		for _, line := range strings.Split(string(raw), "\n") {
			if rest, ok := strings.CutPrefix(line, name+":"); ok {
				f := strings.Fields(rest) // "12345 kB"
				if len(f) == 2 && f[1] == "kB" {
					n, _ := strconv.ParseInt(f[0], 10, 64)
					return n * 1024
				}
			}
		}
		return -1
	}
	rss, peak = field("VmRSS"), field("VmHWM")
	if rss < 0 || peak < 0 {
		return 0, 0, fmt.Errorf("no VmRSS/VmHWM in /proc/%d/status", p.cmd.Process.Pid)
	}
	return rss, peak, nil
}

// scrape reads the controller's /metrics.
func (p *controllerProcess) scrape(b *testing.B) metricSet {
	b.Helper()
	code, body, err := getLocal("http://" + p.metrics + "/metrics")
	if err != nil || code != http.StatusOK {
		select {
		case <-p.exited:
			err = fmt.Errorf("%w (the controller exited: %w)", err, p.waitErr)
		default:
		}
		b.Fatalf("controller metrics at %s: %d %v\n%s", p.metrics, code, err, p.logTail())
	}
	return parseMetrics(body)
}

// heapProfile saves the controller's heap profile (in use and allocated
// since start) as $LATCHKEY_BENCH_PROFILE/<name>-controller-heap.pprof when
// that variable names a folder: where a memory figure goes, not only its
// total. Read it with `go tool pprof -sample_index=inuse_space -top`.
func (p *controllerProcess) heapProfile(b *testing.B, name string) {
	b.Helper()
	if p.pprof == "" {
		return
	}
	// gc=1: a collection first, so in-use is what is live, as RSS settles to.
	code, body, err := getLocal("http://" + p.pprof + "/debug/pprof/heap?gc=1")
	if err == nil && code != http.StatusOK {
		err = fmt.Errorf("status %d", code)
	}
	if err == nil {
		err = os.WriteFile(filepath.Join(profileDir(), name+"-controller-heap.pprof"), body, 0o600)
	}
	if err != nil {
		b.Logf("controller heap profile: %v", err)
	}
}

// profileDir is $LATCHKEY_BENCH_PROFILE: where profiles are saved; "" for
// none.
func profileDir() string { return os.Getenv("LATCHKEY_BENCH_PROFILE") }

// logTail is the end of the controller's log, for failures.
func (p *controllerProcess) logTail() string {
	raw, err := os.ReadFile(p.logPath)
	if err != nil {
		return err.Error()
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return strings.Join(lines[max(0, len(lines)-30):], "\n")
}

// mustMemory is memory, failing b when /proc cannot be read.
func (p *controllerProcess) mustMemory(b *testing.B) (rss, peak int64) {
	b.Helper()
	rss, peak, err := p.memory()
	if err != nil {
		b.Fatal(err)
	}
	return rss, peak
}
