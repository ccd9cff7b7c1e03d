package resolver

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Rate limit defaults, per namespace. The burst lets a 1,000-replica
// rollout start at once; the rate refills it in ten seconds. A flood from
// one pod costs little besides: its token review and its pod are cached,
// and Key Vault sees one read per object per refresh interval whatever the
// load.
const (
	DefaultRateLimit = 100
	DefaultRateBurst = 1000
)

// NamespaceLimiter is a token bucket per namespace.
type NamespaceLimiter struct {
	Rate  rate.Limit
	Burst int
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	mu        sync.Mutex
	buckets   map[string]*rate.Limiter
	lastSweep time.Time
}

// Allow takes a token from namespace's bucket. When it is empty it takes
// nothing and says how long until a token is back.
func (l *NamespaceLimiter) Allow(namespace string) (retryAfter time.Duration, ok bool) {
	now := time.Now()
	if l.Now != nil {
		now = l.Now()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buckets == nil {
		l.buckets = map[string]*rate.Limiter{}
	}
	l.sweepLocked(now)
	b := l.buckets[namespace]
	if b == nil {
		b = rate.NewLimiter(l.Rate, l.Burst)
		l.buckets[namespace] = b
	}
	r := b.ReserveN(now, 1)
	if !r.OK() { // a burst of 0 refuses everything
		return time.Minute, false
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return d, false
	}
	return 0, true
}

// sweepLocked forgets full buckets, which are as good as new, at most once
// a minute.
func (l *NamespaceLimiter) sweepLocked(now time.Time) {
	if now.Sub(l.lastSweep) < time.Minute {
		return
	}
	l.lastSweep = now
	for ns, b := range l.buckets {
		if b.TokensAt(now) >= float64(l.Burst) {
			delete(l.buckets, ns)
		}
	}
}
