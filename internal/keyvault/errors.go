package keyvault

import (
	"fmt"
	"net/http"
	"time"

	"github.com/latchkey-dev/latchkey/internal/backend"
)

// Classes of failure, matched with errors.Is: the backend's, which every
// Key Vault failure wraps.
var (
	// ErrNotFound: the vault has no such object or version.
	ErrNotFound = backend.ErrNotFound
	// ErrForbidden: the identity may not read the object, or it is disabled.
	ErrForbidden = backend.ErrForbidden
	// ErrAuthentication: no token could be obtained (wrong or missing credentials).
	ErrAuthentication = backend.ErrAuthentication
	// ErrThrottled: Key Vault answered 429; RetryAfter says how long to wait.
	ErrThrottled = backend.ErrThrottled
	// ErrUnavailable: Key Vault could not be reached or failed (5xx, network).
	ErrUnavailable = backend.ErrUnavailable
	// ErrInvalidObject: the object was read but cannot be used (e.g. a
	// certificate whose backing secret does not parse).
	ErrInvalidObject = backend.ErrInvalidObject
)

// Error is a failed read. Its message names the object and the class and,
// when Key Vault or Entra ID answered, their status and error code; it never
// carries a response body, a token or a value.
type Error struct {
	Ref   Ref
	Class error
	// Status and Code are Key Vault's (or Entra ID's) answer, when there was one.
	Status int
	Code   string
	// RetryAfter is Key Vault's Retry-After, for ErrThrottled.
	RetryAfter time.Duration
	// Detail is a short explanation of our own, safe to show.
	Detail string
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("Key Vault %s: %v", e.Ref, e.Class)
	switch {
	case e.Status != 0 && e.Code != "":
		msg += fmt.Sprintf(" (%d %s)", e.Status, e.Code)
	case e.Status != 0:
		msg += fmt.Sprintf(" (%d)", e.Status)
	case e.Code != "":
		msg += fmt.Sprintf(" (%s)", e.Code)
	}
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	return msg
}

// Unwrap makes errors.Is(err, ErrNotFound) and the like work.
func (e *Error) Unwrap() error { return e.Class }

// RetryDelay is Key Vault's Retry-After, for backend.RetryAfter.
func (e *Error) RetryDelay() time.Duration { return e.RetryAfter }

// Transient reports whether Key Vault or Entra ID answered 429 or 5xx:
// then even an ErrAuthentication may clear by waiting.
func (e *Error) Transient() bool {
	return e.Status == http.StatusTooManyRequests || e.Status >= http.StatusInternalServerError
}

// RetryAfter returns how long Key Vault asked callers to wait, if it did.
func RetryAfter(err error) (time.Duration, bool) { return backend.RetryAfter(err) }
