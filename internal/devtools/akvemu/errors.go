package akvemu

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// kvError is a Key Vault error: the HTTP status and the body
// {"error":{"code":…,"message":…,"innererror":{"code":…}}} the SDK turns into
// an *azcore.ResponseError with ErrorCode set to code.
type kvError struct {
	status int
	code   string
	msg    string
	inner  string
}

// Error makes kvError usable as an error inside the package.
func (e *kvError) Error() string { return fmt.Sprintf("%d %s: %s", e.status, e.code, e.msg) }

// kvErrorBody is the wire shape of a Key Vault error.
type kvErrorBody struct {
	Error kvErrorDetail `json:"error"`
}

type kvErrorDetail struct {
	Code       string        `json:"code"`
	Message    string        `json:"message"`
	InnerError *kvInnerError `json:"innererror,omitempty"`
}

// kvInnerError is the innererror Key Vault adds to some errors.
type kvInnerError struct {
	Code string `json:"code"`
}

// body is the JSON document of the error.
func (e *kvError) body() kvErrorBody {
	b := kvErrorBody{Error: kvErrorDetail{Code: e.code, Message: e.msg}}
	if e.inner != "" {
		b.Error.InnerError = &kvInnerError{Code: e.inner}
	}
	return b
}

// Constructors for the errors Key Vault answers most; messages follow Azure's.
func errBadParameter(format string, args ...any) *kvError {
	return &kvError{status: http.StatusBadRequest, code: "BadParameter", msg: fmt.Sprintf(format, args...)}
}

func errNotFound(code, kind, name string) *kvError {
	return &kvError{status: http.StatusNotFound, code: code, msg: fmt.Sprintf(
		"A %s with (name/id) %s was not found in this key vault. If you recently deleted this %s you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182", kind, name, kind)}
}

func errDeletedNotFound(code, kind, name string) *kvError {
	return &kvError{status: http.StatusNotFound, code: code, msg: fmt.Sprintf("Deleted %s not found: %s", kind, name)}
}

func errConflictDeleted(kind, name string) *kvError {
	return &kvError{status: http.StatusConflict, code: "Conflict", inner: "ObjectIsDeletedButRecoverable", msg: fmt.Sprintf(
		"%s %s is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the %s can only be recovered or purged.", kind, name, kind)}
}

func errForbidden(inner, format string, args ...any) *kvError {
	return &kvError{status: http.StatusForbidden, code: "Forbidden", inner: inner, msg: fmt.Sprintf(format, args...)}
}

func errUnauthorized(format string, args ...any) *kvError {
	return &kvError{status: http.StatusUnauthorized, code: "Unauthorized", msg: fmt.Sprintf(format, args...)}
}

func errNotImplemented(op string) *kvError {
	return &kvError{status: http.StatusNotImplemented, code: "NotImplemented", msg: fmt.Sprintf("The emulator does not implement %s.", op)}
}

// errThrottled is Key Vault's answer when a vault's service limit is exceeded.
func errThrottled() *kvError {
	return &kvError{status: http.StatusTooManyRequests, code: "Throttled", msg: "Request was not processed because too many requests were received. Reason: VaultRequestTypeLimitReached"}
}

// errInjected is the body of an injected error status.
func errInjected(status int) *kvError {
	switch status {
	case http.StatusTooManyRequests:
		return errThrottled()
	case http.StatusServiceUnavailable:
		return &kvError{status: status, code: "ServiceUnavailable", msg: "The service is unavailable (injected by the emulator)."}
	}
	return &kvError{status: status, code: http.StatusText(status), msg: "Injected by the emulator."}
}

// writeJSON writes v as the JSON body with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "encoding response: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// writeKVError writes a Key Vault error.
func writeKVError(w http.ResponseWriter, e *kvError) {
	writeJSON(w, e.status, e.body())
}

// retryAfterSeconds renders a delay as the whole seconds of a Retry-After
// header, rounding up so clients never come back too early.
func retryAfterSeconds(d time.Duration) string {
	if d <= 0 {
		return "0"
	}
	return strconv.FormatInt(int64((d+time.Second-1)/time.Second), 10)
}

// entraError is an OAuth error from the fake Entra ID, shaped like Entra's:
// {"error":…,"error_description":"AADSTS…: …","error_codes":[…],…}.
type entraError struct {
	status int
	code   string
	aadsts int
	desc   string
}

// Error makes entraError usable as an error inside the package.
func (e *entraError) Error() string { return fmt.Sprintf("%s: AADSTS%d: %s", e.code, e.aadsts, e.desc) }

// entraErrorBody is the wire shape of an Entra error.
type entraErrorBody struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
	ErrorCodes       []int  `json:"error_codes"`
	Timestamp        string `json:"timestamp"`
	TraceID          string `json:"trace_id"`
	CorrelationID    string `json:"correlation_id"`
	ErrorURI         string `json:"error_uri"`
}

// writeEntraError writes e as Entra would, for the login host of the request.
func writeEntraError(w http.ResponseWriter, loginHost string, now time.Time, e *entraError) {
	writeJSON(w, e.status, entraErrorBody{
		Error:            e.code,
		ErrorDescription: fmt.Sprintf("AADSTS%d: %s Trace ID: %s Correlation ID: %s Timestamp: %s", e.aadsts, e.desc, newUUID(), newUUID(), now.UTC().Format("2006-01-02 15:04:05Z")),
		ErrorCodes:       []int{e.aadsts},
		Timestamp:        now.UTC().Format("2006-01-02 15:04:05Z"),
		TraceID:          newUUID(),
		CorrelationID:    newUUID(),
		ErrorURI:         fmt.Sprintf("https://%s/error?code=%d", loginHost, e.aadsts),
	})
}
