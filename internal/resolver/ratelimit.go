package resolver

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/latchkey-dev/latchkey/internal/resolver/protocol"
)

// Rate limit defaults, per namespace. A rollout reaches the resolver no
// faster than kube-scheduler binds its pods (its default client budget is
// 50 requests a second, burst 100, one binding per pod), and each pod asks
// once per rewritten container: 100 a second with a burst of 200 lets a
// rollout of any size through without a refusal. Pods beyond the burst
// (500 created and bound at once) get 429 with Retry-After; the binary
// waits and asks again, and the shared cache answers its retry without
// another Key Vault read. A namespace that floods gets no more than this
// share of the resolver and of the API server's budget.
const (
	DefaultRateLimit = 100
	DefaultRateBurst = 200
)

// DefaultMaxInFlight bounds the authenticated requests one replica handles
// at once (each holds at most protocol.MaxRequestBytes of body); up to
// four times as many wait for a slot, the rest answer 503.
const DefaultMaxInFlight = 256

// InFlight bounds the requests handled at once. A nil *InFlight bounds
// nothing.
type InFlight struct {
	slots      chan struct{}
	waiting    atomic.Int64
	maxWaiting int64
	// Gauge, if set, follows the requests handled.
	Gauge prometheus.Gauge
}

// NewInFlight handles max requests at once and lets 4×max wait.
func NewInFlight(max int) *InFlight {
	return &InFlight{slots: make(chan struct{}, max), maxWaiting: 4 * int64(max)}
}

// Acquire waits for a slot until ctx ends; with too many waiting already it
// answers 503 at once. release gives the slot back.
func (f *InFlight) Acquire(ctx context.Context) (release func(), err error) {
	if f == nil {
		return func() {}, nil
	}
	select {
	case f.slots <- struct{}{}:
	default:
		if f.waiting.Add(1) > f.maxWaiting {
			f.waiting.Add(-1)
			d := deny(http.StatusServiceUnavailable, protocol.CodeAPIUnavailable, "the resolver is busy")
			d.RetryAfter = time.Second
			return nil, d
		}
		select {
		case f.slots <- struct{}{}:
			f.waiting.Add(-1)
		case <-ctx.Done():
			f.waiting.Add(-1)
			return nil, ctx.Err()
		}
	}
	if f.Gauge != nil {
		f.Gauge.Inc()
	}
	return func() {
		if f.Gauge != nil {
			f.Gauge.Dec()
		}
		<-f.slots
	}, nil
}

// Len is the number of requests handled now.
func (f *InFlight) Len() int { return len(f.slots) }

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
