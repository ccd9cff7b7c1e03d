package keyvault

import (
	"errors"
	"fmt"
	"time"
)

// Classes of failure, matched with errors.Is. Callers decide what to tell the
// user and when to retry from the class alone.
var (
	// ErrNotFound: the vault has no such object or version.
	ErrNotFound = errors.New("not found")
	// ErrForbidden: the identity may not read the object, or it is disabled.
	ErrForbidden = errors.New("forbidden")
	// ErrAuthentication: no token could be obtained (wrong or missing credentials).
	ErrAuthentication = errors.New("authentication failed")
	// ErrThrottled: Key Vault answered 429; RetryAfter says how long to wait.
	ErrThrottled = errors.New("throttled")
	// ErrUnavailable: Key Vault could not be reached or failed (5xx, network).
	ErrUnavailable = errors.New("unavailable")
	// ErrInvalidObject: the object was read but cannot be used (e.g. a
	// certificate whose backing secret does not parse).
	ErrInvalidObject = errors.New("invalid object")
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

// RetryAfter returns how long Key Vault asked callers to wait, if it did.
func RetryAfter(err error) (time.Duration, bool) {
	var e *Error
	if errors.As(err, &e) && e.RetryAfter > 0 {
		return e.RetryAfter, true
	}
	return 0, false
}
