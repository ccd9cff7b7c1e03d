package envexec_test

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/internal/envexec"
)

// getenvOf is a getenv over "NAME=value" pairs.
func getenvOf(kv ...string) func(string) string { return envexec.Getenv(kv) }

func TestConfigFromEnv(t *testing.T) {
	def := envexec.Config{LogLevel: slog.LevelInfo, LogFormat: "text", Retry: envexec.RetryPolicy{Retries: 3, Wait: 3 * time.Second}}
	with := func(f func(*envexec.Config)) envexec.Config {
		c := def
		f(&c)
		return c
	}
	tests := []struct {
		name string
		env  []string
		want envexec.Config
		warn string // a warning must name this variable
	}{
		{"defaults", nil, def, ""},
		{"akv2k8s's defaults spelt out", []string{"ENV_INJECTOR_LOG_LEVEL=Info", "ENV_INJECTOR_LOG_FORMAT=fmt", "ENV_INJECTOR_RETRIES=3", "ENV_INJECTOR_WAIT_BEFORE_RETRY=3"}, def, ""},
		{"debug json", []string{"ENV_INJECTOR_LOG_LEVEL=debug", "ENV_INJECTOR_LOG_FORMAT=JSON"}, with(func(c *envexec.Config) { c.LogLevel, c.LogFormat = slog.LevelDebug, "json" }), ""},
		{"trace is debug", []string{"ENV_INJECTOR_LOG_LEVEL=trace"}, with(func(c *envexec.Config) { c.LogLevel = slog.LevelDebug }), ""},
		{"warning", []string{"ENV_INJECTOR_LOG_LEVEL=warning"}, with(func(c *envexec.Config) { c.LogLevel = slog.LevelWarn }), ""},
		{"fatal is error", []string{"ENV_INJECTOR_LOG_LEVEL=fatal"}, with(func(c *envexec.Config) { c.LogLevel = slog.LevelError }), ""},
		{"text", []string{"ENV_INJECTOR_LOG_FORMAT=text"}, def, ""},
		{"unknown level", []string{"ENV_INJECTOR_LOG_LEVEL=loud"}, def, "ENV_INJECTOR_LOG_LEVEL"},
		{"unknown format", []string{"ENV_INJECTOR_LOG_FORMAT=xml"}, def, "ENV_INJECTOR_LOG_FORMAT"},
		{"no retries", []string{"ENV_INJECTOR_RETRIES=0"}, with(func(c *envexec.Config) { c.Retry.Retries = 0 }), ""},
		{"ten retries", []string{"ENV_INJECTOR_RETRIES= 10 "}, with(func(c *envexec.Config) { c.Retry.Retries = 10 }), ""},
		{"negative retries", []string{"ENV_INJECTOR_RETRIES=-1"}, def, "ENV_INJECTOR_RETRIES"},
		{"too many retries", []string{"ENV_INJECTOR_RETRIES=1000"}, def, "ENV_INJECTOR_RETRIES"},
		{"retries not a number", []string{"ENV_INJECTOR_RETRIES=three"}, def, "ENV_INJECTOR_RETRIES"},
		{"wait in seconds (akv2k8s)", []string{"ENV_INJECTOR_WAIT_BEFORE_RETRY=10"}, with(func(c *envexec.Config) { c.Retry.Wait = 10 * time.Second }), ""},
		{"wait as a duration", []string{"ENV_INJECTOR_WAIT_BEFORE_RETRY=500ms"}, with(func(c *envexec.Config) { c.Retry.Wait = 500 * time.Millisecond }), ""},
		{"no wait", []string{"ENV_INJECTOR_WAIT_BEFORE_RETRY=0"}, with(func(c *envexec.Config) { c.Retry.Wait = 0 }), ""},
		{"fractional seconds", []string{"ENV_INJECTOR_WAIT_BEFORE_RETRY=1.5"}, def, "ENV_INJECTOR_WAIT_BEFORE_RETRY"},
		{"negative wait", []string{"ENV_INJECTOR_WAIT_BEFORE_RETRY=-1s"}, def, "ENV_INJECTOR_WAIT_BEFORE_RETRY"},
		{"direct mode", []string{"ENV_INJECTOR_DISABLE_AUTH_SERVICE=true"}, with(func(c *envexec.Config) { c.DirectMode = true }), ""},
		{"direct mode TRUE", []string{"ENV_INJECTOR_DISABLE_AUTH_SERVICE=TRUE"}, with(func(c *envexec.Config) { c.DirectMode = true }), ""},
		{"direct mode off", []string{"ENV_INJECTOR_DISABLE_AUTH_SERVICE=false"}, def, ""},
		{"direct mode garbled", []string{"ENV_INJECTOR_DISABLE_AUTH_SERVICE=yes please"}, def, "ENV_INJECTOR_DISABLE_AUTH_SERVICE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, warnings := envexec.ConfigFromEnv(getenvOf(tt.env...))
			if got != tt.want {
				t.Errorf("ConfigFromEnv = %+v, want %+v", got, tt.want)
			}
			all := strings.Join(warnings, "\n")
			switch {
			case tt.warn == "" && len(warnings) > 0:
				t.Errorf("unexpected warnings: %q", warnings)
			case tt.warn != "" && (len(warnings) != 1 || !strings.Contains(all, tt.warn)):
				t.Errorf("warnings = %q, want one naming %s", warnings, tt.warn)
			}
			for _, kv := range tt.env {
				if _, v, _ := strings.Cut(kv, "="); tt.warn != "" && v != "" && strings.Contains(all, v) {
					t.Errorf("warning %q repeats the setting's value %q", all, v)
				}
			}
		})
	}
}

func TestGetenv(t *testing.T) {
	getenv := envexec.Getenv([]string{"A=1", "B=", "A=2", "C=x=y", "D"})
	for k, want := range map[string]string{"A": "1", "B": "", "C": "x=y", "D": "", "E": ""} {
		if got := getenv(k); got != want {
			t.Errorf("getenv(%q) = %q, want %q", k, got, want)
		}
	}
}
