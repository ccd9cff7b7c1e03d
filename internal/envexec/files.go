package envexec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/latchkey-dev/latchkey/internal/atomicdir"
	"github.com/latchkey-dev/latchkey/internal/podcontract"
	"github.com/latchkey-dev/latchkey/internal/resolver/protocol"
)

// Poll intervals of the refresh sidecar.
const (
	// DefaultFilesInterval is the poll interval when neither the pod nor
	// the resolver names one.
	DefaultFilesInterval = 5 * time.Minute
	// filesRetryInterval is the longest wait after a failed poll.
	filesRetryInterval = 30 * time.Second
)

// FileClient is what the writers ask: the resolver (*ResolverClient).
type FileClient interface {
	Resolve(ctx context.Context, bindings []Binding) ([]string, error)
	Refresh(ctx context.Context, bindings []Binding, have map[string]string) (Refreshed, error)
}

// FilesOptions configure Files.
type FilesOptions struct {
	// Refresh is the sidecar: poll and rewrite on change, until ctx ends.
	// Otherwise write once (the init container).
	Refresh bool
	// Environ is the environment, os.Environ() in production.
	Environ []string
	// Stderr receives the logs; nil discards them.
	Stderr io.Writer
	// Client asks the resolver; nil means a ResolverClient from the env.
	Client FileClient
	// Sleep waits between polls; nil means a timer that ctx cancels.
	Sleep func(ctx context.Context, d time.Duration) error
	// ProcDir is where the sidecar finds the program to signal; "" means
	// /proc (the pod's processes, with shareProcessNamespace).
	ProcDir string
	// Kill sends a signal; nil means syscall.Kill.
	Kill func(pid int, sig syscall.Signal) error
}

// Files is `latchkey-env files write|refresh`: it reads LATCHKEY_FILES,
// asks the resolver for the files' values and writes them as one set
// (internal/atomicdir). The writer fails (and the pod does not start) when
// it cannot; the sidecar keeps the files as they are when a poll fails and
// tries again. Logs name files and AzureKeyVaultSecrets, never a value.
func Files(ctx context.Context, o FilesOptions) error {
	getenv := Getenv(o.Environ)
	cfg, warnings := ConfigFromEnv(getenv)
	stderr := o.Stderr
	if stderr == nil {
		stderr = io.Discard
	}
	log := NewLogger(stderr, cfg.LogLevel, cfg.LogFormat)
	for _, w := range warnings {
		log.Warn(w)
	}
	err := files(ctx, o, cfg, log, getenv)
	if err != nil && !errors.Is(err, context.Canceled) {
		for _, ve := range varErrors(err) {
			log.LogAttrs(ctx, slog.LevelError, "cannot write the files: "+ve.Error(), slog.Any("variables", ve.Vars),
				slog.Any("azureKeyVaultSecrets", ve.AKVS), slog.String("reason", Reason(ve.Err)))
		}
		if len(varErrors(err)) == 0 {
			log.LogAttrs(ctx, slog.LevelError, "cannot write the files: "+err.Error(), slog.String("reason", Reason(err)))
		}
		return &ExitError{Code: ExitFailure, Err: err}
	}
	return nil
}

func files(ctx context.Context, o FilesOptions, cfg Config, log *slog.Logger, getenv func(string) string) error {
	wc, err := podcontract.ParseWriterEnv(getenv)
	if err != nil {
		return err
	}
	dir, set := wc.Dir, wc.Files
	bindings := make([]Binding, len(set))
	for i, f := range set {
		bindings[i] = Binding{Index: i, Var: f.Var, Placeholder: f.Placeholder}
	}
	client := o.Client
	if client == nil {
		ro := ResolverOptionsFromEnv(getenv)
		ro.Retry, ro.Log = cfg.Retry, log
		rc, err := NewResolverClient(ro)
		if err != nil {
			return allVars(bindings, fmt.Errorf("files: %w", err))
		}
		client = rc
	}
	if !o.Refresh {
		values, err := client.Resolve(ctx, bindings)
		if err != nil {
			return err
		}
		if err := writeSet(dir, set, values); err != nil {
			return err
		}
		log.LogAttrs(ctx, slog.LevelInfo, "files written", slog.String("dir", dir), slog.Any("files", fileNames(set)))
		return nil
	}
	return refresh(ctx, o, log, client, wc, bindings)
}

// refresh polls until ctx ends: at the declared interval, else the one the
// resolver answers (learnt at the first poll, made within
// MinFilesRefreshInterval: an unchanged answer costs nothing), less up to a
// tenth at random so that a Deployment's pods do not ask in step. It starts from the files on disk (the init
// container wrote them), so its first poll costs no value on the wire.
func refresh(ctx context.Context, o FilesOptions, log *slog.Logger, client FileClient, wc podcontract.WriterConfig, bindings []Binding) error {
	dir, set, declared := wc.Dir, wc.Files, wc.Interval
	have := map[string]string{}
	if current, err := atomicdir.Read(dir); err == nil {
		for _, f := range set {
			if data, ok := current[f.Name]; ok {
				have[f.Var] = protocol.Digest(f.Carried(data))
			}
		}
	}
	interval, wait := DefaultFilesInterval, jitter(podcontract.MinFilesRefreshInterval)
	if declared > 0 {
		interval, wait = declared, jitter(declared)
	}
	sleep := o.Sleep
	if sleep == nil {
		sleep = sleepCtx
	}
	log.LogAttrs(ctx, slog.LevelInfo, "keeping the files current", slog.String("dir", dir), slog.Any("files", fileNames(set)), slog.Duration("declaredInterval", declared))
	for {
		if err := sleep(ctx, wait); err != nil {
			return nil // the pod ends: nothing to finish
		}
		r, err := client.Refresh(ctx, bindings, have)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			wait = min(interval, filesRetryInterval)
			log.LogAttrs(ctx, slog.LevelWarn, "refresh failed; the files stay as they are", slog.String("reason", Reason(err)),
				slog.String("error", err.Error()), slog.Duration("retryIn", wait))
			continue
		}
		if declared == 0 && r.Interval > 0 {
			interval = max(r.Interval, podcontract.MinFilesRefreshInterval)
		}
		wait = jitter(interval)
		if r.Unchanged {
			log.LogAttrs(ctx, slog.LevelDebug, "files unchanged")
			continue
		}
		files, err := contents(set, r.Values)
		if err == nil && sameContents(dir, files) {
			for i, f := range set {
				have[f.Var] = protocol.Digest(r.Values[i])
			}
			log.LogAttrs(ctx, slog.LevelDebug, "files unchanged")
			continue
		}
		if err == nil {
			err = atomicdir.Write(dir, files)
		}
		if err != nil {
			log.LogAttrs(ctx, slog.LevelWarn, "cannot write the new files; the old ones stay", slog.String("reason", Reason(err)), slog.String("error", err.Error()))
			continue
		}
		for i, f := range set {
			have[f.Var] = protocol.Digest(r.Values[i])
		}
		log.LogAttrs(ctx, slog.LevelInfo, "files updated", slog.Any("files", fileNames(set)))
		if wc.Signal != "" {
			n, err := signalProgram(o, wc.Signal, wc.Program)
			attrs := []slog.Attr{slog.String("signal", "SIG"+wc.Signal), slog.String("program", wc.Program), slog.Int("processes", n)}
			switch {
			case err != nil:
				log.LogAttrs(ctx, slog.LevelWarn, "cannot signal the program", append(attrs, slog.String("error", err.Error()))...)
			case n == 0:
				log.LogAttrs(ctx, slog.LevelWarn, "no process of the program to signal (is shareProcessNamespace set?)", attrs...)
			default:
				log.LogAttrs(ctx, slog.LevelInfo, "program signalled", attrs...)
			}
		}
	}
}

// signals maps podcontract.Signals to their numbers.
var signals = map[string]syscall.Signal{"HUP": syscall.SIGHUP, "INT": syscall.SIGINT, "TERM": syscall.SIGTERM,
	"USR1": syscall.SIGUSR1, "USR2": syscall.SIGUSR2, "WINCH": syscall.SIGWINCH}

// signalProgram sends sig to every process whose argv[0] has the base
// name program (or, without a command line, whose comm is program), but
// this one. It reports how many it signalled.
func signalProgram(o FilesOptions, sig, program string) (int, error) {
	procDir, kill := o.ProcDir, o.Kill
	if procDir == "" {
		procDir = "/proc"
	}
	if kill == nil {
		kill = syscall.Kill
	}
	entries, err := os.ReadDir(procDir)
	if err != nil {
		return 0, err
	}
	n := 0
	var errs []error
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		if processName(filepath.Join(procDir, e.Name())) != program {
			continue
		}
		if err := kill(pid, signals[sig]); err != nil {
			errs = append(errs, fmt.Errorf("pid %d: %w", pid, err))
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}

// processName is the base name of a process's argv[0], or its comm.
func processName(dir string) string {
	if cmdline, err := os.ReadFile(filepath.Join(dir, "cmdline")); err == nil && len(cmdline) > 0 {
		argv0, _, _ := strings.Cut(string(cmdline), "\x00")
		return filepath.Base(argv0)
	}
	comm, _ := os.ReadFile(filepath.Join(dir, "comm"))
	return strings.TrimSpace(string(comm))
}

// writeSet writes values (in set's order) as one version.
func writeSet(dir string, set []podcontract.WriterFile, values []string) error {
	files, err := contents(set, values)
	if err != nil {
		return err
	}
	return atomicdir.Write(dir, files)
}

// contents are the files of values (in set's order), each decoded as its
// file declares. A value that is not in its declared encoding fails the
// whole set, naming the file and its variable, never the value.
func contents(set []podcontract.WriterFile, values []string) ([]atomicdir.File, error) {
	if len(values) != len(set) {
		return nil, fmt.Errorf("%d values for %d files", len(values), len(set))
	}
	files := make([]atomicdir.File, len(set))
	for i, f := range set {
		data, err := f.Content(values[i])
		if err != nil {
			return nil, &VarError{Vars: []string{f.Var}, AKVS: []string{f.AKVS}, Err: err}
		}
		files[i] = atomicdir.File{Name: f.Name, Data: data, Mode: f.Mode}
	}
	return files, nil
}

// sameContents reports whether dir already holds files, byte for byte: a
// base64 value Key Vault holds in another form than the canonical one
// (line breaks, no padding) digests otherwise than the file the sidecar
// read, and is answered again without being new.
func sameContents(dir string, files []atomicdir.File) bool {
	current, err := atomicdir.Read(dir)
	if err != nil || len(current) != len(files) {
		return false
	}
	for _, f := range files {
		if data, ok := current[f.Name]; !ok || !bytes.Equal(data, f.Data) {
			return false
		}
	}
	return true
}

func fileNames(set []podcontract.WriterFile) []string {
	names := make([]string, len(set))
	for i, f := range set {
		names[i] = f.Name
	}
	return names
}

// jitter is d less up to a tenth of it, at random.
func jitter(d time.Duration) time.Duration {
	return d - rand.N(d/10+1) //nolint:gosec // spreading polls, not a secret
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}
