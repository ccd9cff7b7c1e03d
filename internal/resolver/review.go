package resolver

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"golang.org/x/time/rate"
	authenticationv1 "k8s.io/api/authentication/v1"

	"github.com/latchkey-dev/latchkey/internal/resolver/protocol"
)

// Review cache bounds.
const (
	// MaxReviewTTL is the longest a review is reused: a revoked token (its
	// ServiceAccount deleted, say) is refused within a minute. The pod
	// checks that follow are not cached this long.
	MaxReviewTTL = time.Minute
	// negativeReviewTTL is how long a refused token stays refused without
	// asking again: a replayed bad token costs one review per period.
	negativeReviewTTL = 10 * time.Second
	// DefaultMaxReviewEntries bounds the review cache: about 2 MB.
	DefaultMaxReviewEntries = 10_000
)

// TokenReviewFunc creates a TokenReview and returns it with its status.
type TokenReviewFunc func(ctx context.Context, review *authenticationv1.TokenReview) (*authenticationv1.TokenReview, error)

// Reviewer asks the API server who a token belongs to (TokenReview with
// the resolver's audience) and caches the answer by the token's SHA-256,
// for TTL and never past the token's exp. Concurrent reviews of one token
// share one request. It is the fallback of TokenVerifier while the
// issuer's keys cannot be read: a token it has not seen costs an API call,
// so those calls are bounded globally (Limit) and the cache in size
// (MaxEntries).
type Reviewer struct {
	Create   TokenReviewFunc
	Audience string
	// TTL is how long an authenticated review is reused (at most
	// MaxReviewTTL; zero or negative: not cached).
	TTL time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Observe, if set, counts reviews by result: cached, joined (waited
	// for a review in flight), authenticated, rejected or error.
	Observe func(result string)
	// Limit bounds the reviews made (not those answered from the cache):
	// beyond it a request answers 503 with Retry-After. Nil: no bound.
	Limit *rate.Limiter
	// MaxEntries bounds the cache; a full cache stores nothing new until
	// entries expire. Zero: DefaultMaxReviewEntries.
	MaxEntries int

	mu        sync.Mutex
	entries   map[[sha256.Size]byte]*reviewEntry
	lastSweep time.Time
}

type reviewEntry struct {
	// done is closed when the review is over; user, denial and err are
	// set before.
	done   chan struct{}
	user   authenticationv1.UserInfo
	denial *Denial
	err    error
	// stored: the answer is kept until expires (under Reviewer.mu).
	stored  bool
	expires time.Time
}

// reviewTimeout bounds one TokenReview, which every request waiting for it
// shares: it is not cancelled when the request that started it gives up.
const reviewTimeout = 10 * time.Second

// Review returns the user a token authenticates as for the resolver's
// audience, a 401 Denial when it does not, or another error when the API
// server could not say (the caller answers 503). expiry is the token's exp.
func (r *Reviewer) Review(ctx context.Context, token string, expiry time.Time) (authenticationv1.UserInfo, error) {
	key := sha256.Sum256([]byte(token))
	now := r.now()
	r.mu.Lock()
	if r.entries == nil {
		r.entries = map[[sha256.Size]byte]*reviewEntry{}
	}
	r.sweepLocked(now)
	e := r.entries[key]
	if e != nil && e.stored && now.Before(e.expires) {
		r.mu.Unlock()
		r.observe("cached")
		return e.user, denialOrNil(e.denial)
	}
	leader := e == nil || e.stored
	if leader && r.Limit != nil {
		if rv := r.Limit.ReserveN(now, 1); !rv.OK() || rv.DelayFrom(now) > 0 {
			wait := time.Second
			if rv.OK() {
				wait = rv.DelayFrom(now)
				rv.CancelAt(now)
			}
			r.mu.Unlock()
			r.observe("limited")
			d := deny(http.StatusServiceUnavailable, protocol.CodeAPIUnavailable, "too many tokens to review at once")
			d.RetryAfter = wait
			return authenticationv1.UserInfo{}, d
		}
	}
	if leader {
		e = &reviewEntry{done: make(chan struct{})}
		r.entries[key] = e
	}
	r.mu.Unlock()
	if leader {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), reviewTimeout)
		r.run(rctx, key, e, token, expiry)
		cancel()
	} else {
		r.observe("joined")
		select {
		case <-e.done:
		case <-ctx.Done():
			return authenticationv1.UserInfo{}, ctx.Err()
		}
	}
	if e.err != nil {
		return authenticationv1.UserInfo{}, e.err
	}
	return e.user, denialOrNil(e.denial)
}

// run makes the review and stores its answer until it expires: TTL for an
// authenticated token, negativeReviewTTL for a refused one, and never past
// the token's exp. A failed request is not stored.
func (r *Reviewer) run(ctx context.Context, key [sha256.Size]byte, e *reviewEntry, token string, tokenExpiry time.Time) {
	review, err := r.Create(ctx, &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: token, Audiences: []string{r.Audience}}})
	ttl := min(r.TTL, MaxReviewTTL)
	switch {
	case err != nil:
		e.err = fmt.Errorf("TokenReview: %w", err)
		r.observe("error")
	default:
		e.user, e.denial = Reviewed(review.Status, r.Audience)
		if e.denial != nil {
			ttl = negativeReviewTTL
			r.observe("rejected")
		} else {
			r.observe("authenticated")
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	close(e.done)
	e.expires = expiry(r.now(), ttl, tokenExpiry)
	if e.err == nil && e.expires.After(r.now()) && len(r.entries) <= r.maxEntries() {
		e.stored = true
	} else if r.entries[key] == e {
		delete(r.entries, key)
	}
}

// expiry is when a review made at now stops being reused: after ttl, and
// never after the token's own expiry.
func expiry(now time.Time, ttl time.Duration, tokenExpiry time.Time) time.Time {
	if ttl <= 0 {
		return now
	}
	t := now.Add(ttl)
	if tokenExpiry.Before(t) {
		return tokenExpiry
	}
	return t
}

// Reviewed decides on a TokenReview's status: authenticated, and for the
// resolver's audience (an API server that ignores spec.audiences answers
// with none, which is refused too).
func Reviewed(status authenticationv1.TokenReviewStatus, audience string) (authenticationv1.UserInfo, *Denial) {
	if !status.Authenticated {
		return authenticationv1.UserInfo{}, deny(http.StatusUnauthorized, protocol.CodeTokenRejected, "the API server did not authenticate the token")
	}
	if !slices.Contains(status.Audiences, audience) {
		return authenticationv1.UserInfo{}, deny(http.StatusUnauthorized, protocol.CodeTokenRejected, "the API server did not confirm the resolver's audience")
	}
	return status.User, nil
}

// sweepLocked drops expired entries, at most every MaxReviewTTL.
func (r *Reviewer) sweepLocked(now time.Time) {
	if now.Sub(r.lastSweep) < MaxReviewTTL {
		return
	}
	r.lastSweep = now
	for k, e := range r.entries {
		if e.stored && !now.Before(e.expires) {
			delete(r.entries, k)
		}
	}
}

func (r *Reviewer) maxEntries() int {
	if r.MaxEntries > 0 {
		return r.MaxEntries
	}
	return DefaultMaxReviewEntries
}

// Len is the number of reviews stored or in flight, for tests.
func (r *Reviewer) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.entries)
}

func (r *Reviewer) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Reviewer) observe(result string) {
	if r.Observe != nil {
		r.Observe(result)
	}
}

// denialOrNil keeps a nil *Denial from becoming a non-nil error.
func denialOrNil(d *Denial) error {
	if d == nil {
		return nil
	}
	return d
}
