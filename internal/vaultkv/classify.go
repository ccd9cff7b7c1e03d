package vaultkv

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	vault "github.com/hashicorp/vault/api"

	"github.com/latchkey-dev/latchkey/internal/backend"
)

// classifyRead maps a failed KV read to the backend's classes, with a
// reason a user can act on. The message names the mount and path, never a
// token (Vault's errors do not echo one) or a value.
func classifyRead(err error, loc Location) error {
	where := loc.Mount + "/" + loc.Path
	var re *vault.ResponseError
	switch {
	case errors.Is(err, vault.ErrSecretNotFound):
		return fmt.Errorf("%w: no secret at %s in %s", backend.ErrNotFound, where, loc.Address)
	case errors.As(err, &re):
		return classifyResponse(re, "reading "+where)
	}
	return fmt.Errorf("%w: Vault at %s could not be reached: %s", backend.ErrUnavailable, loc.Address, transportReason(err))
}

// classifyLogin maps a failed Kubernetes login. Vault refusing the role,
// the namespace or the ServiceAccount is ErrAuthentication; Vault sealed,
// failing, throttling or unreachable is what it is for a read
// (ErrUnavailable, ErrThrottled), so the last good output is kept and the
// reason says Vault, not the identity, is the problem.
func classifyLogin(err error, who Principal) error {
	what := "login as " + who.String()
	var re *vault.ResponseError
	if !errors.As(err, &re) {
		return fmt.Errorf("%w: %s: Vault could not be reached: %s", backend.ErrUnavailable, what, transportReason(err))
	}
	inner := classifyResponse(re, what)
	if !refusedLogin(re) && (errors.Is(inner, backend.ErrUnavailable) || errors.Is(inner, backend.ErrThrottled)) {
		return inner
	}
	return fmt.Errorf("%w: Vault refused the login as %s (role %q at auth/%s): %s", backend.ErrAuthentication, who, who.Role, who.AuthMount, vaultReason(re))
}

// refusedLogin reports whether a login Vault answered with a server error
// was in fact refused: Vault before 1.2 answers 500 when the Kubernetes
// auth plugin refuses a role, a namespace, a ServiceAccount or a token's
// claims (later versions answer 403). Such a refusal does not clear by
// waiting.
func refusedLogin(re *vault.ResponseError) bool {
	if re.StatusCode != http.StatusInternalServerError {
		return false
	}
	r := strings.ToLower(vaultReason(re))
	for _, s := range []string{"not authorized", "claim", "lookup failed", "invalid role", "permission denied"} {
		if strings.Contains(r, s) {
			return true
		}
	}
	return false
}

// invalidToken reports whether Vault's answer says the token itself is
// not valid: a current Vault adds "invalid token" to the 403 of a revoked
// or unknown token (v1.1 does not).
func invalidToken(re *vault.ResponseError) bool {
	for _, e := range re.Errors {
		if strings.Contains(strings.ToLower(e), "invalid token") {
			return true
		}
	}
	return false
}

// classifyResponse maps an HTTP answer of Vault's.
func classifyResponse(re *vault.ResponseError, what string) error {
	reason := vaultReason(re)
	switch {
	case re.StatusCode == http.StatusForbidden:
		return fmt.Errorf("%w: %s: permission denied: the role's policies do not allow it (%s)", backend.ErrForbidden, what, reason)
	case re.StatusCode == http.StatusNotFound:
		return fmt.Errorf("%w: %s: %s", backend.ErrNotFound, what, reason)
	case re.StatusCode == http.StatusTooManyRequests:
		return fmt.Errorf("%w: %s: %s", backend.ErrThrottled, what, reason)
	case re.StatusCode == http.StatusServiceUnavailable && strings.Contains(strings.ToLower(reason), "sealed"):
		return fmt.Errorf("%w: %s: Vault is sealed", backend.ErrUnavailable, what)
	case re.StatusCode >= 500:
		return fmt.Errorf("%w: %s: Vault answered %d: %s", backend.ErrUnavailable, what, re.StatusCode, reason)
	case re.StatusCode == http.StatusBadRequest:
		return fmt.Errorf("%w: %s: Vault refused the request: %s", backend.ErrInvalidObject, what, reason)
	}
	return fmt.Errorf("%w: %s: Vault answered %d: %s", backend.ErrUnavailable, what, re.StatusCode, reason)
}

// vaultReason is Vault's own error strings, bounded: they name what was
// refused (paths, roles, claims), never a token or a secret's value.
func vaultReason(re *vault.ResponseError) string {
	if re.RawError || len(re.Errors) == 0 {
		return http.StatusText(re.StatusCode)
	}
	// Vault's multi-error text spans lines ("1 error occurred:\n\t* …").
	s := strings.Join(strings.Fields(strings.Join(re.Errors, "; ")), " ")
	s = strings.TrimPrefix(s, "1 error occurred: * ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// transportReason describes a request that got no answer: the client's
// error, which names the URL (no token: Vault takes it in a header).
func transportReason(err error) string {
	s := err.Error()
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}
