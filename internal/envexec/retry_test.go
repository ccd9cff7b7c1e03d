package envexec_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/internal/envexec"
	"github.com/latchkey-dev/latchkey/internal/keyvault"
	"github.com/latchkey-dev/latchkey/internal/output"
	"github.com/latchkey-dev/latchkey/internal/podcontract"
)

func kvErr(class error, status int, retryAfter time.Duration) error {
	return &keyvault.Error{Ref: keyvault.Ref{Backend: keyvault.Backend, Store: "kv", Kind: keyvault.KindSecret, Name: "s"}, Class: class, Status: status, RetryAfter: retryAfter}
}

func TestRetryPolicyDelay(t *testing.T) {
	p := envexec.RetryPolicy{Retries: 3, Wait: 3 * time.Second}
	unavailable := kvErr(keyvault.ErrUnavailable, 503, 0)
	tests := []struct {
		name    string
		policy  envexec.RetryPolicy
		attempt int
		err     error
		want    time.Duration
		again   bool
	}{
		{"unavailable, first failure", p, 1, unavailable, 3 * time.Second, true},
		{"unavailable, second failure doubles", p, 2, unavailable, 6 * time.Second, true},
		{"unavailable, third failure", p, 3, unavailable, 12 * time.Second, true},
		{"retries used up", p, 4, unavailable, 0, false},
		{"no retries", envexec.RetryPolicy{Retries: 0, Wait: time.Second}, 1, unavailable, 0, false},
		{"no wait", envexec.RetryPolicy{Retries: 2}, 2, unavailable, 0, true},
		{"wrapped", p, 1, &envexec.VarError{Vars: []string{"A"}, Err: fmt.Errorf("x: %w", unavailable)}, 3 * time.Second, true},
		{"network failure", p, 1, kvErr(keyvault.ErrUnavailable, 0, 0), 3 * time.Second, true},
		{"doubling capped at a minute", envexec.RetryPolicy{Retries: 20, Wait: 3 * time.Second}, 10, unavailable, time.Minute, true},
		{"a wait above the cap is kept", envexec.RetryPolicy{Retries: 5, Wait: 2 * time.Minute}, 3, unavailable, 2 * time.Minute, true},
		{"throttled, Retry-After longer", p, 1, kvErr(keyvault.ErrThrottled, 429, 10*time.Second), 10 * time.Second, true},
		{"throttled, Retry-After shorter", p, 2, kvErr(keyvault.ErrThrottled, 429, time.Second), 6 * time.Second, true},
		{"503 with Retry-After", p, 1, kvErr(keyvault.ErrUnavailable, 503, 20*time.Second), 20 * time.Second, true},
		{"Entra ID unavailable", p, 1, kvErr(keyvault.ErrAuthentication, 503, 0), 3 * time.Second, true},
		{"Entra ID throttled", p, 1, kvErr(keyvault.ErrAuthentication, 429, 0), 3 * time.Second, true},
		{"not found", p, 1, kvErr(keyvault.ErrNotFound, 404, 0), 0, false},
		{"forbidden", p, 1, kvErr(keyvault.ErrForbidden, 403, 0), 0, false},
		{"credentials refused", p, 1, kvErr(keyvault.ErrAuthentication, 401, 0), 0, false},
		{"credential unavailable", p, 1, kvErr(keyvault.ErrAuthentication, 0, 0), 0, false},
		{"invalid object", p, 1, kvErr(keyvault.ErrInvalidObject, 0, 0), 0, false},
		{"query", p, 1, fmt.Errorf("%w: %w", envexec.ErrQuery, output.ErrUnknownQueryKey), 0, false},
		{"cancelled", p, 1, context.Canceled, 0, false},
		{"anything else", p, 1, errors.New("boom"), 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, again := tt.policy.Delay(tt.attempt, tt.err)
			if got != tt.want || again != tt.again {
				t.Errorf("Delay(%d, %v) = %v, %v; want %v, %v", tt.attempt, tt.err, got, again, tt.want, tt.again)
			}
		})
	}
}

func TestReason(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{kvErr(keyvault.ErrNotFound, 404, 0), "not found"},
		{kvErr(keyvault.ErrForbidden, 403, 0), "forbidden"},
		{kvErr(keyvault.ErrAuthentication, 401, 0), "authentication failed"},
		{kvErr(keyvault.ErrThrottled, 429, 0), "throttled"},
		{kvErr(keyvault.ErrUnavailable, 503, 0), "unavailable"},
		{kvErr(keyvault.ErrInvalidObject, 0, 0), "invalid object"},
		{fmt.Errorf("%w: %w", envexec.ErrQuery, output.ErrQueryRequired), "query"},
		{podcontract.ErrNULByte, "query"},
		{envexec.ErrUnknownAKVS, "configuration"},
		{&envexec.ResolverError{Status: 404, Code: "AzureKeyVaultSecretNotFound"}, "AzureKeyVaultSecret not found"},
		{&envexec.ResolverError{Status: 404, Code: "KeyVaultObjectNotFound"}, "not found"},
		{&envexec.ResolverError{Status: 403, Code: "VaultNotAllowed"}, "refused by the resolver"},
	}
	for _, tt := range tests {
		if got := envexec.Reason(&envexec.VarError{Vars: []string{"V"}, Err: tt.err}); got != tt.want {
			t.Errorf("Reason(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}
