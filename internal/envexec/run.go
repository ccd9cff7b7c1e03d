package envexec

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"syscall"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/latchkey-dev/latchkey/internal/keyvault"
	"github.com/latchkey-dev/latchkey/internal/podcontract"
	"github.com/latchkey-dev/latchkey/internal/vaultkv"
)

// Options configure Run.
type Options struct {
	// Argv is the program and its arguments (after `run --`).
	Argv []string
	// Environ is the environment, os.Environ() in production.
	Environ []string
	// Stderr receives the logs; nil discards them.
	Stderr io.Writer
	// Transport carries every request to Entra ID and Key Vault; nil means
	// the SDK's default client (HTTPS_PROXY honoured, system CA roots or the
	// binary's fallback roots). Tests pass the emulator's.
	Transport policy.Transporter
	// Resolver answers the placeholders in resolver mode; nil means a
	// ResolverClient when LATCHKEY_RESOLVER_URL is set, else direct mode.
	// ENV_INJECTOR_DISABLE_AUTH_SERVICE=true means direct mode regardless.
	Resolver Resolver
	// Exec replaces the process; nil means syscall.Exec. It returns only on failure.
	Exec func(argv0 string, argv, envv []string) error
}

// Validate reports a wrong command line.
func (o Options) Validate() error {
	if len(o.Argv) == 0 || o.Argv[0] == "" {
		return &ExitError{Code: ExitUsage, Err: errors.New("no program to run: want `latchkey-env run -- program [args…]`")}
	}
	return nil
}

// Run is `latchkey-env run`: it reads the ENV_INJECTOR_* settings, resolves
// every placeholder of o.Environ, and execs o.Argv with the new
// environment. It returns only on failure, having logged it (variables and
// AzureKeyVaultSecrets named, never a value); ExitCode gives the exit code.
func Run(ctx context.Context, o Options) error {
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
	err := run(ctx, o, cfg, log)
	logFailure(ctx, log, err)
	return err
}

func run(ctx context.Context, o Options, cfg Config, log *slog.Logger) error {
	if err := o.Validate(); err != nil {
		return err
	}
	bindings := FindPlaceholders(o.Environ)
	values, err := resolve(ctx, o, cfg, log, bindings)
	if err == nil && len(values) != len(bindings) {
		err = fmt.Errorf("%d values for %d variables", len(values), len(bindings))
	}
	if err != nil {
		return stopped(ctx, &ExitError{Code: ExitFailure, Err: err})
	}
	env := Rewrite(o.Environ, bindings, values)
	path, err := LookPath(o.Argv[0], Getenv(env)("PATH"), nil)
	if err != nil {
		return &ExitError{Code: ExitNotFound, Err: fmt.Errorf("program %q: %w", o.Argv[0], err)}
	}
	if err := stopped(ctx, nil); err != nil {
		return err
	}
	log.LogAttrs(ctx, slog.LevelInfo, "starting the program", slog.String("program", path),
		slog.Int("args", len(o.Argv)-1), slog.Int("variables", len(bindings)))
	exec := o.Exec
	if exec == nil {
		exec = syscall.Exec
	}
	err = exec(path, o.Argv, env)
	code := ExitCannotRun
	if errors.Is(err, syscall.ENOENT) {
		code = ExitNotFound
	}
	return &ExitError{Code: code, Err: fmt.Errorf("exec %s: %w", path, err)}
}

// stopped returns the signal that cancelled ctx, if one did, else err.
func stopped(ctx context.Context, err error) error {
	var se *SignalError
	if ctx.Err() != nil && errors.As(context.Cause(ctx), &se) {
		return se
	}
	return err
}

// resolve gives every binding its value: in resolver mode (o.Resolver, or
// LATCHKEY_RESOLVER_URL set) through the resolver, unless
// ENV_INJECTOR_DISABLE_AUTH_SERVICE=true asks for direct mode; else by
// reading Key Vault directly.
func resolve(ctx context.Context, o Options, cfg Config, log *slog.Logger, bindings []Binding) ([]string, error) {
	if len(bindings) == 0 {
		return nil, nil
	}
	getenv := Getenv(o.Environ)
	if !cfg.DirectMode {
		r := o.Resolver
		if r == nil && getenv(podcontract.EnvResolverURL) != "" {
			ro := ResolverOptionsFromEnv(getenv)
			ro.Retry, ro.Log = cfg.Retry, log
			rc, err := NewResolverClient(ro)
			if err != nil {
				return nil, allVars(bindings, fmt.Errorf("resolver mode: %w", err))
			}
			r = rc
		}
		if r != nil {
			return timed(ctx, log, "placeholders resolved", len(bindings), func() ([]string, error) {
				return r.Resolve(ctx, bindings)
			})
		}
	}
	raw := getenv(podcontract.EnvRefs)
	if raw == "" {
		return nil, allVars(bindings, fmt.Errorf("%s is not set: was the pod admitted by latchkey's webhook?", podcontract.EnvRefs))
	}
	refs, err := podcontract.ParseRefs(raw)
	if err != nil {
		return nil, allVars(bindings, err)
	}
	reads, err := PlanReads(bindings, refs)
	if err != nil {
		return nil, err // before any credential work
	}
	if o.Transport == nil { // production: TLS needs CA roots, load them now
		start := time.Now()
		fallback := EnsureCARoots()
		log.LogAttrs(ctx, slog.LevelDebug, "CA roots loaded", slog.Bool("fallback", fallback), durationMs(start))
	}
	reader := backendReaders{}
	for _, r := range reads {
		if reader[r.Ref.Backend] != nil {
			continue
		}
		var err error
		if reader[r.Ref.Backend], err = directReader(ctx, r.Ref.Backend, o, getenv, log); err != nil {
			return nil, allVars(bindings, err)
		}
	}
	d := &Direct{Refs: refs, Reader: reader, Retry: cfg.Retry, Log: log}
	return timed(ctx, log, "placeholders resolved", len(bindings), func() ([]string, error) {
		return d.Resolve(ctx, bindings)
	})
}

// directReader is direct mode's reader of one backend: Key Vault with the
// credential of the AZURE_* variables; HashiCorp Vault logged in with the
// pod's own token the webhook projected (LATCHKEY_VAULT_TOKEN), through the
// same Reader the controller and the resolver use.
func directReader(ctx context.Context, name string, o Options, getenv func(string) string, log *slog.Logger) (ObjectReader, error) {
	if name == vaultkv.Backend {
		path := getenv(podcontract.EnvVaultToken)
		if path == "" {
			return nil, fmt.Errorf("direct mode: %s is not set: the webhook projects the pod's token for HashiCorp Vault when its install has the backend on (hashicorpVault.enabled)", podcontract.EnvVaultToken)
		}
		log.LogAttrs(ctx, slog.LevelDebug, "direct mode", slog.String("backend", name), slog.String("identity", "the pod's ServiceAccount (Vault Kubernetes auth)"))
		return vaultkv.NewReader(vaultkv.Options{Tokens: vaultkv.TokenFile{Path: path}})
	}
	cred, err := keyvault.NewCredential(keyvault.AuthConfigFromEnv(keyvault.ModeEnvironment, getenv), o.Transport)
	if err != nil {
		return nil, fmt.Errorf("direct mode: Key Vault credential from the AZURE_* variables: %w", err)
	}
	log.LogAttrs(ctx, slog.LevelDebug, "direct mode", slog.String("identity", cred.Identity()))
	// No SDK retries: ENV_INJECTOR_RETRIES alone says how often a read is tried.
	return keyvault.NewReader(cred, keyvault.ReaderOptions{Transport: o.Transport, MaxRetries: -1, Logger: log}), nil
}

// backendReaders reads each Ref with its backend's reader.
type backendReaders map[string]ObjectReader

func (b backendReaders) Read(ctx context.Context, ref keyvault.Ref) (keyvault.Object, error) {
	r := b[ref.Backend]
	if r == nil {
		return keyvault.Object{}, fmt.Errorf("%w: no reader for %s", keyvault.ErrInvalidObject, ref)
	}
	return r.Read(ctx, ref)
}

// timed runs f and logs how long it took at debug level, on success.
func timed(ctx context.Context, log *slog.Logger, msg string, n int, f func() ([]string, error)) ([]string, error) {
	start := time.Now()
	values, err := f()
	if err == nil {
		log.LogAttrs(ctx, slog.LevelDebug, msg, slog.Int("variables", n), durationMs(start))
	}
	return values, err
}

// durationMs is the time since start, in milliseconds, as a log attribute.
func durationMs(start time.Time) slog.Attr {
	return slog.Float64("durationMs", float64(time.Since(start).Microseconds())/1000)
}

// allVars is err for every binding's variable.
func allVars(bindings []Binding, err error) *VarError {
	e := &VarError{Err: err}
	for _, b := range bindings {
		e.Vars = append(e.Vars, b.Var)
		e.AKVS = append(e.AKVS, b.AKVS)
	}
	e.Vars, e.AKVS = sortedSet(e.Vars), sortedSet(e.AKVS)
	return e
}
