package envexec

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"syscall"
)

// Exit codes of `latchkey-env run`. Once the program is exec'd, its own
// exit code is the container's.
const (
	// ExitFailure: a placeholder could not be resolved, or the
	// configuration (LATCHKEY_REFS, AZURE_*) is unusable.
	ExitFailure = 1
	// ExitUsage: the command line is wrong.
	ExitUsage = 2
	// ExitCannotRun: the program was found but the exec failed (not
	// executable, wrong format), as in shells.
	ExitCannotRun = 126
	// ExitNotFound: the program is not on the PATH, as in shells.
	ExitNotFound = 127
	// A signal that stops the binary before the exec gives 128 + its number.
)

// ExitError is a failure with the exit code it calls for.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }

// Unwrap returns the failure.
func (e *ExitError) Unwrap() error { return e.Err }

// SignalError is the binary being told to stop (SIGTERM, SIGINT) before
// it could exec the program. It is a cancellation.
type SignalError struct{ Signal syscall.Signal }

func (e *SignalError) Error() string { return "stopped by signal " + e.Signal.String() }

// Unwrap makes errors.Is(err, context.Canceled) true.
func (e *SignalError) Unwrap() error { return context.Canceled }

// ExitCode is the exit code for Run's or Install's result: 0 for nil, an
// ExitError's code, 128 + the signal for a SignalError, else ExitFailure.
func ExitCode(err error) int {
	var ee *ExitError
	var se *SignalError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &se):
		return 128 + int(se.Signal)
	case errors.As(err, &ee):
		return ee.Code
	}
	return ExitFailure
}

// NotifyContext returns a context cancelled, with a *SignalError as its
// cause, when the process receives SIGTERM or SIGINT, so that a pod deleted
// while its container waits for Key Vault stops at once. stop releases the
// signals. The exec resets their handling, so the program sees its own
// signals.
func NotifyContext(parent context.Context) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancelCause(parent)
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		select {
		case s := <-ch:
			if sig, ok := s.(syscall.Signal); ok {
				cancel(&SignalError{Signal: sig})
			}
		case <-ctx.Done():
		}
	}()
	return ctx, func() {
		signal.Stop(ch)
		cancel(nil)
	}
}
