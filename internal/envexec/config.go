package envexec

import (
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/latchkey-dev/latchkey/internal/podcontract"
)

// Environment variables only the binary reads: akv2k8s's, which users
// hard-code; they stay in the program's environment. The variables the
// webhook writes, and ENV_INJECTOR_DISABLE_AUTH_SERVICE, are the pod
// contract's (internal/podcontract).
const (
	EnvLogLevel        = "ENV_INJECTOR_LOG_LEVEL"
	EnvLogFormat       = "ENV_INJECTOR_LOG_FORMAT"
	EnvRetries         = "ENV_INJECTOR_RETRIES"
	EnvWaitBeforeRetry = "ENV_INJECTOR_WAIT_BEFORE_RETRY"
)

// Defaults, akv2k8s's.
const (
	DefaultRetries         = 3
	DefaultWaitBeforeRetry = 3 * time.Second
)

// Log formats. akv2k8s called the text format "fmt".
const (
	LogFormatText = "text"
	LogFormatJSON = "json"
)

// Config is what the binary reads from the ENV_INJECTOR_* variables.
type Config struct {
	LogLevel  slog.Level
	LogFormat string
	Retry     RetryPolicy
	// DirectMode is ENV_INJECTOR_DISABLE_AUTH_SERVICE=true: read Key Vault
	// with the container's own credentials even when a resolver is configured.
	DirectMode bool
}

// ConfigFromEnv reads the configuration through getenv. A malformed
// setting does not stop the program, as in akv2k8s: it gets its default
// and a warning for the log (naming the variable, never repeating what it
// holds).
func ConfigFromEnv(getenv func(string) string) (Config, []string) {
	c := Config{LogLevel: slog.LevelInfo, LogFormat: LogFormatText, Retry: RetryPolicy{Retries: DefaultRetries, Wait: DefaultWaitBeforeRetry}}
	var warnings []string
	warn := func(name, want string, def any) {
		warnings = append(warnings, fmt.Sprintf("%s is not %s; using %v", name, want, def))
	}
	if v := getenv(EnvLogLevel); v != "" {
		if l, ok := parseLevel(v); ok {
			c.LogLevel = l
		} else {
			warn(EnvLogLevel, "one of trace, debug, info, warn, error", "info")
		}
	}
	switch v := strings.ToLower(strings.TrimSpace(getenv(EnvLogFormat))); v {
	case "", LogFormatText, "fmt":
	case LogFormatJSON:
		c.LogFormat = LogFormatJSON
	default:
		warn(EnvLogFormat, "text (or akv2k8s's fmt) or json", LogFormatText)
	}
	if v := strings.TrimSpace(getenv(EnvRetries)); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n >= 0 && n <= maxRetries {
			c.Retry.Retries = n
		} else {
			warn(EnvRetries, fmt.Sprintf("a whole number from 0 to %d", maxRetries), DefaultRetries)
		}
	}
	if v := strings.TrimSpace(getenv(EnvWaitBeforeRetry)); v != "" {
		if d, ok := parseWait(v); ok {
			c.Retry.Wait = d
		} else {
			warn(EnvWaitBeforeRetry, "whole seconds or a duration such as 500ms", DefaultWaitBeforeRetry)
		}
	}
	if v := strings.TrimSpace(getenv(podcontract.EnvDisableAuthService)); v != "" {
		if _, err := strconv.ParseBool(v); err != nil {
			warn(podcontract.EnvDisableAuthService, "true or false", false)
		}
		c.DirectMode = podcontract.IsDirectMode(v)
	}
	return c, warnings
}

// maxRetries bounds ENV_INJECTOR_RETRIES: doubling waits make more
// retries than this a container that never starts.
const maxRetries = 100

// parseLevel accepts logrus's level names, which akv2k8s users set:
// trace and debug are debug; panic and fatal are error.
func parseLevel(s string) (slog.Level, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "trace", "debug":
		return slog.LevelDebug, true
	case "info":
		return slog.LevelInfo, true
	case "warn", "warning":
		return slog.LevelWarn, true
	case "error", "fatal", "panic":
		return slog.LevelError, true
	}
	return 0, false
}

// parseWait reads ENV_INJECTOR_WAIT_BEFORE_RETRY: whole seconds, as akv2k8s
// read it, or a Go duration.
func parseWait(s string) (time.Duration, bool) {
	if n, err := strconv.ParseUint(s, 10, 32); err == nil {
		return time.Duration(n) * time.Second, true
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, false
	}
	return d, true
}
