package resolver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/latchkey-dev/latchkey/internal/resolver/protocol"
)

// TokenVerifier authenticates the projected token of a request without
// calling the API server: its claims first (the install's audience, exp,
// nbf, the cluster's issuer), then its signature against the issuer's
// published keys, then the pod it is bound to. A forged token therefore
// costs a parse and at most one signature check; the only API call it can
// cause is a read of the issuer's keys when it names a key id the resolver
// does not know, at most one per Keys.MinRefetch.
//
// It returns who is asking, not whether the pod may have anything: the
// stored pod decides that (PodCache, Authorize).
type TokenVerifier struct {
	Audience string
	Keys     *IssuerKeys
	// Fallback reviews tokens with the API server while the issuer's keys
	// have never been read (discovery turned off or forbidden). Nil: such
	// requests answer 503.
	Fallback *Reviewer
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Observe, if set, counts verifications by how they were made: local,
	// tokenreview (the fallback).
	Observe func(how string)
}

// Verify returns the pod a token is bound to, or a *Denial: 401 for a
// token that is not the cluster's for the install's audience, 403 for an
// authentic token not bound to a pod, 503 when the keys cannot be read.
func (v *TokenVerifier) Verify(ctx context.Context, raw string) (Identity, error) {
	now := v.now()
	t, err := ParseToken(raw)
	if err != nil {
		return Identity{}, tokenDenial(err)
	}
	// The claims, unverified: a token that could not be accepted even if
	// its signature verified costs nothing more.
	if err := CheckClaims(t.Claims, "", v.Audience, now); err != nil {
		return Identity{}, tokenDenial(err)
	}
	keys := v.Keys.Current()
	if keys == nil {
		// No keys yet: read them (at most every MinRefetch), else fall back.
		keys, _, _ = v.Keys.Refetch(ctx)
		if keys == nil {
			return v.fallback(ctx, raw, t.Claims)
		}
	}
	if err := CheckClaims(t.Claims, keys.Issuer, v.Audience, now); err != nil {
		return Identity{}, tokenDenial(err)
	}
	candidates := keys.byID(t.KeyID)
	if len(candidates) == 0 {
		// A key the last read did not have: a rotation, or a forgery.
		var wait time.Duration
		keys, wait, err = v.Keys.Refetch(ctx)
		switch {
		case errors.Is(err, errKeysTooSoon):
			d := deny(http.StatusServiceUnavailable, protocol.CodeAPIUnavailable,
				"the token's key id is not among the service-account issuer's keys read at %s; they are read again at most every %s",
				keys.Fetched.UTC().Format(time.RFC3339), v.Keys.minRefetch())
			d.RetryAfter = wait
			return Identity{}, d
		case err != nil:
			return Identity{}, fmt.Errorf("%w: %w", errKeysUnavailable, err)
		}
		if candidates = keys.byID(t.KeyID); len(candidates) == 0 {
			return Identity{}, tokenDenial(errUnknownKey)
		}
	}
	claims, err := verifyWithAny(t, candidates)
	if err != nil {
		return Identity{}, tokenDenial(err)
	}
	// The same decision on what was signed.
	if err := CheckClaims(claims, keys.Issuer, v.Audience, now); err != nil {
		return Identity{}, tokenDenial(err)
	}
	v.observe("local")
	id, err := IdentityOfClaims(claims)
	if err != nil {
		return Identity{}, tokenDenial(err)
	}
	return id, nil
}

// verifyWithAny verifies t with the first of keys that verifies it (one,
// unless the token has no key id).
func verifyWithAny(t *Token, keys []jose.JSONWebKey) (Claims, error) {
	for _, k := range keys {
		if c, err := t.Verify(k); err == nil {
			return c, nil
		}
	}
	return Claims{}, errBadSignature
}

// fallback asks the API server (TokenReview), when the issuer's keys have
// never been read.
func (v *TokenVerifier) fallback(ctx context.Context, raw string, c Claims) (Identity, error) {
	if v.Fallback == nil {
		return Identity{}, errKeysUnavailable
	}
	v.observe("tokenreview")
	user, err := v.Fallback.Review(ctx, raw, c.Expiry.Time())
	if err != nil {
		return Identity{}, err
	}
	id, d := IdentityOf(user)
	if d != nil {
		return Identity{}, d
	}
	return id, nil
}

func (v *TokenVerifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

func (v *TokenVerifier) observe(how string) {
	if v.Observe != nil {
		v.Observe(how)
	}
}

// tokenDenial is the answer to a token refused by the checks above.
func tokenDenial(err error) *Denial {
	status, code := http.StatusUnauthorized, protocol.CodeTokenRejected
	switch {
	case errors.Is(err, errTokenMissing):
		code = protocol.CodeTokenMissing
	case errors.Is(err, errTokenMalformed):
		code = protocol.CodeTokenMalformed
	case errors.Is(err, errWrongAudience):
		code = protocol.CodeTokenWrongAudience
	case errors.Is(err, errTokenExpired):
		code = protocol.CodeTokenExpired
	case errors.Is(err, errNoPodClaims):
		status, code = http.StatusForbidden, protocol.CodeNoPodClaims
	}
	return deny(status, code, "%v", err)
}
