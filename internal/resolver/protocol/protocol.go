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

// Paths the resolver serves.
const (
	// ResolvePath answers one container's placeholders.
	ResolvePath = "/v1/resolve"
	// HealthPath answers 200 when the resolver serves requests.
	HealthPath = "/healthz"
)

// MaxRequestBytes bounds a request body: a container's environment is at
// most a few hundred variables.
const MaxRequestBytes = 1 << 20

// Request asks for the values of one container's placeholders.
type Request struct {
	// Container is the name of the container asking, in its pod's spec
	// (containers or initContainers).
	Container string `json:"container"`
	// Env maps each variable to its placeholder, exactly as the container's
	// environment holds it. The resolver serves it only if the stored pod
	// spec gives the container that variable with that value.
	Env map[string]string `json:"env"`
}

// Response is a 200 answer: a value for every variable of the request.
type Response struct {
	Env map[string]string `json:"env"`
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
	// CodeTokenRejected: TokenReview did not authenticate the token, or
	// not for the resolver's audience.
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
	// CodePodNotInjected: the webhook did not admit the pod.
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
