package envexec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/latchkey-dev/latchkey/internal/keyvault"
	"github.com/latchkey-dev/latchkey/internal/output"
	"github.com/latchkey-dev/latchkey/internal/podcontract"
)

// Resolver gives placeholders their values. Direct mode is Direct; resolver
// mode (issue 5) asks latchkey's resolver, which trusts the stored pod spec,
// not the bindings it is sent, and never goes through HTTPS_PROXY.
type Resolver interface {
	// Resolve returns one value per binding, in order, or an error naming
	// the variables that could not be resolved (a *VarError or several
	// joined), never a value.
	Resolve(ctx context.Context, bindings []Binding) ([]string, error)
}

// ObjectReader reads one Key Vault object; *keyvault.Reader is one.
type ObjectReader interface {
	Read(ctx context.Context, ref keyvault.Ref) (keyvault.Object, error)
}

// maxParallelReads bounds the Key Vault reads in flight: a container has a
// handful of objects, and reading them together keeps start-up at about one
// round trip.
const maxParallelReads = 8

// Direct is direct mode: it reads each object with the container's own
// credentials and answers the queries itself.
type Direct struct {
	// Refs describe the AzureKeyVaultSecrets (LATCHKEY_REFS).
	Refs podcontract.Refs
	// Reader reads Key Vault; give it no retries of its own (see Run), so
	// Retry alone decides.
	Reader ObjectReader
	Retry  RetryPolicy
	// Log gets one line per retry and per resolved variable (debug), names only.
	Log *slog.Logger
	// Sleep waits between attempts; nil means a timer that ctx cancels.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Resolve implements Resolver: one read per Key Vault object, then every
// binding's query. The first read of each vault goes alone: it answers the
// vault's authentication challenge, gets the token and opens the
// connection once; the vault's other reads start when its first attempt is
// over (successful or not, so a retrying read delays no one), in parallel.
// All failures are reported, each naming its variables; once one read fails
// for good the others stop, since the program will not start anyway.
func (d *Direct) Resolve(ctx context.Context, bindings []Binding) ([]string, error) {
	reads, err := PlanReads(bindings, d.Refs)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	values := make([]string, len(bindings))
	pos := make(map[int]int, len(bindings)) // environ index → binding position
	for i, b := range bindings {
		pos[b.Index] = i
	}
	errs := make([]error, len(reads))
	sem := make(chan struct{}, maxParallelReads)
	gates := map[string]chan struct{}{} // per vault: closed after its first attempt
	var wg sync.WaitGroup
	for i, r := range reads {
		vault := strings.ToLower(r.Ref.Store)
		gate, seen := gates[vault]
		var open func()
		if !seen {
			gate = make(chan struct{})
			gates[vault] = gate
			open = sync.OnceFunc(func() { close(gate) })
		}
		wg.Go(func() {
			if open != nil {
				defer open()
			} else {
				select {
				case <-gate:
				case <-ctx.Done():
				}
			}
			sem <- struct{}{}
			defer func() { <-sem }()
			obj, err := d.read(ctx, r.Ref, open)
			if err != nil {
				vars, akvs := r.vars()
				errs[i] = &VarError{Vars: vars, AKVS: akvs, Err: err}
				cancel()
				return
			}
			errs[i] = d.answer(ctx, r, obj, values, pos)
		})
	}
	wg.Wait()
	if err := errors.Join(withoutCancellations(errs)...); err != nil {
		return nil, err
	}
	return values, nil
}

// answer sets the value of every binding of one read.
func (d *Direct) answer(ctx context.Context, r Read, obj keyvault.Object, values []string, pos map[int]int) error {
	var errs []error
	for _, b := range r.Binds {
		v, err := output.Query(b.Ref.Spec(), obj, b.Query)
		switch {
		case err != nil:
			err = fmt.Errorf("%w: %w", ErrQuery, err)
		case bytes.IndexByte(v, 0) >= 0:
			err = podcontract.ErrNULByte
		}
		if err != nil {
			errs = append(errs, &VarError{Vars: []string{b.Var}, AKVS: []string{b.AKVS}, Err: err})
			continue
		}
		values[pos[b.Index]] = string(v)
		d.log().LogAttrs(ctx, slog.LevelDebug, "variable resolved", slog.String("variable", b.Var),
			slog.String("azureKeyVaultSecret", b.AKVS), slog.String("query", b.Query),
			slog.String("object", r.Ref.String()), slog.String("version", obj.Version))
	}
	return errors.Join(errs...)
}

// read reads one object, retrying transient failures as Retry says.
// attempted, if set, is called once the first attempt is over.
func (d *Direct) read(ctx context.Context, ref keyvault.Ref, attempted func()) (keyvault.Object, error) {
	for attempt := 1; ; attempt++ {
		obj, err := d.Reader.Read(ctx, ref)
		if attempted != nil {
			attempted()
		}
		if err == nil {
			return obj, nil
		}
		wait, again := d.Retry.Delay(attempt, err)
		if !again {
			return keyvault.Object{}, err
		}
		if ctx.Err() != nil { // another read failed for good, or a signal came
			return keyvault.Object{}, context.Cause(ctx)
		}
		d.log().LogAttrs(ctx, slog.LevelWarn, "Key Vault read failed; retrying", slog.String("object", ref.String()),
			slog.String("reason", Reason(err)), slog.String("error", err.Error()),
			slog.Int("retry", attempt), slog.Int("retries", d.Retry.Retries), slog.Duration("wait", wait))
		if err := d.sleep(ctx, wait); err != nil {
			return keyvault.Object{}, err
		}
	}
}

func (d *Direct) sleep(ctx context.Context, wait time.Duration) error {
	if d.Sleep != nil {
		return d.Sleep(ctx, wait)
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

func (d *Direct) log() *slog.Logger {
	if d.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return d.Log
}

// withoutCancellations drops the failures caused by another read's
// failure cancelling the rest, unless nothing else failed.
func withoutCancellations(errs []error) []error {
	var real, cancelled []error
	for _, err := range errs {
		switch {
		case err == nil:
		case errors.Is(err, context.Canceled):
			cancelled = append(cancelled, err)
		default:
			real = append(real, err)
		}
	}
	if len(real) == 0 {
		return cancelled
	}
	return real
}
