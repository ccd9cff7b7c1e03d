package resolver

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/latchkey-dev/latchkey/internal/resolver/protocol"
)

// Denial is a request refused or failed: the HTTP status, the protocol
// code and a message that names variables, AzureKeyVaultSecrets, objects
// and reasons, never a value.
type Denial struct {
	Status  int
	Code    string
	Message string
	// RetryAfter, for 429 and 503, is when to try again; zero: the client's
	// own backoff.
	RetryAfter time.Duration
	// Failures, when several variables failed, say which and why.
	Failures []protocol.Failure
}

func (d *Denial) Error() string { return d.Code + ": " + d.Message }

// deny builds a Denial.
func deny(status int, code, format string, args ...any) *Denial {
	return &Denial{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// body is the Denial as the client gets it.
func (d *Denial) body() protocol.ErrorBody {
	return protocol.ErrorBody{Error: protocol.Error{Code: d.Code, Message: d.Message, Failures: d.Failures}}
}

// result is the Denial's class for metrics: unauthenticated (401), denied
// (403), bad_request (400), rate_limited (429), unavailable (503) or failed
// (anything else: the placeholder's object is missing or cannot answer).
func (d *Denial) result() string {
	switch d.Status {
	case http.StatusUnauthorized:
		return "unauthenticated"
	case http.StatusForbidden:
		return "denied"
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusRequestTimeout:
		return "bad_request"
	case http.StatusTooManyRequests:
		return "rate_limited"
	case http.StatusServiceUnavailable:
		return "unavailable"
	}
	return "failed"
}

// severity orders statuses for a request whose variables failed for
// different reasons: a refusal first, then what waiting may fix (so the
// client retries), then what it will not.
var severity = []int{http.StatusForbidden, http.StatusServiceUnavailable, http.StatusBadGateway, http.StatusNotFound, http.StatusUnprocessableEntity}

// failure is one group of variables that failed for one reason.
type failure struct {
	status     int
	code       string
	err        string
	vars, akvs []string
	retryAfter time.Duration
}

// combine makes one Denial of failures: the most severe status decides,
// Retry-After is the longest asked for, and each group is listed.
func combine(failures []failure) *Denial {
	if len(failures) == 0 {
		return nil
	}
	slices.SortStableFunc(failures, func(a, b failure) int { return rank(a.status) - rank(b.status) })
	d := &Denial{Status: failures[0].status, Code: failures[0].code}
	var msgs []string
	for _, f := range failures {
		vars, akvs := sortedSet(f.vars), sortedSet(f.akvs)
		d.Failures = append(d.Failures, protocol.Failure{Code: f.code, Message: f.err, Variables: vars, AzureKeyVaultSecrets: akvs})
		msgs = append(msgs, fmt.Sprintf("%s %s: %s", plural("variable", len(vars)), strings.Join(vars, ", "), f.err))
		if f.status == d.Status {
			d.RetryAfter = max(d.RetryAfter, f.retryAfter)
		}
	}
	d.Message = strings.Join(msgs, "; ")
	return d
}

func rank(status int) int {
	if i := slices.Index(severity, status); i >= 0 {
		return i
	}
	return len(severity)
}

func plural(noun string, n int) string {
	if n == 1 {
		return noun
	}
	return noun + "s"
}

// sortedSet is s sorted, each element once.
func sortedSet(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return slices.Compact(out)
}
