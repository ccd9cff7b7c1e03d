package keyvault

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// classify turns what an SDK call returned into an *Error, or passes the
// caller's own cancellation through. It reads status codes, error codes and
// headers, never messages: azcore's and azidentity's Error() print the whole
// response body.
func classify(ctx context.Context, ref Ref, err error, now time.Time) error {
	if err == nil {
		return nil
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("reading %s: %w", ref, ctxErr)
	}
	var te *tokenError
	if errors.As(err, &te) {
		return authError(ref, te.identity, err)
	}
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return responseError(ref, re.StatusCode, re.RawResponse, now)
	}
	var afe *azidentity.AuthenticationFailedError
	if errors.As(err, &afe) { // a credential that is not ours
		return authError(ref, "", err)
	}
	return &Error{Ref: ref, Class: ErrUnavailable, Detail: transportDetail(err)}
}

// responseError classifies a Key Vault answer by its status.
func responseError(ref Ref, status int, resp *http.Response, now time.Time) *Error {
	e := &Error{Ref: ref, Status: status, Code: kvErrorCode(resp)}
	switch status {
	case http.StatusUnauthorized:
		e.Class, e.Detail = ErrAuthentication, "Key Vault refused the token"
	case http.StatusForbidden:
		e.Class = ErrForbidden
		if strings.HasSuffix(e.Code, "Disabled") {
			e.Detail = "the object is disabled"
		}
	case http.StatusNotFound:
		e.Class = ErrNotFound
	case http.StatusBadRequest:
		// Names are checked before sending, so Key Vault refusing the request
		// means a version or name it cannot have: nothing to find.
		e.Class, e.Detail = ErrNotFound, "Key Vault refused the object name or version"
	case http.StatusTooManyRequests:
		e.Class = ErrThrottled
		e.RetryAfter = retryAfter(resp, now)
	default:
		// 408, 5xx, and anything else Key Vault should not answer to a GET.
		e.Class = ErrUnavailable
		e.RetryAfter = retryAfter(resp, now)
	}
	return e
}

// safeCode matches error codes worth repeating; anything else in a body is
// not echoed.
var safeCode = regexp.MustCompile(`^[A-Za-z0-9_.\-]{1,64}$`)

// kvErrorCode is the most specific code of a Key Vault error body
// ({"error":{"code":…,"innererror":{"code":…}}}): SecretDisabled,
// AccessDenied and the like say more than Forbidden.
func kvErrorCode(resp *http.Response) string {
	body := payload(resp)
	var doc struct {
		Error struct {
			Code       string `json:"code"`
			InnerError *struct {
				Code string `json:"code"`
			} `json:"innererror"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &doc) != nil {
		return ""
	}
	code := doc.Error.Code
	if doc.Error.InnerError != nil && doc.Error.InnerError.Code != "" {
		code = doc.Error.InnerError.Code
	}
	if !safeCode.MatchString(code) {
		return ""
	}
	return code
}

// authError describes a token failure: Entra ID's status and AADSTS code
// when it answered, never its message (which can name the app and echo
// request details) and never the credential.
func authError(ref Ref, identity string, err error) *Error {
	e := &Error{Ref: ref, Class: ErrAuthentication, Detail: "could not get a token"}
	if identity != "" {
		e.Detail = "credential " + identity + " could not get a token"
	}
	var afe *azidentity.AuthenticationFailedError
	if errors.As(err, &afe) && afe.RawResponse != nil {
		e.Status = afe.RawResponse.StatusCode
		e.Code = entraErrorCode(afe.RawResponse)
	} else if !errors.As(err, &afe) {
		e.Detail += " (credential unavailable)"
	}
	return e
}

// entraErrorCode is AADSTS<n> from an Entra ID error body, or its OAuth
// error ("invalid_client"), or a managed-identity endpoint's error.
func entraErrorCode(resp *http.Response) string {
	var doc struct {
		Error      any   `json:"error"`
		ErrorCodes []int `json:"error_codes"`
	}
	if json.Unmarshal(payload(resp), &doc) != nil {
		return ""
	}
	if len(doc.ErrorCodes) > 0 {
		return "AADSTS" + strconv.Itoa(doc.ErrorCodes[0])
	}
	if s, ok := doc.Error.(string); ok && safeCode.MatchString(s) {
		return s
	}
	return ""
}

// payload is the body of an error response (azcore keeps it readable).
func payload(resp *http.Response) []byte {
	if resp == nil || resp.Body == nil {
		return nil
	}
	b, err := runtime.Payload(resp)
	if err != nil {
		return nil
	}
	return b
}

// retryAfter reads the delay a response asks for: retry-after-ms,
// x-ms-retry-after-ms, or Retry-After in seconds or as an HTTP date. Zero
// when absent or in the past.
func retryAfter(resp *http.Response, now time.Time) time.Duration {
	if resp == nil {
		return 0
	}
	return parseRetryAfter(resp.Header, now)
}

func parseRetryAfter(h http.Header, now time.Time) time.Duration {
	for _, name := range []string{"Retry-After-Ms", "X-Ms-Retry-After-Ms"} {
		if v := strings.TrimSpace(h.Get(name)); v != "" {
			if ms, err := strconv.ParseInt(v, 10, 64); err == nil && ms > 0 {
				return time.Duration(ms) * time.Millisecond
			}
		}
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s <= 0 {
			return 0
		}
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// transportDetail describes a failure to exchange a request, from fixed
// texts and the kinds of network errors, never from a message that could
// carry a URL query or body.
func transportDetail(err error) string {
	var dnsErr *net.DNSError
	var opErr *net.OpError
	var certErr *tls.CertificateVerificationError
	var unknownAuth x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "request timed out"
	case errors.As(err, &dnsErr):
		return "cannot resolve " + dnsErr.Name
	case errors.As(err, &certErr), errors.As(err, &unknownAuth), errors.As(err, &hostErr):
		return "TLS certificate not trusted"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed before a response"
	case errors.As(err, &opErr):
		if opErr.Timeout() {
			return "network timeout (" + opErr.Op + ")"
		}
		return "network error (" + opErr.Op + ")"
	}
	return "request failed"
}
