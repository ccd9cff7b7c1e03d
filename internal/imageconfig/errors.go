package imageconfig

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// The classes of failed lookups. Every error Lookup returns is a
// *LookupError that matches exactly one of them with errors.Is.
var (
	// ErrInvalidImage: the pod's image is not a valid image reference.
	ErrInvalidImage = errors.New("invalid image reference")
	// ErrNotFound: the registry has no such repository, tag or digest.
	ErrNotFound = errors.New("image not found")
	// ErrUnauthorized: the registry refused every credential tried
	// (including anonymous access), or the ACR token exchange failed.
	ErrUnauthorized = errors.New("not authorized to pull the image")
	// ErrNoMatchingPlatform: the image index has no manifest for the
	// platform the pod runs on.
	ErrNoMatchingPlatform = errors.New("image has no manifest for the platform")
	// ErrTimeout: the lookup did not finish before its deadline (or its
	// caller gave up).
	ErrTimeout = errors.New("image lookup timed out")
	// ErrRegistry: anything else: the registry is unreachable, answered
	// with a server error, spoke plain HTTP without being allowed to, or
	// served something that is not a container image.
	ErrRegistry = errors.New("registry error")
)

// LookupError is a failed lookup, worded for the user who created the pod:
// which image, for which platform, why, and what to do instead. It never
// holds a credential.
type LookupError struct {
	Image    string
	Platform Platform
	// Class is one of the Err* sentinels.
	Class error
	// Reason says why in words, one clause per credential tried, e.g.
	// `pull secret "regcred": the registry refused access (HTTP 401
	// UNAUTHORIZED); anonymous access: ...`.
	Reason string
	// cause is the underlying error, for errors.Is/As (e.g.
	// context.DeadlineExceeded); it is not part of the message.
	cause error
}

// Error is the message the webhook returns as its admission error.
func (e *LookupError) Error() string {
	return fmt.Sprintf("cannot read the ENTRYPOINT and CMD of image %q for %s: %v: %s; "+
		"set command (and args) on this container in the pod spec so the image need not be looked up",
		e.Image, e.Platform, e.Class, e.Reason)
}

// Unwrap gives errors.Is/As the class and the underlying cause.
func (e *LookupError) Unwrap() []error {
	if e.cause == nil {
		return []error{e.Class}
	}
	return []error{e.Class, e.cause}
}

// errPlainHTTP is what the transport answers when a registry would be
// spoken to without TLS although it is not in the insecure list.
type errPlainHTTP struct{ host string }

func (e *errPlainHTTP) Error() string {
	return fmt.Sprintf("plain HTTP to %s is not allowed (the registry is not in the webhook's insecure registries list)", e.host)
}

// acrError is a failed ACR token exchange. Its message is safe to show:
// it carries a status or a fixed sentence, never a token.
type acrError struct {
	msg string
	// auth: the failure is about the identity's rights (so the next
	// credential may be tried), not about reaching the registry.
	auth bool
}

func (e *acrError) Error() string { return e.msg }

// verdict is a failure's class (one of the Err* sentinels) and a short
// reason in words.
type verdict struct {
	class  error
	reason string
}

// classify maps the error of one attempt to its verdict.
func classify(err error) verdict {
	var (
		terr  *transport.Error
		plain *errPlainHTTP
		acr   *acrError
		uerr  x509.UnknownAuthorityError
		herr  x509.HostnameError
		cerr  *x509.CertificateInvalidError
		nerr  net.Error
		derr  *net.DNSError
		oerr  *net.OpError
	)
	if v, ok := asOwn(err); ok {
		return v
	}
	// The order matters: go-containerregistry tries HTTPS and plain HTTP at
	// once for registries that look local, and reports both failures; the
	// HTTPS one (a dial or certificate error) is the one worth telling.
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return verdict{ErrTimeout, "the registry did not answer before the lookup deadline"}
	case errors.Is(err, context.Canceled):
		return verdict{ErrTimeout, "the lookup was cancelled"}
	case errors.As(err, &acr):
		if acr.auth {
			return verdict{ErrUnauthorized, acr.msg}
		}
		return verdict{ErrRegistry, acr.msg}
	case errors.As(err, &terr):
		return classifyStatus(terr)
	case errors.As(err, &uerr), errors.As(err, &herr), errors.As(err, &cerr):
		return verdict{ErrRegistry, "the registry's TLS certificate is not trusted by the webhook"}
	case errors.As(err, &nerr) && nerr.Timeout():
		return verdict{ErrTimeout, "the registry did not answer before the lookup deadline"}
	case errors.As(err, &derr):
		return verdict{ErrRegistry, "cannot resolve the registry's host name (" + derr.Error() + ")"}
	case errors.As(err, &oerr):
		return verdict{ErrRegistry, "cannot reach the registry (" + oerr.Error() + ")"}
	case errors.As(err, &plain):
		return verdict{ErrRegistry, plain.Error()}
	}
	return verdict{ErrRegistry, truncate(err.Error(), 300)}
}

// classifyStatus classifies a registry's error answer by its status and
// error codes. Only codes and the status go into the reason: a registry's
// free text is not ours to repeat.
func classifyStatus(terr *transport.Error) verdict {
	var codes []string
	for _, d := range terr.Errors {
		codes = append(codes, string(d.Code))
	}
	what := fmt.Sprintf("HTTP %d", terr.StatusCode)
	if len(codes) > 0 {
		what += " " + strings.Join(codes, ", ")
	}
	for _, c := range codes {
		switch transport.ErrorCode(c) {
		case transport.ManifestUnknownErrorCode, transport.NameUnknownErrorCode, transport.BlobUnknownErrorCode:
			return verdict{ErrNotFound, "the registry has no such image (" + what + ")"}
		case transport.UnauthorizedErrorCode, transport.DeniedErrorCode:
			return verdict{ErrUnauthorized, "the registry refused access (" + what + ")"}
		}
	}
	switch terr.StatusCode {
	case http.StatusNotFound:
		return verdict{ErrNotFound, "the registry has no such image (" + what + ")"}
	case http.StatusUnauthorized, http.StatusForbidden:
		return verdict{ErrUnauthorized, "the registry refused access (" + what + ")"}
	case http.StatusTooManyRequests:
		return verdict{ErrRegistry, "the registry is rate-limiting the webhook (" + what + ")"}
	}
	return verdict{ErrRegistry, "the registry answered with an error (" + what + ")"}
}

// movesOn reports whether, after an attempt failed with class, the next
// credential may succeed: a registry that refuses one credential, or hides a
// private image as "not found", may accept the next.
func movesOn(class error) bool {
	return errors.Is(class, ErrUnauthorized) || errors.Is(class, ErrNotFound)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
