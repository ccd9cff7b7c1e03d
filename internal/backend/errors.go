package backend

import (
	"errors"
	"time"
)

// Classes of failure, matched with errors.Is. Every backend wraps its
// failures in one of them; callers decide what to tell the user and when to
// retry from the class alone. The messages are the ones Key Vault's errors
// always had, so conditions and answers read as before.
var (
	// ErrNotFound: the store has no such object or version.
	ErrNotFound = errors.New("not found")
	// ErrForbidden: the identity may not read the object, or it is disabled.
	ErrForbidden = errors.New("forbidden")
	// ErrAuthentication: no credential could be obtained.
	ErrAuthentication = errors.New("authentication failed")
	// ErrThrottled: the store asked us to slow down; RetryAfter says how long.
	ErrThrottled = errors.New("throttled")
	// ErrUnavailable: the store could not be reached or failed.
	ErrUnavailable = errors.New("unavailable")
	// ErrInvalidObject: the object was read but cannot be used.
	ErrInvalidObject = errors.New("invalid object")
)

// RetryAfter returns how long the store asked callers to wait, if it did:
// an error in the chain with a RetryDelay method says so.
func RetryAfter(err error) (time.Duration, bool) {
	var d interface{ RetryDelay() time.Duration }
	if errors.As(err, &d) && d.RetryDelay() > 0 {
		return d.RetryDelay(), true
	}
	return 0, false
}

// Transient reports whether a failure may clear by waiting although its
// class alone does not say so: an ErrAuthentication whose identity
// provider was throttled or failing, told by an error in the chain with a
// Transient method.
func Transient(err error) bool {
	var t interface{ Transient() bool }
	return errors.As(err, &t) && t.Transient()
}
