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
	"github.com/latchkey-dev/latchkey/internal/envexec"
	"github.com/latchkey-dev/latchkey/internal/keyvault"
	"github.com/latchkey-dev/latchkey/internal/output"
	"github.com/latchkey-dev/latchkey/internal/resolver/protocol"
)

// ObjectSource reads Key Vault objects no older than maxAge; the shared,
// single-flight *keyvault.Cache is one.
type ObjectSource interface {
	Get(ctx context.Context, ref keyvault.Ref, maxAge time.Duration) (keyvault.Object, error)
}

// Guard is the tenancy guard; *tenancy.Source is one.
type Guard interface {
	Allows(namespace, vault, object string) bool
}

// Values gives authorised placeholders their values (step 7).
type Values struct {
	// AKVS reads AzureKeyVaultSecrets from the informer; Live from the API
	// server when the informer does not have one yet (created moments
	// before the pod). Live may be nil.
	AKVS, Live client.Reader
	Tenancy    Guard
	Objects    ObjectSource
	// RefreshInterval is how old a Key Vault read may be
	// (an AzureKeyVaultSecret's spec.refreshInterval overrides it).
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
		ref    keyvault.Ref
		maxAge time.Duration
		wanted []Wanted
		obj    keyvault.Object
		err    error
	}
	var reads []*read
	byRef := map[keyvault.Ref]*read{}
	for _, w := range wanted {
		r := refs[w.AKVS]
		kr := r.ref.KeyVaultRef()
		rd := byRef[kr]
		if rd == nil {
			rd = &read{ref: kr, maxAge: r.maxAge}
			byRef[kr] = rd
			reads = append(reads, rd)
		}
		rd.maxAge = min(rd.maxAge, r.maxAge)
		rd.wanted = append(rd.wanted, w)
	}
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
	values := make(map[string]string, len(wanted))
	for _, rd := range reads {
		if rd.err != nil {
			f := keyVaultFailure(rd.err)
			for _, w := range rd.wanted {
				f.vars, f.akvs = append(f.vars, w.Var), append(f.akvs, w.AKVS)
			}
			failures = append(failures, f)
			continue
		}
		for _, w := range rd.wanted {
			value, err := output.Query(refs[w.AKVS].ref.Spec(), rd.obj, w.Query)
			if err == nil && bytes.IndexByte(value, 0) >= 0 {
				err = envexec.ErrNULByte
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

// akvsRef is one AzureKeyVaultSecret as the resolver uses it.
type akvsRef struct {
	ref    envexec.Ref
	maxAge time.Duration
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
		r := akvsRef{ref: plan.Ref, maxAge: plan.MaxAge(v.RefreshInterval)}
		if !v.Tenancy.Allows(ns, r.ref.Vault, r.ref.Name) {
			failures = append(failures, failure{status: http.StatusForbidden, code: protocol.CodeVaultNotAllowed,
				err:  fmt.Sprintf("namespace %s may not read %s/%s (tenancy policy)", ns, r.ref.Vault, r.ref.Name),
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

// keyVaultFailure maps a failed read to the answer: 503 for what waiting
// may fix (unavailable, throttled with Key Vault's Retry-After, Entra ID
// answering 429 or 5xx), the rest for what it will not.
func keyVaultFailure(err error) failure {
	f := failure{status: http.StatusServiceUnavailable, code: protocol.CodeKeyVaultUnavailable, err: err.Error()}
	var kv *keyvault.Error
	isKV := errors.As(err, &kv)
	switch {
	case errors.Is(err, keyvault.ErrNotFound):
		f.status, f.code = http.StatusNotFound, protocol.CodeKeyVaultNotFound
	case errors.Is(err, keyvault.ErrForbidden):
		f.status, f.code = http.StatusForbidden, protocol.CodeKeyVaultForbidden
	case errors.Is(err, keyvault.ErrInvalidObject):
		f.status, f.code = http.StatusUnprocessableEntity, protocol.CodeInvalidObject
	case errors.Is(err, keyvault.ErrThrottled):
		f.code = protocol.CodeKeyVaultThrottled
		f.retryAfter, _ = keyvault.RetryAfter(err)
	case errors.Is(err, keyvault.ErrAuthentication):
		if !isKV || (kv.Status != http.StatusTooManyRequests && kv.Status < http.StatusInternalServerError) {
			f.status, f.code = http.StatusBadGateway, protocol.CodeKeyVaultAuthFailed
		}
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		f.err = "Key Vault did not answer in time"
	}
	return f
}
