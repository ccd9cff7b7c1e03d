package keyvault

import (
	"context"
	"errors"
	"time"

	"github.com/latchkey-dev/latchkey/internal/backend"
)

// Metrics receives what this package measures. The kvmetrics package
// implements it with Prometheus; the core package stays free of it so the
// in-container binary does not link it. Implementations must be safe for
// concurrent use and must not block.
type Metrics interface {
	// RequestDone records one data-plane request sent to Key Vault (retries
	// inside the SDK included in its duration).
	RequestDone(vault string, kind Kind, result Result, d time.Duration)
	// RequestRejected records a read refused without a request because Key
	// Vault throttled the vault and its pause is still running.
	RequestRejected(vault string)
	// VaultPaused records a 429 that paused the vault for d.
	VaultPaused(vault string, d time.Duration)
	// CacheLookup records how one Cache.Get was served.
	CacheLookup(outcome CacheOutcome)
}

// Result is the outcome of a request, as a metric label.
type Result string

// The results.
const (
	ResultOK             Result = "ok"
	ResultNotFound       Result = "not_found"
	ResultForbidden      Result = "forbidden"
	ResultAuthentication Result = "authentication"
	ResultThrottled      Result = "throttled"
	ResultUnavailable    Result = "unavailable"
	ResultInvalidObject  Result = "invalid_object"
	ResultCanceled       Result = "canceled"
)

// ResultOf labels an error returned by this package.
func ResultOf(err error) Result {
	switch {
	case err == nil:
		return ResultOK
	case errors.Is(err, ErrNotFound):
		return ResultNotFound
	case errors.Is(err, ErrForbidden):
		return ResultForbidden
	case errors.Is(err, ErrAuthentication):
		return ResultAuthentication
	case errors.Is(err, ErrThrottled):
		return ResultThrottled
	case errors.Is(err, ErrInvalidObject):
		return ResultInvalidObject
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return ResultCanceled
	}
	return ResultUnavailable
}

// CacheOutcome is how a Cache.Get was served, as a metric label.
type CacheOutcome = backend.CacheOutcome

// The cache outcomes.
const (
	CacheHit         = backend.CacheHit
	CacheNegativeHit = backend.CacheNegativeHit
	CacheMiss        = backend.CacheMiss
	CacheJoined      = backend.CacheJoined
)

// nopMetrics discards everything.
type nopMetrics struct{}

func (nopMetrics) RequestDone(string, Kind, Result, time.Duration) {}
func (nopMetrics) RequestRejected(string)                          {}
func (nopMetrics) VaultPaused(string, time.Duration)               {}
func (nopMetrics) CacheLookup(CacheOutcome)                        {}
