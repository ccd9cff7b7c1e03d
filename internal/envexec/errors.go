package envexec

import (
	"errors"
	"fmt"
	"strings"

	"github.com/latchkey-dev/latchkey/internal/keyvault"
	"github.com/latchkey-dev/latchkey/internal/podcontract"
)

// Failures of our own; Key Vault's are keyvault's classes (keyvault.ErrNotFound…).
var (
	// ErrUnknownAKVS: a placeholder names an AzureKeyVaultSecret that
	// LATCHKEY_REFS does not describe. The webhook refuses a direct-mode
	// container whose AzureKeyVaultSecret is missing when it can see the
	// container is one; it cannot when ENV_INJECTOR_DISABLE_AUTH_SERVICE
	// comes from a ConfigMap or Secret.
	ErrUnknownAKVS = errors.New("AzureKeyVaultSecret not in " + podcontract.EnvRefs + ": direct mode knows only the AzureKeyVaultSecrets that existed when latchkey's webhook admitted the pod; create it and recreate the pod")
	// ErrQuery: the object was read but cannot answer the placeholder's
	// query (output.Query's error is wrapped with it).
	ErrQuery = errors.New("cannot answer the query")
	// ErrResolverUnavailable: the resolver could not be reached, or asked
	// to be asked again later (429, 503); retried.
	ErrResolverUnavailable = errors.New("resolver unavailable")
	// ErrResolverRefused: the resolver refused the request (the token, the
	// pod, a placeholder not in the pod's spec, the tenancy guard…) or
	// cannot answer it; not retried.
	ErrResolverRefused = errors.New("refused by the resolver")
	// ErrAKVSNotFound: the resolver found no AzureKeyVaultSecret of the
	// placeholder's name in the pod's namespace. It may not exist yet (Helm
	// and Argo CD create custom resources after Deployments), so it is
	// retried as ENV_INJECTOR_RETRIES says, as akv2k8s's binary did.
	ErrAKVSNotFound = errors.New("AzureKeyVaultSecret not found")
)

// VarError is the failure to give one or more variables their value. Its
// message names the variables, the AzureKeyVaultSecrets and the cause,
// never a value.
type VarError struct {
	// Vars are the variables left without a value.
	Vars []string
	// AKVS are the AzureKeyVaultSecrets they name.
	AKVS []string
	Err  error
}

func (e *VarError) Error() string {
	noun, kind := "variable", "AzureKeyVaultSecret"
	if len(e.Vars) > 1 {
		noun = "variables"
	}
	if len(e.AKVS) > 1 {
		kind = "AzureKeyVaultSecrets"
	}
	return fmt.Sprintf("%s %s (%s %s): %v", noun, strings.Join(e.Vars, ", "), kind, strings.Join(e.AKVS, ", "), e.Err)
}

// Unwrap gives errors.Is the cause (keyvault.ErrNotFound and the like).
func (e *VarError) Unwrap() error { return e.Err }

// Reason is a short name of the failure's class for logs: Key Vault's
// classes ("not found", "forbidden", "throttled"…, the resolver's answers
// about Key Vault included), "query" when the object was read but cannot
// answer the query or a file's value is not in its declared encoding, "AzureKeyVaultSecret not found" when the resolver knows
// no AzureKeyVaultSecret of the placeholder's name, "refused by the
// resolver" or "resolver unavailable" for its other answers, "exec" when the program could not be started,
// "configuration" otherwise.
func Reason(err error) string {
	var ee *ExitError
	if errors.As(err, &ee) && (ee.Code == ExitNotFound || ee.Code == ExitCannotRun) {
		return "exec"
	}
	for _, class := range []error{
		keyvault.ErrNotFound, keyvault.ErrForbidden, keyvault.ErrAuthentication,
		keyvault.ErrThrottled, keyvault.ErrUnavailable, keyvault.ErrInvalidObject,
	} {
		if errors.Is(err, class) {
			return class.Error()
		}
	}
	if errors.Is(err, ErrQuery) || errors.Is(err, podcontract.ErrNULByte) || errors.Is(err, podcontract.ErrFileEncoding) {
		return "query"
	}
	// Refused first: with a refusal, waiting for the rest changes nothing.
	for _, class := range []error{ErrResolverRefused, ErrResolverUnavailable, ErrAKVSNotFound} {
		if errors.Is(err, class) {
			return class.Error()
		}
	}
	return "configuration"
}
