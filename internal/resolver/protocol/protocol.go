// Package protocol is the wire format between the in-container binary
// (internal/envexec) and the resolver (internal/resolver): the request, the
// answer and the error codes. It imports nothing but the standard library,
// so the small binary links it without anything from Kubernetes.
//
//	POST /v1/resolve
//	Authorization: Bearer <projected service-account token>
//	Content-Type: application/json
//
//	{"container": "app", "env": {"DB_PASSWORD": "db@azurekeyvault", "TLS_KEY": "web@azurekeyvault?tls.key"}}
//
// 200 answers {"env": {"DB_PASSWORD": "…", "TLS_KEY": "…"}}, every variable
// asked for. Any other status answers an ErrorBody; its messages name
// variables, AzureKeyVaultSecrets and reasons, never a value.
// docs/design/injection.md describes the statuses and codes.
package protocol

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Paths the resolver serves.
const (
	// ResolvePath answers one container's placeholders.
	ResolvePath = "/v1/resolve"
	// HealthPath answers 200 when the resolver serves requests.
	HealthPath = "/healthz"
)

// Request bounds, checked by the resolver before it parses a body
// (DecodeRequest) and by the binary before it sends one. A container's
// placeholders are rarely more than a few dozen; each variable costs about
// fifty bytes.
const (
	// MaxRequestBytes bounds a request body.
	MaxRequestBytes = 128 << 10
	// MaxVariables bounds the variables of one request (the resolver also
	// refuses more than the container's env in the stored spec holds).
	MaxVariables = 1000
)

// Request asks for the values of one container's placeholders.
type Request struct {
	// Container is the name of the container asking, in its pod's spec
	// (containers or initContainers).
	Container string `json:"container"`
	// Env maps each variable to its placeholder, exactly as the container's
	// environment holds it. The resolver serves it only if the stored pod
	// spec gives the container that variable with that value.
	Env map[string]string `json:"env"`
	// Have, when present (non-empty), maps variables to the Digest of the
	// value the client holds (the file refresh sidecar), "" for one it
	// holds none of: if every variable's value is still that, the answer
	// is Unchanged and carries no value.
	Have map[string]string `json:"have,omitempty"`
}

// Response is a 200 answer: a value for every variable of the request,
// or, for a request with Have, Unchanged.
type Response struct {
	Env map[string]string `json:"env"`
	// Unchanged: every value is the one the request's Have names.
	Unchanged bool `json:"unchanged,omitempty"`
	// RefreshSeconds, answered to a request with Have, is how often the
	// values may change: the shortest refresh interval of the
	// AzureKeyVaultSecrets named, which the client polls at.
	RefreshSeconds int64 `json:"refreshSeconds,omitempty"`
}

// Digest is what Have holds for a value: its SHA-256, hex. Only a client
// that holds the value can name it; the resolver compares, never logs it.
func Digest(value string) string {
	sum := sha256.Sum256([]byte(value))
	return hex.EncodeToString(sum[:])
}

// ErrorBody is every other answer.
type ErrorBody struct {
	Error Error `json:"error"`
}

// Error says why a request was not answered.
type Error struct {
	// Code is one of the Code constants.
	Code string `json:"code"`
	// Message is for people: it names variables, AzureKeyVaultSecrets,
	// objects and reasons, never a value.
	Message string `json:"message"`
	// Failures, when set, say which variables failed and why, each with
	// its own code (a request can fail for several reasons at once).
	Failures []Failure `json:"failures,omitempty"`
}

// Failure is one group of variables that could not be resolved.
type Failure struct {
	Code                 string   `json:"code"`
	Message              string   `json:"message"`
	Variables            []string `json:"variables"`
	AzureKeyVaultSecrets []string `json:"azureKeyVaultSecrets,omitempty"`
}

// Codes. The HTTP status says what a client may do: 429 and 503 may be
// retried (after Retry-After when given); 400, 401, 403, 404, 422 and 502
// will not change by themselves.
const (
	// 400: the request is malformed.
	CodeBadRequest = "BadRequest"

	// 401: the token. The resolver did not learn who is asking.
	CodeTokenMissing       = "TokenMissing"
	CodeTokenMalformed     = "TokenMalformed"
	CodeTokenWrongAudience = "TokenWrongAudience"
	CodeTokenExpired       = "TokenExpired"
	// CodeTokenRejected: the token is not the cluster's service-account
	// issuer's (another issuer, a signature that does not verify, a key the
	// issuer does not publish), not valid yet, or TokenReview (the fallback)
	// did not authenticate it for the resolver's audience.
	CodeTokenRejected = "TokenRejected"

	// 403: the caller is known and refused.
	//
	// CodeNoPodClaims: not a pod-bound service-account token.
	CodeNoPodClaims = "NoPodClaims"
	// CodePodNotFound: the token's pod is gone.
	CodePodNotFound = "PodNotFound"
	// CodePodMismatch: the stored pod of that name has another UID (it was
	// recreated) or runs as another ServiceAccount.
	CodePodMismatch = "PodMismatch"
	// CodePodTerminating: the pod has a deletionTimestamp.
	CodePodTerminating = "PodTerminating"
	// CodeNamespaceNotEnabled: the namespace lacks the injection label.
	CodeNamespaceNotEnabled = "NamespaceNotEnabled"
	// CodePodNotInjected: the pod does not carry the mark the webhook signs
	// the pods it rewrites with (it did not admit the pod, or the pod
	// changed since).
	CodePodNotInjected = "PodNotInjected"
	// CodeContainerNotFound: no container or init container of that name
	// (ephemeral containers are never served).
	CodeContainerNotFound = "ContainerNotFound"
	// CodeContainerNotRewritten: the container was not rewritten by
	// latchkey in resolver mode.
	CodeContainerNotRewritten = "ContainerNotRewritten"
	// CodeCallerAddressMismatch: the caller is not at the pod's IP.
	CodeCallerAddressMismatch = "CallerAddressMismatch"
	// CodePlaceholderNotInSpec: the container's env in the stored pod spec
	// does not give that variable that placeholder.
	CodePlaceholderNotInSpec = "PlaceholderNotInSpec"
	// CodeVaultNotAllowed: the tenancy guard does not let the namespace
	// read that vault or object.
	CodeVaultNotAllowed = "VaultNotAllowed"
	// CodeKeyVaultForbidden: Key Vault refused the resolver's identity, or
	// the object is disabled.
	CodeKeyVaultForbidden = "KeyVaultForbidden"

	// 404: what the placeholder names does not exist.
	CodeAKVSNotFound     = "AzureKeyVaultSecretNotFound"
	CodeKeyVaultNotFound = "KeyVaultObjectNotFound"

	// 422: the object cannot answer the placeholder.
	CodeInvalidObject = "InvalidObject"
	CodeQueryFailed   = "QueryFailed"
	// CodeInvalidSpec: the AzureKeyVaultSecret's spec cannot be used (a
	// field that cannot be read, an unknown transform, …); its Ready
	// condition says the same.
	CodeInvalidSpec = "InvalidAzureKeyVaultSecret"

	// 502: the resolver's Key Vault identity cannot sign in.
	CodeKeyVaultAuthFailed = "KeyVaultAuthenticationFailed"

	// 429: this namespace asks too often; wait Retry-After.
	CodeRateLimited = "RateLimited"

	// 503: try again (after Retry-After when given).
	CodeKeyVaultUnavailable = "KeyVaultUnavailable"
	CodeKeyVaultThrottled   = "KeyVaultThrottled"
	CodeAPIUnavailable      = "KubernetesAPIUnavailable"
)

// Neutral names of the codes for a store's failures, one per backend
// failure class (internal/backend). The wire values stay the Key Vault ones
// every latchkey-env already understands, whichever backend failed: a code
// names the class of failure, the message names the store and the object.
const (
	CodeStoreForbidden   = CodeKeyVaultForbidden   // backend.ErrForbidden
	CodeStoreNotFound    = CodeKeyVaultNotFound    // backend.ErrNotFound
	CodeStoreInvalid     = CodeInvalidObject       // backend.ErrInvalidObject
	CodeStoreAuthFailed  = CodeKeyVaultAuthFailed  // backend.ErrAuthentication
	CodeStoreThrottled   = CodeKeyVaultThrottled   // backend.ErrThrottled
	CodeStoreUnavailable = CodeKeyVaultUnavailable // backend.ErrUnavailable, and unreachable
)

// ErrTooManyVariables is DecodeRequest's error for a request naming more
// variables than allowed.
var ErrTooManyVariables = errors.New("the request names too many variables")

// DecodeRequest reads one request: a JSON object with "container" (a
// string) and "env" (an object of strings), each at most once, no other
// field, no variable twice, and nothing after it. It stops at the
// (maxVars+1)th variable (ErrTooManyVariables), so a body of many variables
// costs no more than maxVars of them. The caller bounds the bytes of r
// (MaxRequestBytes).
func DecodeRequest(r io.Reader, maxVars int) (Request, error) {
	var req Request
	dec := json.NewDecoder(r)
	if err := delim(dec, '{'); err != nil {
		return req, err
	}
	seen := map[string]bool{}
	for dec.More() {
		key, err := str(dec)
		if err != nil {
			return req, err
		}
		if seen[key] {
			return req, fmt.Errorf("field %q given twice", key)
		}
		seen[key] = true
		switch key {
		case "container":
			if req.Container, err = str(dec); err != nil {
				return req, fmt.Errorf("container: %w", err)
			}
		case "env":
			if req.Env, err = decodeEnv(dec, maxVars); err != nil {
				return req, err
			}
		case "have":
			if req.Have, err = decodeEnv(dec, maxVars); err != nil {
				return req, fmt.Errorf("have: %w", err)
			}
		default:
			return req, fmt.Errorf("unknown field %q", key)
		}
	}
	if err := delim(dec, '}'); err != nil {
		return req, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return req, errors.New("data after the request")
	}
	return req, nil
}

// decodeEnv reads the env object (or null), at most maxVars entries.
func decodeEnv(dec *json.Decoder, maxVars int) (map[string]string, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if tok == nil {
		return nil, nil
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errors.New("env is not an object")
	}
	env := map[string]string{}
	for dec.More() {
		if len(env) >= maxVars {
			return nil, fmt.Errorf("%w (at most %d)", ErrTooManyVariables, maxVars)
		}
		name, err := str(dec)
		if err != nil {
			return nil, err
		}
		value, err := str(dec)
		if err != nil {
			return nil, fmt.Errorf("env %s: %w", name, err)
		}
		if _, dup := env[name]; dup {
			return nil, fmt.Errorf("env %s given twice", name)
		}
		env[name] = value
	}
	return env, delim(dec, '}')
}

func delim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return fmt.Errorf("want %q", want)
	}
	return nil
}

func str(dec *json.Decoder) (string, error) {
	tok, err := dec.Token()
	if err != nil {
		return "", err
	}
	s, ok := tok.(string)
	if !ok {
		return "", errors.New("not a string")
	}
	return s, nil
}
