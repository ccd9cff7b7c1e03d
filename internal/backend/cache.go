package backend

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Cache defaults.
const (
	// DefaultNegativeTTL is how long a not-found, forbidden or invalid answer
	// is reused: long enough that 500 pods starting against a missing object
	// cost one read, short enough that creating the object is noticed at once.
	DefaultNegativeTTL = 5 * time.Second
	// DefaultIdleTimeout is how long an entry nobody asks for is kept: more
	// than the default refresh interval (10 minutes), so objects the
	// controller refreshes stay, and the resolver's stay between rollouts.
	DefaultIdleTimeout = 30 * time.Minute
	// DefaultReadTimeout bounds one shared read (all its retries included).
	DefaultReadTimeout = 2 * time.Minute
)

// CacheOptions configure a Cache. The zero value gives the defaults.
type CacheOptions struct {
	// NegativeTTL is how long ErrNotFound, ErrForbidden and ErrInvalidObject
	// answers are reused (default DefaultNegativeTTL; negative: never).
	NegativeTTL time.Duration
	// IdleTimeout evicts entries no Get asked for in that long (default
	// DefaultIdleTimeout).
	IdleTimeout time.Duration
	// ReadTimeout bounds a shared read (default DefaultReadTimeout).
	ReadTimeout time.Duration
	// Now is the clock of ages and eviction (default time.Now).
	Now func() time.Time
	// Metrics counts hits, misses and joined reads; nil discards.
	Metrics CacheMetrics
	// Fold is the key a Ref is stored under: a backend whose names are
	// case-insensitive folds them, so both spellings share one read. Nil
	// keeps refs as they are.
	Fold func(Ref) Ref
}

// CacheMetrics receives how each Get was served. Implementations must be
// safe for concurrent use and must not block.
type CacheMetrics interface {
	CacheLookup(outcome CacheOutcome)
}

// CacheOutcome is how a Cache.Get was served, as a metric label.
type CacheOutcome string

// The cache outcomes.
const (
	// CacheHit: a stored successful read, younger than maxAge.
	CacheHit CacheOutcome = "hit"
	// CacheNegativeHit: a stored not-found, forbidden or invalid answer.
	CacheNegativeHit CacheOutcome = "negative_hit"
	// CacheMiss: this Get started a read.
	CacheMiss CacheOutcome = "miss"
	// CacheJoined: this Get waited for a read another Get had started.
	CacheJoined CacheOutcome = "joined"
)

type nopMetrics struct{}

func (nopMetrics) CacheLookup(CacheOutcome) {}

// Cache shares a backend's reads between every consumer of a process: the
// controller's AzureKeyVaultSecrets and the resolver's pods. It is keyed by
// (identity, Ref), the Ref folded by CacheOptions.Fold.
//
// Get returns a stored successful read younger than maxAge without a
// request. Otherwise one read is made however many callers want the object
// at once: later callers wait for the read in flight (single flight). A
// caller that gives up (its ctx ends) does not cancel the read for the
// others; the read is cancelled only when every caller waiting for it has
// given up.
//
// Failures are not stored, except ErrNotFound, ErrForbidden and
// ErrInvalidObject, which are reused for NegativeTTL. Such an answer also
// replaces a stored object: a deleted or disabled object is not served.
//
// Memory: an entry costs about 450 bytes (measured with 20-character
// names) plus its value: secrets are usually under 100 bytes, certificates
// 2-10 KB, so 10,000 certificates of 4 KB take about 45 MB. Entries no Get asked for in IdleTimeout
// are dropped (checked during Get, at most every IdleTimeout/4).
//
// Get returns a copy of Value, so callers may change it; PublicKey is
// shared and must be treated as read-only.
type Cache struct {
	fetcher     Fetcher
	identity    string
	negativeTTL time.Duration
	idleTimeout time.Duration
	readTimeout time.Duration
	now         func() time.Time
	metrics     CacheMetrics
	fold        func(Ref) Ref

	mu        sync.Mutex
	entries   map[cacheKey]*cacheEntry
	lastSweep time.Time
}

type cacheKey struct {
	identity string
	ref      Ref
}

type cacheEntry struct {
	// obj or err is the last stored answer, read at readAt; neither is set
	// before the first answer worth storing.
	obj      Object
	err      error
	stored   bool
	readAt   time.Time
	lastUsed time.Time
	flight   *flight
}

// flight is one read in progress and the callers waiting for it.
type flight struct {
	done    chan struct{}
	obj     Object
	err     error
	waiters int
	cancel  context.CancelFunc
}

// NewCache returns a Cache reading through f.
func NewCache(f Fetcher, o CacheOptions) *Cache {
	c := &Cache{
		fetcher:     f,
		identity:    f.Identity(),
		negativeTTL: o.NegativeTTL,
		idleTimeout: o.IdleTimeout,
		readTimeout: o.ReadTimeout,
		now:         o.Now,
		metrics:     o.Metrics,
		fold:        o.Fold,
		entries:     map[cacheKey]*cacheEntry{},
	}
	if c.negativeTTL == 0 {
		c.negativeTTL = DefaultNegativeTTL
	}
	if c.idleTimeout <= 0 {
		c.idleTimeout = DefaultIdleTimeout
	}
	if c.readTimeout <= 0 {
		c.readTimeout = DefaultReadTimeout
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.metrics == nil {
		c.metrics = nopMetrics{}
	}
	if c.fold == nil {
		c.fold = func(r Ref) Ref { return r }
	}
	c.lastSweep = c.now()
	return c
}

// Get returns ref's object as read no longer than maxAge ago, reading it if
// needed. maxAge <= 0 never uses a stored answer (but joins a read already
// in flight). It is a Source.
func (c *Cache) Get(ctx context.Context, ref Ref, maxAge time.Duration) (Object, error) {
	k := c.key(ref)
	now := c.now()

	c.mu.Lock()
	c.sweepLocked(now)
	e := c.entries[k]
	if e == nil {
		e = &cacheEntry{}
		c.entries[k] = e
	}
	e.lastUsed = now
	if e.stored {
		age := now.Sub(e.readAt)
		if e.err == nil && age < maxAge {
			obj := e.obj
			c.mu.Unlock()
			c.metrics.CacheLookup(CacheHit)
			return obj.forCaller(ref), nil
		}
		if e.err != nil && age < min(maxAge, c.negativeTTL) {
			err := e.err
			c.mu.Unlock()
			c.metrics.CacheLookup(CacheNegativeHit)
			return Object{}, err
		}
	}
	f := e.flight
	outcome := CacheJoined
	if f == nil {
		outcome = CacheMiss
		f = c.startLocked(ctx, k, e, now)
	}
	f.waiters++
	c.mu.Unlock()
	c.metrics.CacheLookup(outcome)

	select {
	case <-f.done:
		if f.err != nil {
			return Object{}, f.err
		}
		return f.obj.forCaller(ref), nil
	case <-ctx.Done():
		c.leave(k, f)
		return Object{}, ctx.Err()
	}
}

// key is ref's entry, ref folded as its backend compares names.
func (c *Cache) key(ref Ref) cacheKey {
	return cacheKey{identity: c.identity, ref: c.fold(ref)}
}

// forCaller is a stored object as one caller gets it: its own Ref, and its
// own copy of Value.
func (o Object) forCaller(ref Ref) Object {
	o.Ref = ref
	if o.Value != nil {
		o.Value = append([]byte(nil), o.Value...)
	}
	return o
}

// startLocked starts the read of k. Its context keeps the first caller's
// values (for tracing) but not its cancellation: the read belongs to every
// caller that joins it.
func (c *Cache) startLocked(ctx context.Context, k cacheKey, e *cacheEntry, started time.Time) *flight {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.readTimeout)
	f := &flight{done: make(chan struct{}), cancel: cancel}
	e.flight = f
	go c.run(rctx, k, f, started)
	return f
}

// run makes the read and stores its answer. The age of a stored answer
// counts from when the read started, which errs towards reading again.
func (c *Cache) run(ctx context.Context, k cacheKey, f *flight, started time.Time) {
	obj, err := c.fetcher.Read(ctx, k.ref)
	f.cancel()
	c.mu.Lock()
	if e := c.entries[k]; e != nil && e.flight == f {
		e.flight = nil
		switch {
		case err == nil:
			e.obj, e.err, e.stored, e.readAt = obj, nil, true, started
		case c.negativeTTL > 0 && negative(err):
			e.obj, e.err, e.stored, e.readAt = Object{}, err, true, started
		}
	}
	f.obj, f.err = obj, err
	c.mu.Unlock()
	close(f.done)
}

// leave takes a caller that gave up off f, cancelling f when it was the
// last one. A cancelled flight is detached at once, so the next Get starts
// a fresh read instead of joining one that is about to fail.
func (c *Cache) leave(k cacheKey, f *flight) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f.waiters--
	if f.waiters > 0 {
		return
	}
	if e := c.entries[k]; e != nil && e.flight == f {
		e.flight = nil
	}
	f.cancel()
}

// negative reports whether err is an answer about the object itself, worth
// reusing for a short while.
func negative(err error) bool {
	return errors.Is(err, ErrNotFound) || errors.Is(err, ErrForbidden) || errors.Is(err, ErrInvalidObject)
}

// sweepLocked drops entries idle for longer than idleTimeout, at most every
// idleTimeout/4.
func (c *Cache) sweepLocked(now time.Time) {
	if now.Sub(c.lastSweep) < c.idleTimeout/4 {
		return
	}
	c.lastSweep = now
	for k, e := range c.entries {
		if e.flight == nil && now.Sub(e.lastUsed) > c.idleTimeout {
			delete(c.entries, k)
		}
	}
}

// Len is the number of entries, for tests and metrics.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
