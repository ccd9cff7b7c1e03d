package envexec_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/internal/envexec"
	"github.com/latchkey-dev/latchkey/internal/podcontract"
	"github.com/latchkey-dev/latchkey/internal/resolver/protocol"
)

// fakeFiles answers the writers as the resolver would: the current
// values, or Unchanged when have names them all; down, it fails.
type fakeFiles struct {
	mu        sync.Mutex
	values    map[string]string // by variable
	down      bool
	polls     int
	unchanged int
}

func (f *fakeFiles) answer(bindings []envexec.Binding) ([]string, error) {
	if f.down {
		return nil, fmt.Errorf("%w: connection refused", envexec.ErrResolverUnavailable)
	}
	out := make([]string, len(bindings))
	for i, b := range bindings {
		out[i] = f.values[b.Var]
	}
	return out, nil
}

func (f *fakeFiles) Resolve(_ context.Context, bindings []envexec.Binding) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.answer(bindings)
}

func (f *fakeFiles) Refresh(_ context.Context, bindings []envexec.Binding, have map[string]string) (envexec.Refreshed, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.polls++
	values, err := f.answer(bindings)
	if err != nil {
		return envexec.Refreshed{}, err
	}
	same := len(have) == len(bindings)
	for i, b := range bindings {
		same = same && have[b.Var] == protocol.Digest(values[i])
	}
	if same {
		f.unchanged++
		return envexec.Refreshed{Unchanged: true, Interval: time.Minute}, nil
	}
	return envexec.Refreshed{Values: values, Interval: time.Minute}, nil
}

// filesEnv is the writer's env for a certificate pair written to dir.
func filesEnv(dir string) []string {
	d := podcontract.FileDeclaration{Files: []podcontract.DeclaredFile{
		{Name: "tls.crt", Placeholder: podcontract.Placeholder{AKVS: "web", Query: "tls.crt"}, Mode: 0o644},
		{Name: "tls.key", Placeholder: podcontract.Placeholder{AKVS: "web", Query: "tls.key"}, Mode: 0o400},
	}}
	var env []string
	for _, e := range d.WriterEnv() {
		if e.Name == podcontract.EnvFiles {
			e.Value = strings.Replace(e.Value, podcontract.FilesWriterDir, dir, 1)
		}
		env = append(env, e.Name+"="+e.Value)
	}
	return env
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestFilesWrite(t *testing.T) {
	dir := t.TempDir()
	c := &fakeFiles{values: map[string]string{"LATCHKEY_FILE_0": "crt-1-secret", "LATCHKEY_FILE_1": "key-1-secret"}}
	var logs bytes.Buffer
	if err := envexec.Files(context.Background(), envexec.FilesOptions{Environ: filesEnv(dir), Stderr: &logs, Client: c}); err != nil {
		t.Fatal(err)
	}
	if readFile(t, filepath.Join(dir, "tls.crt")) != "crt-1-secret" || readFile(t, filepath.Join(dir, "tls.key")) != "key-1-secret" {
		t.Error("files not written")
	}
	if st, _ := os.Stat(filepath.Join(dir, "tls.key")); st.Mode().Perm() != 0o400 {
		t.Errorf("tls.key mode %v", st.Mode())
	}
	if !strings.Contains(logs.String(), "files written") || strings.Contains(logs.String(), "secret") {
		t.Errorf("log %q: want 'files written' and no value", logs.String())
	}
	// Down: the writer fails (the pod does not start), says why, no value.
	logs.Reset()
	c.down = true
	err := envexec.Files(context.Background(), envexec.FilesOptions{Environ: filesEnv(t.TempDir()), Stderr: &logs, Client: c})
	if envexec.ExitCode(err) == 0 || !strings.Contains(logs.String(), "cannot write the files") {
		t.Errorf("err %v, log %q", err, logs.String())
	}
	// A malformed env is refused before any request.
	err = envexec.Files(context.Background(), envexec.FilesOptions{Environ: []string{"LATCHKEY_FILES={}"}, Client: c})
	if !errors.Is(err, podcontract.ErrInvalidFiles) {
		t.Errorf("malformed env: %v", err)
	}
}

// TestFilesRefresh: the sidecar starts from the files on disk (its first
// poll is "unchanged"), rewrites them when a value changes, keeps them
// when the resolver is down, and recovers.
func TestFilesRefresh(t *testing.T) {
	dir := t.TempDir()
	c := &fakeFiles{values: map[string]string{"LATCHKEY_FILE_0": "crt-1", "LATCHKEY_FILE_1": "key-1"}}
	env := filesEnv(dir)
	if err := envexec.Files(context.Background(), envexec.FilesOptions{Environ: env, Client: c}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type step struct {
		before func()
		check  func(t *testing.T)
	}
	files := func(crt, key string) func(t *testing.T) {
		return func(t *testing.T) {
			if got := readFile(t, filepath.Join(dir, "tls.crt")) + "," + readFile(t, filepath.Join(dir, "tls.key")); got != crt+","+key {
				t.Errorf("files %s, want %s,%s", got, crt, key)
			}
		}
	}
	steps := []step{
		{nil, func(t *testing.T) {
			files("crt-1", "key-1")(t)
			if c.unchanged != 1 {
				t.Errorf("the first poll was not unchanged (%d of %d)", c.unchanged, c.polls)
			}
		}},
		{func() { c.values = map[string]string{"LATCHKEY_FILE_0": "crt-2", "LATCHKEY_FILE_1": "key-2"} }, files("crt-2", "key-2")},
		{func() { c.down = true }, files("crt-2", "key-2")},
		{func() { c.values["LATCHKEY_FILE_0"], c.values["LATCHKEY_FILE_1"] = "crt-3", "key-3" }, files("crt-2", "key-2")},
		{func() { c.down = false }, files("crt-3", "key-3")},
	}
	var waits []time.Duration
	i := 0
	sleep := func(ctx context.Context, d time.Duration) error {
		waits = append(waits, d)
		if i > 0 {
			steps[i-1].check(t)
		}
		if i == len(steps) {
			cancel()
			return ctx.Err()
		}
		if steps[i].before != nil {
			c.mu.Lock()
			steps[i].before()
			c.mu.Unlock()
		}
		i++
		return nil
	}
	var logs bytes.Buffer
	if err := envexec.Files(ctx, envexec.FilesOptions{Refresh: true, Environ: env, Client: c, Sleep: sleep, Stderr: &logs}); err != nil {
		t.Fatal(err)
	}
	if i != len(steps) {
		t.Fatalf("%d polls, want %d", i, len(steps))
	}
	// The first poll comes within 30 s, to learn the interval; then the
	// resolver's minute less jitter; after a failure at most 30 s.
	if waits[0] > podcontract.MinFilesRefreshInterval || waits[0] < podcontract.MinFilesRefreshInterval*9/10 || waits[1] > time.Minute || waits[1] < 54*time.Second || waits[4] != 30*time.Second {
		t.Errorf("waits %v", waits)
	}
	if !strings.Contains(logs.String(), "refresh failed; the files stay as they are") || strings.Contains(logs.String(), "crt-") {
		t.Errorf("log %q", logs.String())
	}
}

// TestFilesRefreshSignals: after a rewrite the sidecar signals every
// process of the declared program (by argv[0]'s base name, else comm) in
// the pod's process table, and no other; an unchanged poll signals none.
func TestFilesRefreshSignals(t *testing.T) {
	dir, proc := t.TempDir(), t.TempDir()
	for pid, p := range map[string]struct{ cmdline, comm string }{
		"10":   {"/usr/sbin/nginx\x00-g\x00daemon off;", "nginx"}, // the master
		"11":   {"nginx: worker process\x00", "nginx"},            // a worker renames itself: not matched by argv[0]
		"12":   {"", "nginx"},                                     // no command line: comm
		"13":   {"/bin/sidecar\x00", "sidecar"},
		"self": {"x", "x"},
	} {
		if err := os.MkdirAll(filepath.Join(proc, pid), 0o755); err != nil {
			t.Fatal(err)
		}
		_ = os.WriteFile(filepath.Join(proc, pid, "cmdline"), []byte(p.cmdline), 0o644)
		_ = os.WriteFile(filepath.Join(proc, pid, "comm"), []byte(p.comm+"\n"), 0o644)
	}
	env := filesEnv(dir)
	for i, e := range env {
		if strings.HasPrefix(e, podcontract.EnvFiles+"=") {
			env[i] = strings.Replace(e, `"files":`, `"signal":"HUP","program":"nginx","files":`, 1)
		}
	}
	c := &fakeFiles{values: map[string]string{"LATCHKEY_FILE_0": "crt-1", "LATCHKEY_FILE_1": "key-1"}}
	var signalled []string
	kill := func(pid int, sig syscall.Signal) error {
		signalled = append(signalled, fmt.Sprintf("%d:%s", pid, sig))
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	polls := 0
	sleep := func(ctx context.Context, _ time.Duration) error {
		polls++
		switch polls {
		case 2: // after the first write
			if len(signalled) != 2 || !slices.Contains(signalled, "10:hangup") || !slices.Contains(signalled, "12:hangup") {
				t.Errorf("signalled %v, want pids 10 and 12", signalled)
			}
		case 3: // after an unchanged poll
			if len(signalled) != 2 {
				t.Errorf("an unchanged poll signalled: %v", signalled)
			}
			cancel()
			return ctx.Err()
		}
		return nil
	}
	if err := envexec.Files(ctx, envexec.FilesOptions{Refresh: true, Environ: env, Client: c, Sleep: sleep, ProcDir: proc, Kill: kill}); err != nil {
		t.Fatal(err)
	}
	if polls != 3 {
		t.Fatalf("%d polls", polls)
	}
}

// pfxEnv is the writer's env for one base64 file, web.pfx from web?raw,
// written to dir.
func pfxEnv(dir string) []string {
	d := podcontract.FileDeclaration{Files: []podcontract.DeclaredFile{
		{Name: "web.pfx", Placeholder: podcontract.Placeholder{AKVS: "web", Query: "raw"}, Mode: 0o400, Encoding: podcontract.FileEncodingBase64},
	}}
	var env []string
	for _, e := range d.WriterEnv() {
		if e.Name == podcontract.EnvFiles {
			e.Value = strings.Replace(e.Value, podcontract.FilesWriterDir, dir, 1)
		}
		env = append(env, e.Name+"="+e.Value)
	}
	return env
}

// TestFilesWriteBase64: a base64 file is written as the bytes its value
// encodes; a value that is not base64 fails the writer, which names the
// file, its variable and AzureKeyVaultSecret and never the value, and
// leaves nothing written.
func TestFilesWriteBase64(t *testing.T) {
	der := []byte("\x30\x82\x01\x00pfx-secret-Rr8\x00\xff")
	dir := t.TempDir()
	c := &fakeFiles{values: map[string]string{"LATCHKEY_FILE_0": base64.StdEncoding.EncodeToString(der)}}
	if err := envexec.Files(context.Background(), envexec.FilesOptions{Environ: pfxEnv(dir), Client: c}); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(dir, "web.pfx")); got != string(der) {
		t.Errorf("web.pfx = %x, want %x", got, der)
	}

	dir = t.TempDir()
	c.values["LATCHKEY_FILE_0"] = "-----BEGIN CERTIFICATE-----\npem-secret-Ss9\n-----END CERTIFICATE-----\n"
	var logs bytes.Buffer
	err := envexec.Files(context.Background(), envexec.FilesOptions{Environ: pfxEnv(dir), Stderr: &logs, Client: c})
	if envexec.ExitCode(err) == 0 || !errors.Is(err, podcontract.ErrFileEncoding) {
		t.Fatalf("err %v: want a failure of class ErrFileEncoding", err)
	}
	for _, want := range []string{"cannot write the files", "web.pfx", "LATCHKEY_FILE_0", "AzureKeyVaultSecret web", "not base64", "reason=query"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log %q does not say %s", logs.String(), want)
		}
	}
	if strings.Contains(logs.String(), "pem-secret") || strings.Contains(err.Error(), "pem-secret") {
		t.Errorf("the value leaked: %v; %s", err, logs.String())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("a failed write left %d entries", len(entries))
	}
}

// TestFilesRefreshBase64: the sidecar digests a base64 file as the text
// the resolver carries, so its first poll is "unchanged"; a value Key
// Vault holds in another base64 form (line breaks) that decodes to the
// same bytes is not rewritten; a new value is.
func TestFilesRefreshBase64(t *testing.T) {
	dir := t.TempDir()
	v1 := base64.StdEncoding.EncodeToString([]byte("\x30\x82pfx-1\x00"))
	c := &fakeFiles{values: map[string]string{"LATCHKEY_FILE_0": v1}}
	env := pfxEnv(dir)
	if err := envexec.Files(context.Background(), envexec.FilesOptions{Environ: env, Client: c}); err != nil {
		t.Fatal(err)
	}
	version := func() string {
		target, err := os.Readlink(filepath.Join(dir, "..data"))
		if err != nil {
			t.Fatal(err)
		}
		return target
	}
	first := version()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	polls := 0
	sleep := func(ctx context.Context, _ time.Duration) error {
		polls++
		c.mu.Lock()
		defer c.mu.Unlock()
		switch polls {
		case 2: // after the first poll
			if c.unchanged != 1 {
				t.Errorf("the first poll was not unchanged")
			}
			c.values["LATCHKEY_FILE_0"] = v1[:4] + "\r\n" + v1[4:]
		case 3:
			if version() != first {
				t.Error("the same bytes in another base64 form were rewritten")
			}
			c.values["LATCHKEY_FILE_0"] = base64.StdEncoding.EncodeToString([]byte("\x30\x82pfx-2\x00"))
		case 4:
			if got := readFile(t, filepath.Join(dir, "web.pfx")); got != "\x30\x82pfx-2\x00" || version() == first {
				t.Errorf("web.pfx = %q after a change", got)
			}
			cancel()
			return ctx.Err()
		}
		return nil
	}
	if err := envexec.Files(ctx, envexec.FilesOptions{Refresh: true, Environ: env, Client: c, Sleep: sleep}); err != nil {
		t.Fatal(err)
	}
	if polls != 4 {
		t.Fatalf("%d polls", polls)
	}
}
