package envexec

import (
	"errors"
	"net/http"
	"time"

	"github.com/latchkey-dev/latchkey/internal/keyvault"
)

// maxWait caps the doubling wait between retries (a longer Retry-After is
// still honoured, up to keyvault.MaxThrottlePause).
const maxWait = time.Minute

// RetryPolicy is ENV_INJECTOR_RETRIES and ENV_INJECTOR_WAIT_BEFORE_RETRY:
// a read that fails for a transient reason is tried again up to Retries
// times, after Wait, then twice that, and so on, as akv2k8s did.
type RetryPolicy struct {
	Retries int
	Wait    time.Duration
}

// Delay decides, after the failed attempt-th read (1 for the first), whether
// to try again and after how long. Only transient failures are retried; the
// wait is Backoff's, or Key Vault's Retry-After when that is longer.
func (p RetryPolicy) Delay(attempt int, err error) (time.Duration, bool) {
	if !Transient(err) {
		return 0, false
	}
	d, ok := p.Backoff(attempt)
	if !ok {
		return 0, false
	}
	if ra, ok := keyvault.RetryAfter(err); ok && ra > d {
		d = ra
	}
	return d, true
}

// Backoff says, after the attempt-th failure (1 for the first), whether a
// retry is left and how long to wait before it: Wait·2^(attempt-1), capped
// at a minute (or Wait, if longer).
func (p RetryPolicy) Backoff(attempt int) (time.Duration, bool) {
	if attempt > p.Retries {
		return 0, false
	}
	d := p.Wait
	for i := 1; i < attempt && d < maxWait; i++ {
		d *= 2
	}
	if d > maxWait && p.Wait < maxWait {
		d = maxWait
	}
	return d, true
}

// Transient reports whether err may go away by itself: Key Vault
// unavailable (5xx, network, timeouts) or throttling, and a sign-in that
// Entra ID or the managed-identity endpoint answered with 429 or 5xx. Not
// found, forbidden, refused credentials and unusable objects fail at once:
// waiting will not change them.
func Transient(err error) bool {
	if errors.Is(err, keyvault.ErrUnavailable) || errors.Is(err, keyvault.ErrThrottled) {
		return true
	}
	var e *keyvault.Error
	if errors.Is(err, keyvault.ErrAuthentication) && errors.As(err, &e) {
		return e.Status == http.StatusTooManyRequests || e.Status >= http.StatusInternalServerError
	}
	return false
}
