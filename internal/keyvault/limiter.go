package keyvault

import (
	"context"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limiter defaults. Key Vault allows about 4,000 GETs per 10 s per vault
// (shared by every client of the vault) and answers 429 with Retry-After
// beyond that. 200/s with a burst of 1,000 is at most 3,000 per 10 s, leaving
// the rest to other clients, and reads 1,000 new objects without waiting.
const (
	DefaultVaultRate  = 200
	DefaultVaultBurst = 1000
	// DefaultThrottlePause is how long a vault pauses after a 429 without
	// Retry-After: Key Vault counts its limits over 10 s windows.
	DefaultThrottlePause = 10 * time.Second
	// MaxThrottlePause bounds a Retry-After, so a bad header cannot stop a
	// vault for hours.
	MaxThrottlePause = 5 * time.Minute
)

// LimiterOptions configure a Limiter. The zero value gives the defaults.
type LimiterOptions struct {
	// Rate is the sustained requests per second per vault (default
	// DefaultVaultRate; negative: unlimited).
	Rate float64
	// Burst is the bucket size per vault (default DefaultVaultBurst).
	Burst int
	// DefaultPause applies after a 429 without Retry-After (default
	// DefaultThrottlePause).
	DefaultPause time.Duration
	// Now is the clock of pauses (default time.Now). The token bucket itself
	// runs on real time: waiting for a token is a real wait.
	Now func() time.Time
}

// Limiter is a token bucket per vault, and a pause per vault after Key
// Vault throttles it: while a vault is paused, requests to it are not sent
// at all. It is safe for concurrent use; share one between every Reader of
// a process, since Key Vault's limit is per vault, not per identity.
type Limiter struct {
	rate         rate.Limit
	burst        int
	defaultPause time.Duration
	now          func() time.Time

	mu     sync.Mutex
	vaults map[string]*vaultLimit
}

type vaultLimit struct {
	bucket      *rate.Limiter
	pausedUntil time.Time // guarded by Limiter.mu
}

// NewLimiter returns a Limiter with o's settings.
func NewLimiter(o LimiterOptions) *Limiter {
	l := &Limiter{rate: rate.Limit(o.Rate), burst: o.Burst, defaultPause: o.DefaultPause, now: o.Now, vaults: map[string]*vaultLimit{}}
	switch {
	case o.Rate == 0:
		l.rate = DefaultVaultRate
	case o.Rate < 0:
		l.rate = rate.Inf
	}
	if l.burst <= 0 {
		l.burst = DefaultVaultBurst
	}
	if l.defaultPause <= 0 {
		l.defaultPause = DefaultThrottlePause
	}
	if l.now == nil {
		l.now = time.Now
	}
	return l
}

func (l *Limiter) vault(name string) *vaultLimit {
	l.mu.Lock()
	defer l.mu.Unlock()
	v, ok := l.vaults[name]
	if !ok {
		v = &vaultLimit{bucket: rate.NewLimiter(l.rate, l.burst)}
		l.vaults[name] = v
	}
	return v
}

// Acquire takes a token for one request to vault, waiting for it unless ctx
// ends first (then it returns ctx's error). If the vault is paused it
// returns at once with the pause remaining, and the request must not be sent.
func (l *Limiter) Acquire(ctx context.Context, vault string) (paused time.Duration, err error) {
	v := l.vault(vault)
	if d := l.remaining(v); d > 0 {
		return d, nil
	}
	r := v.bucket.Reserve()
	if d := r.Delay(); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			r.Cancel()
			return 0, ctx.Err()
		}
	}
	// A 429 may have arrived while this request waited for its token.
	if d := l.remaining(v); d > 0 {
		return d, nil
	}
	return 0, nil
}

// Pause stops requests to vault for d (DefaultPause when d <= 0, at most
// MaxThrottlePause); a longer pause already running is kept. It returns the
// pause now in force.
func (l *Limiter) Pause(vault string, d time.Duration) time.Duration {
	if d <= 0 {
		d = l.defaultPause
	}
	d = min(d, MaxThrottlePause)
	v := l.vault(vault)
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if until := now.Add(d); until.After(v.pausedUntil) {
		v.pausedUntil = until
	}
	return v.pausedUntil.Sub(now)
}

func (l *Limiter) remaining(v *vaultLimit) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if d := v.pausedUntil.Sub(l.now()); d > 0 {
		return d
	}
	return 0
}
