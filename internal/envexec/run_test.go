package envexec_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/internal/envexec"
	"github.com/latchkey-dev/latchkey/internal/podcontract"
)

// errExecuted is what the captured exec returns: Run then reports it as an
// exec failure, which the tests unwrap.
var errExecuted = errors.New("exec captured")

// execCall records what Run asked the kernel to run.
type execCall struct {
	path string
	argv []string
	env  []string
}

func capture(c *execCall) func(string, []string, []string) error {
	return func(path string, argv, env []string) error {
		c.path, c.argv, c.env = path, argv, env
		return errExecuted
	}
}

// progDir is a folder with an executable "prog", for PATH.
func progDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "prog"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// fakeResolver is resolver mode: it answers every binding with its placeholder reversed.
type fakeResolver struct{ called bool }

func (f *fakeResolver) Resolve(_ context.Context, bindings []envexec.Binding) ([]string, error) {
	f.called = true
	var out []string
	for _, b := range bindings {
		r := []rune(b.String())
		slices.Reverse(r)
		out = append(out, string(r))
	}
	return out, nil
}

func TestRunWithoutPlaceholders(t *testing.T) {
	dir := progDir(t)
	var c execCall
	var logs bytes.Buffer
	environ := []string{"PATH=/nope:" + dir, "A=1", "LATCHKEY_REFS=not even JSON", "ENV_INJECTOR_LOG_FORMAT=json"}
	err := envexec.Run(context.Background(), envexec.Options{Argv: []string{"prog", "--flag", "x"}, Environ: environ, Stderr: &logs, Exec: capture(&c)})
	if !errors.Is(err, errExecuted) {
		t.Fatalf("Run = %v", err)
	}
	if c.path != filepath.Join(dir, "prog") || !slices.Equal(c.argv, []string{"prog", "--flag", "x"}) {
		t.Errorf("exec(%q, %q)", c.path, c.argv)
	}
	if want := []string{"PATH=/nope:" + dir, "A=1", "ENV_INJECTOR_LOG_FORMAT=json"}; !slices.Equal(c.env, want) {
		t.Errorf("env = %q, want %q", c.env, want)
	}
	// JSON lines, ours marked.
	for line := range strings.Lines(logs.String()) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil || m["logger"] != "latchkey-env" {
			t.Errorf("log line %q: %v", line, err)
		}
	}
}

func TestRunModes(t *testing.T) {
	dir := progDir(t)
	base := []string{"PATH=" + dir, "X=akvs@azurekeyvault?q"}
	t.Run("resolver mode", func(t *testing.T) {
		var c execCall
		r := &fakeResolver{}
		err := envexec.Run(context.Background(), envexec.Options{Argv: []string{"prog"}, Environ: base, Resolver: r, Exec: capture(&c)})
		if !errors.Is(err, errExecuted) || !r.called {
			t.Fatalf("Run = %v, resolver called: %v", err, r.called)
		}
		if !slices.Contains(c.env, "X=q?tluavyekeruza@svka") {
			t.Errorf("env = %q", c.env)
		}
	})
	t.Run("ENV_INJECTOR_DISABLE_AUTH_SERVICE forces direct mode", func(t *testing.T) {
		r := &fakeResolver{}
		var logs bytes.Buffer
		err := envexec.Run(context.Background(), envexec.Options{Argv: []string{"prog"}, Environ: append(base, "ENV_INJECTOR_DISABLE_AUTH_SERVICE=true"), Resolver: r, Stderr: &logs, Exec: capture(&execCall{})})
		if r.called || envexec.ExitCode(err) != envexec.ExitFailure || !strings.Contains(err.Error(), "variable X (AzureKeyVaultSecret akvs): LATCHKEY_REFS is not set") {
			t.Fatalf("Run = %v, resolver called: %v", err, r.called)
		}
		if !strings.Contains(logs.String(), "variable X") || !strings.Contains(logs.String(), "level=ERROR") {
			t.Errorf("logs do not report the failure: %s", logs.String())
		}
	})
	t.Run("unknown AzureKeyVaultSecret", func(t *testing.T) {
		env := append(slices.Clone(base), `LATCHKEY_REFS={"other":{"vault":"kv","name":"n","type":"secret"}}`)
		err := envexec.Run(context.Background(), envexec.Options{Argv: []string{"prog"}, Environ: env, Exec: capture(&execCall{})})
		if !errors.Is(err, envexec.ErrUnknownAKVS) || envexec.ExitCode(err) != envexec.ExitFailure || !strings.Contains(err.Error(), "variable X (AzureKeyVaultSecret akvs)") {
			t.Fatalf("Run = %v", err)
		}
	})
	t.Run("malformed LATCHKEY_REFS", func(t *testing.T) {
		env := append(slices.Clone(base), `LATCHKEY_REFS={`)
		err := envexec.Run(context.Background(), envexec.Options{Argv: []string{"prog"}, Environ: env, Exec: capture(&execCall{})})
		if !errors.Is(err, podcontract.ErrInvalidRefs) || envexec.ExitCode(err) != envexec.ExitFailure {
			t.Fatalf("Run = %v", err)
		}
	})
	t.Run("incomplete AZURE_* credentials", func(t *testing.T) {
		env := append(slices.Clone(base), `LATCHKEY_REFS={"akvs":{"vault":"kv","name":"n","type":"secret"}}`, "AZURE_CLIENT_SECRET=cs-secret-Tt6")
		err := envexec.Run(context.Background(), envexec.Options{Argv: []string{"prog"}, Environ: env, Exec: capture(&execCall{})})
		if envexec.ExitCode(err) != envexec.ExitFailure || !strings.Contains(err.Error(), "AZURE_TENANT_ID") || !strings.Contains(err.Error(), "variable X") {
			t.Fatalf("Run = %v", err)
		}
		noneOf(t, err.Error(), "cs-secret-Tt6")
	})
}

func TestRunExitCodes(t *testing.T) {
	dir := progDir(t)
	tests := []struct {
		name string
		argv []string
		exec func(string, []string, []string) error
		code int
	}{
		{"no program", nil, nil, envexec.ExitUsage},
		{"empty program", []string{""}, nil, envexec.ExitUsage},
		{"not on PATH", []string{"no-such-program"}, nil, envexec.ExitNotFound},
		{"exec: no such file", []string{"/no/such/file"}, nil, envexec.ExitNotFound},
		{"exec: permission denied", []string{"prog"}, func(string, []string, []string) error { return syscall.EACCES }, envexec.ExitCannotRun},
		{"exec: not a program", []string{"prog"}, func(string, []string, []string) error { return syscall.ENOEXEC }, envexec.ExitCannotRun},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			err := envexec.Run(context.Background(), envexec.Options{Argv: tt.argv, Environ: []string{"PATH=" + dir}, Stderr: &logs, Exec: tt.exec})
			if got := envexec.ExitCode(err); got != tt.code {
				t.Errorf("exit code %d (%v), want %d", got, err, tt.code)
			}
			if !strings.Contains(logs.String(), "level=ERROR") {
				t.Errorf("failure not logged: %q", logs.String())
			}
		})
	}
}

func TestExitCode(t *testing.T) {
	tests := []struct {
		err  error
		want int
	}{
		{nil, 0},
		{errors.New("x"), 1},
		{&envexec.ExitError{Code: 127, Err: envexec.ErrNotFound}, 127},
		{fmt.Errorf("wrapped: %w", &envexec.ExitError{Code: 2, Err: errors.New("usage")}), 2},
		{&envexec.SignalError{Signal: syscall.SIGTERM}, 143},
		{&envexec.SignalError{Signal: syscall.SIGINT}, 130},
	}
	for _, tt := range tests {
		if got := envexec.ExitCode(tt.err); got != tt.want {
			t.Errorf("ExitCode(%v) = %d, want %d", tt.err, got, tt.want)
		}
	}
	if !errors.Is(&envexec.SignalError{Signal: syscall.SIGTERM}, context.Canceled) {
		t.Error("a SignalError is not a cancellation")
	}
}

// blockingResolver blocks until ctx ends.
type blockingResolver struct{}

func (blockingResolver) Resolve(ctx context.Context, _ []envexec.Binding) ([]string, error) {
	<-ctx.Done()
	return nil, &envexec.VarError{Vars: []string{"X"}, AKVS: []string{"akvs"}, Err: fmt.Errorf("reading: %w", context.Cause(ctx))}
}

// TestRunStoppedBySignal: SIGTERM while waiting for values ends Run with
// 128+15 and no exec.
func TestRunStoppedBySignal(t *testing.T) {
	ctx, stop := envexec.NotifyContext(context.Background())
	defer stop()
	done := make(chan error, 1)
	exec := func(string, []string, []string) error { t.Error("exec after a signal"); return nil }
	env := []string{"PATH=" + progDir(t), "X=akvs@azurekeyvault"}
	go func() {
		done <- envexec.Run(ctx, envexec.Options{Argv: []string{"prog"}, Environ: env, Resolver: blockingResolver{}, Exec: exec})
	}()
	time.Sleep(50 * time.Millisecond)
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if envexec.ExitCode(err) != 128+int(syscall.SIGTERM) {
			t.Errorf("Run = %v (exit %d), want exit 143", err, envexec.ExitCode(err))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not stop on SIGTERM")
	}
}

// TestRunLogsNoValues: at debug level, the logs of a successful run name
// variables and objects but hold no value.
func TestRunLogsNoValues(t *testing.T) {
	reader := &fakeReader{values: map[string]string{"s": "value-Hh8-never-logged"}}
	var logs bytes.Buffer
	d := &envexec.Direct{Refs: podcontract.Refs{"a": {Vault: "kv", Name: "s", Type: "secret"}}, Reader: reader, Log: envexec.NewLogger(&logs, slog.LevelDebug, "text")}
	env := []string{"PATH=" + progDir(t), "ENV_INJECTOR_LOG_LEVEL=debug", "SECRET=a@azurekeyvault"}
	var c execCall
	err := envexec.Run(context.Background(), envexec.Options{Argv: []string{"prog"}, Environ: env, Stderr: &logs, Resolver: d, Exec: capture(&c)})
	if !errors.Is(err, errExecuted) || !slices.Contains(c.env, "SECRET=value-Hh8-never-logged") {
		t.Fatalf("Run = %v, env %q", err, c.env)
	}
	for _, want := range []string{`msg="variable resolved" logger=latchkey-env variable=SECRET azureKeyVaultSecret=a`, `msg="starting the program"`, `msg="placeholders resolved"`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("logs lack %q:\n%s", want, logs.String())
		}
	}
	noneOf(t, logs.String(), "value-Hh8-never-logged")
}
