package keyvault

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/latchkey-dev/latchkey/internal/devtools/leakcheck"
)

// response builds an HTTP response with a JSON body and headers (pairs).
func response(status int, body string, headers ...string) *http.Response {
	h := http.Header{}
	for i := 0; i+1 < len(headers); i += 2 {
		h.Set(headers[i], headers[i+1])
	}
	return &http.Response{StatusCode: status, Status: http.StatusText(status), Header: h, Body: io.NopCloser(strings.NewReader(body))}
}

// kvErr is what azsecrets returns for a Key Vault error answer.
func kvErr(status int, code, inner string, headers ...string) error {
	body := fmt.Sprintf(`{"error":{"code":%q,"message":"body text with secret-value-123"`, code)
	if inner != "" {
		body += fmt.Sprintf(`,"innererror":{"code":%q}`, inner)
	}
	body += "}}"
	return &azcore.ResponseError{StatusCode: status, ErrorCode: code, RawResponse: response(status, body, headers...)} //nolint:bodyclose // in-memory body
}

// wrapped is how the SDK pipeline tends to return errors.
func wrapped(err error) error { return fmt.Errorf("GET https://kv.vault.azure.net/secrets/x: %w", err) }

func TestClassify(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	ref := Ref{Store: "kv", Kind: KindSecret, Name: "x"}
	aadBody := `{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided: secret-value-123","error_codes":[7000215],"trace_id":"t"}`
	tests := []struct {
		name       string
		err        error
		class      error
		status     int
		code       string
		retryAfter time.Duration
		detail     string
	}{
		{"404", kvErr(404, "SecretNotFound", ""), ErrNotFound, 404, "SecretNotFound", 0, ""},
		{"404 vault", kvErr(404, "VaultNotFound", ""), ErrNotFound, 404, "VaultNotFound", 0, ""},
		{"403 disabled", kvErr(403, "Forbidden", "SecretDisabled"), ErrForbidden, 403, "SecretDisabled", 0, "disabled"},
		{"403 access denied", wrapped(kvErr(403, "Forbidden", "AccessDenied")), ErrForbidden, 403, "AccessDenied", 0, ""},
		{"401 token refused", kvErr(401, "Unauthorized", ""), ErrAuthentication, 401, "Unauthorized", 0, "refused the token"},
		{"400 bad version", kvErr(400, "BadParameter", ""), ErrNotFound, 400, "BadParameter", 0, ""},
		{"429 seconds", kvErr(429, "Throttled", "", "Retry-After", "7"), ErrThrottled, 429, "Throttled", 7 * time.Second, ""},
		{"429 HTTP date", kvErr(429, "Throttled", "", "Retry-After", now.Add(30*time.Second).Format(http.TimeFormat)), ErrThrottled, 429, "Throttled", 30 * time.Second, ""},
		{"429 date in the past", kvErr(429, "Throttled", "", "Retry-After", now.Add(-time.Minute).Format(http.TimeFormat)), ErrThrottled, 429, "Throttled", 0, ""},
		{"429 milliseconds", kvErr(429, "Throttled", "", "Retry-After-Ms", "1500", "Retry-After", "9"), ErrThrottled, 429, "Throttled", 1500 * time.Millisecond, ""},
		{"429 garbage header", kvErr(429, "Throttled", "", "Retry-After", "soon"), ErrThrottled, 429, "Throttled", 0, ""},
		{"429 without header", kvErr(429, "Throttled", ""), ErrThrottled, 429, "Throttled", 0, ""},
		{"500", kvErr(500, "InternalError", ""), ErrUnavailable, 500, "InternalError", 0, ""},
		{"503 with Retry-After", kvErr(503, "ServiceUnavailable", "", "Retry-After", "20"), ErrUnavailable, 503, "ServiceUnavailable", 20 * time.Second, ""},
		{"408", kvErr(408, "", ""), ErrUnavailable, 408, "", 0, ""},
		{"unsafe code not echoed", kvErr(403, "Forbidden", "<script>secret-value-123</script>"), ErrForbidden, 403, "", 0, ""},
		{"body not JSON", &azcore.ResponseError{StatusCode: 502, RawResponse: response(502, "<html>secret-value-123</html>")}, ErrUnavailable, 502, "", 0, ""}, //nolint:bodyclose // in-memory body
		{
			"Entra ID refused the credential",
			wrapped(&tokenError{identity: "sp:t/c", err: &azidentity.AuthenticationFailedError{RawResponse: response(401, aadBody)}}), //nolint:bodyclose // in-memory body
			ErrAuthentication, 401, "AADSTS7000215", 0, "credential sp:t/c could not get a token",
		},
		{
			"managed identity endpoint error",
			&tokenError{identity: "mi:system", err: &azidentity.AuthenticationFailedError{RawResponse: response(400, `{"error":"invalid_request","error_description":"secret-value-123"}`)}}, //nolint:bodyclose // in-memory body
			ErrAuthentication, 400, "invalid_request", 0, "mi:system",
		},
		{
			"credential unavailable",
			&tokenError{identity: "mi:system", err: azidentity.NewCredentialUnavailableError("no endpoint; secret-value-123")},
			ErrAuthentication, 0, "", 0, "credential unavailable",
		},
		{"foreign credential", &azidentity.AuthenticationFailedError{RawResponse: response(401, aadBody)}, ErrAuthentication, 401, "AADSTS7000215", 0, ""}, //nolint:bodyclose // in-memory body
		{"connection refused", wrapped(&net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}), ErrUnavailable, 0, "", 0, "network error (dial)"},
		{"DNS", &net.DNSError{Err: "no such host", Name: "kv.vault.azure.net", IsNotFound: true}, ErrUnavailable, 0, "", 0, "cannot resolve kv.vault.azure.net"},
		{"connection dropped", wrapped(io.ErrUnexpectedEOF), ErrUnavailable, 0, "", 0, "connection closed"},
		{"try timeout", wrapped(context.DeadlineExceeded), ErrUnavailable, 0, "", 0, "timed out"},
		{"anything else", errors.New("secret-value-123"), ErrUnavailable, 0, "", 0, "request failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := classify(context.Background(), ref, tt.err, now)
			var e *Error
			if !errors.As(err, &e) || !errors.Is(err, tt.class) {
				t.Fatalf("got %T %v, want class %v", err, err, tt.class)
			}
			if e.Status != tt.status || e.Code != tt.code || e.RetryAfter != tt.retryAfter || e.Ref != ref {
				t.Errorf("status %d code %q retryAfter %v; want %d %q %v", e.Status, e.Code, e.RetryAfter, tt.status, tt.code, tt.retryAfter)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.detail) || !strings.Contains(msg, ref.String()) {
				t.Errorf("message %q lacks %q or the ref", msg, tt.detail)
			}
			leakcheck.Of(t, "secret-value-123").Check(t, "the message", msg)
			for _, s := range []string{"{", "error_description", "RESPONSE"} {
				if strings.Contains(msg, s) {
					t.Errorf("message holds %q, a piece of the response: %s", s, msg)
				}
			}
		})
	}
}

func TestClassifyCallerCancellation(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, in := range []error{kvErr(500, "InternalError", ""), context.Canceled, &tokenError{err: context.Canceled}} {
		err := classify(ctx, Ref{Store: "kv", Kind: KindSecret, Name: "x"}, in, time.Now())
		var e *Error
		if !errors.Is(err, context.Canceled) || errors.As(err, &e) {
			t.Errorf("%v: got %v", in, err)
		}
	}
	if classify(context.Background(), Ref{}, nil, time.Now()) != nil {
		t.Error("nil error classified")
	}
}

func TestResultOf(t *testing.T) {
	tests := map[Result]error{
		ResultOK:             nil,
		ResultNotFound:       &Error{Class: ErrNotFound},
		ResultForbidden:      fmt.Errorf("x: %w", &Error{Class: ErrForbidden}),
		ResultAuthentication: &Error{Class: ErrAuthentication},
		ResultThrottled:      &Error{Class: ErrThrottled},
		ResultInvalidObject:  &Error{Class: ErrInvalidObject},
		ResultUnavailable:    &Error{Class: ErrUnavailable},
		ResultCanceled:       fmt.Errorf("reading: %w", context.Canceled),
	}
	for want, err := range tests {
		if got := ResultOf(err); got != want {
			t.Errorf("ResultOf(%v) = %s, want %s", err, got, want)
		}
	}
}
