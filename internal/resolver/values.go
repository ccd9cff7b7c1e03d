package resolver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/latchkey-dev/latchkey/api/v2beta1"
	"github.com/latchkey-dev/latchkey/internal/akvsplan"
	"github.com/latchkey-dev/latchkey/internal/backend"
	"github.com/latchkey-dev/latchkey/internal/output"
	"github.com/latchkey-dev/latchkey/internal/podcontract"
	"github.com/latchkey-dev/latchkey/internal/resolver/protocol"
)

// ObjectSource reads objects no older than maxAge, from whichever backend
// their Ref names; backend.Sources over the shared, single-flight caches is
// one.
type ObjectSource = backend.Source

// Guard is the tenancy guard; *tenancy.Source is one.
type Guard interface {
	Allows(namespace, vault, object string) bool
}

// Values gives authorised placeholders their values (step 6).
type Values struct {
	// AKVS reads AzureKeyVaultSecrets from the informer; Live from the API
	// server when the informer does not have one yet (created moments
	// before the pod). Live may be nil.
	AKVS, Live client.Reader
	Tenancy    Guard
	Objects    ObjectSource
	// RefreshInterval is how old a Key Vault read may be
	// (an AzureKeyVaultSecret's spec.refreshInterval overrides it, never
	// below v2beta1.MinRefreshInterval).
	RefreshInterval time.Duration
}

// maxParallelObjects bounds one request's Key Vault reads in flight.
const maxParallelObjects = 8

// Resolve returns the value of every placeholder of wanted, in the pod's
// namespace ns. Every AzureKeyVaultSecret must exist and pass the tenancy
// guard before any Key Vault read: a refused request costs Key Vault
// nothing. Failures come back as one *Denial naming each variable's
// reason; an API server failure as another error.
func (v *Values) Resolve(ctx context.Context, ns string, wanted []Wanted) (map[string]string, error) {
	refs, failures, err := v.refs(ctx, ns, wanted)
	if err != nil {
		return nil, err
	}
	if d := combine(failures); d != nil {
		return nil, d
	}
	type read struct {
		ref    backend.Ref
		maxAge time.Duration
		// known is the version the controller last saw (status), if any.
		known  string
		wanted []Wanted
		obj    backend.Object
		err    error
	}
	var reads []*read
	byRef := map[backend.Ref]*read{}
	for _, w := range wanted {
		r := refs[w.AKVS]
		kr := r.plan.Object()
		rd := byRef[kr]
		if rd == nil {
			rd = &read{ref: kr, maxAge: r.maxAge}
			byRef[kr] = rd
			reads = append(reads, rd)
		}
		rd.maxAge = min(rd.maxAge, r.maxAge)
		if rd.known == "" {
			rd.known = r.known
		}
		rd.wanted = append(rd.wanted, w)
	}
	readAll := func(reads []*read) {
		sem := make(chan struct{}, maxParallelObjects)
		var wg sync.WaitGroup
		for _, rd := range reads {
			wg.Go(func() {
				sem <- struct{}{}
				defer func() { <-sem }()
				rd.obj, rd.err = v.Objects.Get(ctx, rd.ref, rd.maxAge)
			})
		}
		wg.Wait()
	}
	readAll(reads)
	// A stored read of another version than the controller last saw is
	// older than the change it saw (the pods it rolled out for that change
	// must get the new value), or newer (the controller reads at its next
	// due time): read again, at most once a second per object while they
	// differ, rather than serve a value up to an interval old.
	var stale []*read
	for _, rd := range reads {
		if rd.err == nil && rd.known != "" && rd.obj.Version != rd.known {
			rd.maxAge = min(rd.maxAge, versionMismatchMaxAge)
			stale = append(stale, rd)
		}
	}
	readAll(stale)
	values := make(map[string]string, len(wanted))
	for _, rd := range reads {
		if rd.err != nil {
			f := storeFailure(rd.err)
			for _, w := range rd.wanted {
				f.vars, f.akvs = append(f.vars, w.Var), append(f.akvs, w.AKVS)
			}
			failures = append(failures, f)
			continue
		}
		for _, w := range rd.wanted {
			value, err := output.Query(refs[w.AKVS].plan.Ref.Spec(), rd.obj, w.Query)
			if err == nil && bytes.IndexByte(value, 0) >= 0 {
				err = podcontract.ErrNULByte
			}
			if err != nil {
				failures = append(failures, failure{status: http.StatusUnprocessableEntity, code: protocol.CodeQueryFailed,
					err: fmt.Sprintf("%s: %v", rd.ref, err), vars: []string{w.Var}, akvs: []string{w.AKVS}})
				continue
			}
			values[w.Var] = string(value)
		}
	}
	if d := combine(failures); d != nil {
		return nil, d
	}
	return values, nil
}

// versionMismatchMaxAge is how old a read may be to serve a placeholder
// whose AzureKeyVaultSecret's status names another version.
const versionMismatchMaxAge = time.Second

// akvsRef is one AzureKeyVaultSecret as the resolver uses it.
type akvsRef struct {
	plan   akvsplan.Plan
	maxAge time.Duration
	// known is status.objectVersion of an unpinned AzureKeyVaultSecret.
	known string
}

// refs reads the AzureKeyVaultSecrets wanted names and applies the tenancy
// guard to each.
func (v *Values) refs(ctx context.Context, ns string, wanted []Wanted) (map[string]akvsRef, []failure, error) {
	refs := map[string]akvsRef{}
	byAKVS := map[string][]string{} // AzureKeyVaultSecret → variables
	var names []string
	for _, w := range wanted {
		if _, seen := byAKVS[w.AKVS]; !seen {
			names = append(names, w.AKVS)
		}
		byAKVS[w.AKVS] = append(byAKVS[w.AKVS], w.Var)
	}
	var failures []failure
	for _, name := range names {
		akvs, err := v.get(ctx, ns, name)
		if apierrors.IsNotFound(err) {
			failures = append(failures, failure{status: http.StatusNotFound, code: protocol.CodeAKVSNotFound,
				err: fmt.Sprintf("AzureKeyVaultSecret %s/%s does not exist", ns, name), vars: byAKVS[name], akvs: []string{name}})
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("read AzureKeyVaultSecret %s/%s: %w", ns, name, err)
		}
		if problems := v2beta1.Check(akvs).ForInjection(); len(problems) > 0 {
			failures = append(failures, failure{status: http.StatusUnprocessableEntity, code: protocol.CodeInvalidSpec,
				err: fmt.Sprintf("AzureKeyVaultSecret %s/%s cannot be used: %s", ns, name, problems), vars: byAKVS[name], akvs: []string{name}})
			continue
		}
		plan := akvsplan.Of(akvs)
		r := akvsRef{plan: plan, maxAge: plan.MaxAge(v.RefreshInterval)}
		if !plan.Pinned() {
			r.known = akvs.Status.ObjectVersion
		}
		obj := plan.Object()
		if !v.Tenancy.Allows(ns, obj.Store, obj.Name) {
			failures = append(failures, failure{status: http.StatusForbidden, code: protocol.CodeVaultNotAllowed,
				err:  fmt.Sprintf("namespace %s may not read %s/%s (tenancy policy)", ns, obj.Store, obj.Name),
				vars: byAKVS[name], akvs: []string{name}})
			continue
		}
		refs[name] = r
	}
	return refs, failures, nil
}

func (v *Values) get(ctx context.Context, ns, name string) (*v2beta1.AzureKeyVaultSecret, error) {
	key := types.NamespacedName{Namespace: ns, Name: name}
	akvs := &v2beta1.AzureKeyVaultSecret{}
	err := v.AKVS.Get(ctx, key, akvs)
	if apierrors.IsNotFound(err) && v.Live != nil {
		err = v.Live.Get(ctx, key, akvs)
	}
	return akvs, err
}

// storeFailure maps a failed read to the answer by its backend class: 503
// for what waiting may fix (unavailable, throttled with the store's
// Retry-After, a sign-in the identity provider throttled or failed), the
// rest for what it will not.
func storeFailure(err error) failure {
	f := failure{status: http.StatusServiceUnavailable, code: protocol.CodeStoreUnavailable, err: err.Error()}
	switch {
	case errors.Is(err, backend.ErrNotFound):
		f.status, f.code = http.StatusNotFound, protocol.CodeStoreNotFound
	case errors.Is(err, backend.ErrForbidden):
		f.status, f.code = http.StatusForbidden, protocol.CodeStoreForbidden
	case errors.Is(err, backend.ErrInvalidObject):
		f.status, f.code = http.StatusUnprocessableEntity, protocol.CodeStoreInvalid
	case errors.Is(err, backend.ErrThrottled):
		f.code = protocol.CodeStoreThrottled
		f.retryAfter, _ = backend.RetryAfter(err)
	case errors.Is(err, backend.ErrAuthentication):
		if !backend.Transient(err) {
			f.status, f.code = http.StatusBadGateway, protocol.CodeStoreAuthFailed
		}
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		f.err = "Key Vault did not answer in time"
	}
	return f
}

// PollInterval is how often the values of the AzureKeyVaultSecrets
// names (of namespace ns) may change: the shortest of their refresh
// intervals (akvsplan), the process's for one it cannot read. A refreshing
// client polls at it.
func (v *Values) PollInterval(ctx context.Context, ns string, names []string) time.Duration {
	shortest := v.RefreshInterval
	for _, name := range names {
		if akvs, err := v.get(ctx, ns, name); err == nil {
			shortest = min(shortest, akvsplan.Of(akvs).Interval(v.RefreshInterval))
		}
	}
	return shortest
}
