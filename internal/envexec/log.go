package envexec

import (
	"context"
	"errors"
	"io"
	"log/slog"
)

// logFailure logs one line per variable error, or one for anything else.
func logFailure(ctx context.Context, log *slog.Logger, err error) {
	if err == nil {
		return
	}
	var se *SignalError
	if errors.As(err, &se) {
		log.LogAttrs(ctx, slog.LevelWarn, "stopped before the program started", slog.String("signal", se.Signal.String()))
		return
	}
	vars := varErrors(err)
	if len(vars) == 0 {
		log.LogAttrs(ctx, slog.LevelError, "cannot start the program: "+err.Error(), slog.String("reason", Reason(err)))
		return
	}
	for _, ve := range vars {
		log.LogAttrs(ctx, slog.LevelError, "cannot start the program: "+ve.Error(),
			slog.Any("variables", ve.Vars), slog.Any("azureKeyVaultSecrets", ve.AKVS), slog.String("reason", Reason(ve.Err)))
	}
}

// varErrors finds the *VarErrors in err's tree, through errors.Join.
func varErrors(err error) []*VarError {
	switch u := err.(type) { //nolint:errorlint // walking the tree, not matching
	case *VarError:
		return []*VarError{u}
	case interface{ Unwrap() []error }:
		var out []*VarError
		for _, e := range u.Unwrap() {
			out = append(out, varErrors(e)...)
		}
		return out
	case interface{ Unwrap() error }:
		return varErrors(u.Unwrap())
	}
	return nil
}

// NewLogger is the binary's logger: slog to w at level, "text" (akv2k8s's
// "fmt") or "json", every line marked logger=latchkey-env so it stands
// apart from the program's own output on the container's stderr.
func NewLogger(w io.Writer, level slog.Level, format string) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if format == LogFormatJSON {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(h).With(slog.String("logger", "latchkey-env"))
}
