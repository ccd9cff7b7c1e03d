package resolver_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/latchkey-dev/latchkey/api/v2beta1"
	"github.com/latchkey-dev/latchkey/internal/podcontract"
	"github.com/latchkey-dev/latchkey/internal/resolver"
	"github.com/latchkey-dev/latchkey/internal/resolver/protocol"
)

// BenchmarkFilesRefresh (issue 16): 1,000 pods, each with two files from
// two objects and refresh on. The writers of all pods ask at once; then,
// one refresh interval later (the resolver's clock moved past its cache),
// every pod's sidecar asks at once naming what it holds. Reported: Key
// Vault reads of the refresh round (target 2: one per object, however many
// pods), the resolver process's CPU for the round (user+system of this
// test process, which also runs the 1,000 clients' TLS: an upper bound),
// and the answers (all "unchanged"). Then 5 real sidecars (the
// latchkey-env binary, `files refresh`, as separate processes against the
// in-process resolver, polling every 30 s): their RSS and their CPU over
// 60 s of idling between polls.
func BenchmarkFilesRefresh(b *testing.B) {
	const pods = 1000
	r := newResolver(b, func(c *resolver.Config) { c.RateBurst = 4 * pods })
	w := newWorld(b, r)
	interval := func(a *v2beta1.AzureKeyVaultSecret) {
		a.Spec.RefreshInterval = &metav1.Duration{Duration: 30 * time.Second}
	}
	w.akvs("files-a", filesVault, "a", v2beta1.ObjectTypeSecret, interval)
	w.akvs("files-b", filesVault, "b", v2beta1.ObjectTypeSecret, interval)
	ann := map[string]string{"latchkey.dev/file.a.txt": "files-a", "latchkey.dev/file.b.txt": "files-b", "latchkey.dev/files-refresh": "true"}
	tokens := make([]string, pods)
	var podsOf sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := range pods {
		podsOf.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			p := w.filesPod(fmt.Sprintf("files-%d", i), ann, app("app"))
			tokens[i] = token(w.t, p, audience)
		})
	}
	podsOf.Wait()
	env := map[string]string{"LATCHKEY_FILE_0": "files-a@azurekeyvault", "LATCHKEY_FILE_1": "files-b@azurekeyvault"}
	have := map[string]string{"LATCHKEY_FILE_0": protocol.Digest(filesValueA), "LATCHKEY_FILE_1": protocol.Digest(filesValueB)}
	var reads, unchanged, cpu, wall float64
	for b.Loop() {
		before := kvReads(filesVault)
		start := filesRound(b, r, tokens, podcontract.FilesWriterContainer, env, nil)
		startReads := kvReads(filesVault) - before
		r.clock.Advance(31 * time.Second) // one refresh interval later
		before = kvReads(filesVault)
		cpu0, t0 := processCPU(), time.Now()
		answers := filesRound(b, r, tokens, podcontract.FilesRefreshContainer, env, have)
		cpu, wall = (processCPU() - cpu0).Seconds(), time.Since(t0).Seconds()
		reads = float64(kvReads(filesVault) - before)
		unchanged = float64(answers["unchanged"])
		b.Logf("start round: %d answers %v, %d Key Vault reads", pods, start, startReads)
	}
	b.ReportMetric(reads, "keyvault-reads/refresh")
	b.ReportMetric(cpu, "cpu-s/refresh")
	rss, idle := sidecarFigures(b, r)
	fmt.Printf("\nlatchkey files: 1,000 pods x 2 objects, refresh on (issue 16)\n"+
		"| Key Vault reads per refresh interval                   | %-8.0f | 2          | %s |\n"+
		"| refresh round: answers \"unchanged\" (of 1,000)          | %-8.0f | 1000       | %s |\n"+
		"| refresh round: CPU of resolver + 1,000 clients (s)     | %-8.2f | (ref.)     | —   |\n"+
		"| refresh round: wall time (s)                           | %-8.2f | (ref.)     | —   |\n"+
		"| sidecar RSS, largest of 5 (MiB)                        | %-8.1f | < 15       | %s |\n"+
		"| sidecar CPU idling, per sidecar (ms per minute)        | %-8.1f | (ref.)     | —   |\n\n",
		reads, verdict(reads == 2), unchanged, verdict(unchanged == pods), cpu, wall, rss, verdict(rss < 15), idle)
}

// filesRound has every pod's container ask at once for env (with have
// when set) and counts the answers by kind.
func filesRound(b *testing.B, r *testResolver, tokens []string, container string, env, have map[string]string) map[string]int {
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(suite.pki.caPEM)
	var mu sync.Mutex
	counts := map[string]int{}
	var wg sync.WaitGroup
	start := make(chan struct{})
	body, _ := json.Marshal(protocol.Request{Container: container, Env: env, Have: have})
	for _, tok := range tokens {
		wg.Go(func() {
			<-start
			c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}}
			req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, r.url+protocol.ResolvePath, bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+tok)
			resp, err := c.Do(req)
			kind := "error"
			if err == nil {
				raw, _ := io.ReadAll(resp.Body)
				_ = resp.Body.Close()
				var out protocol.Response
				switch {
				case resp.StatusCode != http.StatusOK || json.Unmarshal(raw, &out) != nil:
					kind = strconv.Itoa(resp.StatusCode)
				case out.Unchanged:
					kind = "unchanged"
				case out.Env["LATCHKEY_FILE_0"] == filesValueA && out.Env["LATCHKEY_FILE_1"] == filesValueB:
					kind = "values"
				}
			}
			mu.Lock()
			counts[kind]++
			mu.Unlock()
		})
	}
	close(start)
	wg.Wait()
	return counts
}

// processCPU is this process's user and system time.
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// sidecarFigures runs 5 refresh sidecars (the real binary) against r for
// 70 s and returns the largest RSS (MiB) and the mean CPU per sidecar over
// the last 60 s (ms).
func sidecarFigures(b *testing.B, r *testResolver) (float64, float64) {
	dir := b.TempDir()
	bin := filepath.Join(dir, "latchkey-env")
	if out, err := exec.Command("go", "build", "-trimpath", "-o", bin, "../../cmd/latchkey-env").CombinedOutput(); err != nil {
		b.Fatalf("build latchkey-env: %v\n%s", err, out)
	}
	d := podcontract.FileDeclaration{Interval: 30 * time.Second, Files: []podcontract.DeclaredFile{
		{Name: "a.txt", Placeholder: podcontract.Placeholder{AKVS: "files-a"}, Mode: 0o644},
		{Name: "b.txt", Placeholder: podcontract.Placeholder{AKVS: "files-b"}, Mode: 0o644},
	}}
	var procs []*exec.Cmd
	for i := range 5 {
		files := filepath.Join(dir, fmt.Sprintf("files-%d", i))
		if err := os.Mkdir(files, 0o755); err != nil {
			b.Fatal(err)
		}
		tokenFile := filepath.Join(dir, fmt.Sprintf("token-%d", i))
		p := sidecarPod(b, r, i)
		if err := writeFile(tokenFile, token(b, p, audience)); err != nil {
			b.Fatal(err)
		}
		cmd := exec.Command(bin, podcontract.CmdFiles, podcontract.CmdFilesRefresh)
		for _, e := range d.WriterEnv() {
			if e.Name == podcontract.EnvFiles {
				e.Value = strings.Replace(e.Value, podcontract.FilesWriterDir, files, 1)
			}
			cmd.Env = append(cmd.Env, e.Name+"="+e.Value)
		}
		cmd.Env = append(cmd.Env, podcontract.EnvContainer+"="+podcontract.FilesRefreshContainer, podcontract.EnvResolverURL+"="+r.url,
			podcontract.EnvResolverToken+"="+tokenFile, podcontract.EnvResolverCA+"="+suite.pki.caFile)
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		procs = append(procs, cmd)
	}
	defer func() {
		for _, p := range procs {
			_ = p.Process.Signal(syscall.SIGTERM)
			_ = p.Wait()
		}
	}()
	time.Sleep(10 * time.Second)
	cpu0 := make([]time.Duration, len(procs))
	for i, p := range procs {
		cpu0[i] = procCPU(b, p.Process.Pid)
	}
	time.Sleep(60 * time.Second)
	var rss, cpu float64
	for i, p := range procs {
		rss = max(rss, procRSS(b, p.Process.Pid))
		cpu += float64((procCPU(b, p.Process.Pid) - cpu0[i]).Milliseconds())
	}
	return rss, cpu / float64(len(procs))
}

// sidecarPod is a pod whose refresh sidecar the i-th process plays.
func sidecarPod(b *testing.B, r *testResolver, i int) *corev1.Pod {
	w := newWorld(b, r)
	interval := func(a *v2beta1.AzureKeyVaultSecret) {
		a.Spec.RefreshInterval = &metav1.Duration{Duration: 30 * time.Second}
	}
	w.akvs("files-a", filesVault, "a", v2beta1.ObjectTypeSecret, interval)
	w.akvs("files-b", filesVault, "b", v2beta1.ObjectTypeSecret, interval)
	return w.filesPod(fmt.Sprintf("sidecar-%d", i), map[string]string{
		"latchkey.dev/file.a.txt": "files-a", "latchkey.dev/file.b.txt": "files-b", "latchkey.dev/files-refresh": "true", "latchkey.dev/files-refresh-interval": "30s",
	}, app("app"))
}

// procRSS is a process's resident set, MiB.
func procRSS(b *testing.B, pid int) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	b.Fatalf("no VmRSS for %d", pid)
	return 0
}

// procCPU is a process's user and system time (clock ticks of 10 ms).
func procCPU(b *testing.B, pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	fields := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+2:]))
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}
