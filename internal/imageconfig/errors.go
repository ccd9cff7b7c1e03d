package imageconfig

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"syscall"

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
	// ErrTooLarge: the registry sent more than the webhook reads: a
	// manifest, index, config or other answer over its size limit, an
	// index listing too many manifests, or an ENTRYPOINT/CMD too long.
	ErrTooLarge = errors.New("image metadata too large")
	// ErrRegistry: anything else: the registry is unreachable or at an
	// address the webhook does not reach, answered with a server error,
	// spoke plain HTTP without being allowed to, or served something that is
	// not a valid container image.
	ErrRegistry = errors.New("registry error")
)

// LookupError is a failed lookup, worded for the user who created the pod:
// which image, for which platform, why, and what to do instead. It never
// holds a credential, and it says no more about the registry's network
// than the pod's author needs: the class of failure and the registry as
// the pod names it, never the registry's answers, the addresses its host
// names resolve to, or the hosts it sends the webhook to.
type LookupError struct {
	Image    string
	Platform Platform
	// Class is one of the Err* sentinels.
	Class error
	// Reason says why in words, one clause per credential tried, e.g.
	// `pull secret "regcred": the registry refused access (HTTP 401
	// UNAUTHORIZED); anonymous access: ...`.
	Reason string
	// cause is context.DeadlineExceeded or context.Canceled when the
	// lookup ran out of time, for errors.Is; it is not part of the message.
	// (Nothing larger is kept: failures are cached.)
	cause error
}

// maxImageInMessage bounds how much of the pod's image a message repeats.
const maxImageInMessage = 300

// Error is the message the webhook returns as its admission error.
func (e *LookupError) Error() string {
	return fmt.Sprintf("cannot read the ENTRYPOINT and CMD of image %q for %s: %v: %s; "+
		"set command (and args) on this container in the pod spec so the image need not be looked up",
		truncate(e.Image, maxImageInMessage), e.Platform, e.Class, e.Reason)
}

// Unwrap gives errors.Is/As the class and the context error, if any.
func (e *LookupError) Unwrap() []error {
	if e.cause == nil {
		return []error{e.Class}
	}
	return []error{e.Class, e.cause}
}

// contextCause is the context sentinel err stands for, if any.
func contextCause(err error) error {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return context.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		return context.Canceled
	}
	return nil
}

// errPlainHTTP is what the transport answers when a registry would be
// spoken to without TLS although it is not in the insecure list.
type errPlainHTTP struct{ host string }

func (e *errPlainHTTP) Error() string {
	return "plain HTTP to " + e.host + " is not allowed"
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

// tooLargeError: an answer, or a size a document declares, over a limit.
type tooLargeError struct {
	// what was too large, e.g. "image config".
	what  string
	limit int64
	// declared: the size was declared (in a manifest or index, or as
	// Content-Length) and nothing was fetched past it.
	declared bool
}

func (e *tooLargeError) Error() string {
	verb := "is"
	if e.declared {
		verb = "is declared"
	}
	return fmt.Sprintf("the registry's %s %s larger than the webhook reads (%s)", e.what, verb, describeLimit(e.limit))
}

func asTooLarge(err error) (*tooLargeError, bool) {
	var tl *tooLargeError
	ok := errors.As(err, &tl)
	return tl, ok
}

// tooManyManifestsError: an index listing more than maxIndexManifests.
type tooManyManifestsError struct{ n int }

func (e *tooManyManifestsError) Error() string {
	return fmt.Sprintf("the image index lists %d manifests, more than the webhook reads (%d)", e.n, maxIndexManifests)
}

// invalidDocumentError: a manifest, index or config that does not parse
// or lacks what the lookup needs. The parser's error is kept for the log,
// not the message (it can quote the document).
type invalidDocumentError struct {
	what string
	err  error
}

func (e *invalidDocumentError) Error() string { return "the registry served an invalid " + e.what }
func (e *invalidDocumentError) Unwrap() error { return e.err }

// mismatchError: content that does not match the digest or size its
// descriptor declares.
type mismatchError struct {
	what string
	how  string // "digest" or "size"
}

func (e *mismatchError) Error() string {
	return fmt.Sprintf("the registry served an %s that does not match its %s", e.what, e.how)
}

// errAddressRefused: a dial to an address the network policy refuses.
type errAddressRefused struct{ host string }

func (e *errAddressRefused) Error() string {
	return "the webhook does not connect to " + e.host + ": a loopback, link-local, cloud metadata or denied address"
}

// errTooManyRedirects: a redirect chain longer than maxRedirects.
type errTooManyRedirects struct{}

func (*errTooManyRedirects) Error() string {
	return fmt.Sprintf("the registry redirected the webhook more than %d times", maxRedirects)
}

// errEncoding: an answer in a Content-Encoding the webhook does not read.
type errEncoding struct{ encoding string }

func (e *errEncoding) Error() string {
	return "the registry answered in a content encoding the webhook does not read"
}

// platformError: an index without a manifest for the platform.
type platformError struct {
	want      Platform
	available string
}

func (e *platformError) Error() string {
	return fmt.Sprintf("the image index has no manifest for %s; it has %s", e.want, e.available)
}

// notImageError: the reference names something other than a container
// image (a Helm chart, a signature, ...).
type notImageError struct {
	// what the reference names, as a message may say it.
	what string
}

func (e *notImageError) Error() string {
	return "the reference is not a container image (" + e.what + ")"
}

// knownMediaTypes are the media types a message may name: those of
// artifacts people push beside images. Any other is a registry's word
// (or an internal service's, through a redirect), not repeated.
var knownMediaTypes = []string{
	"application/vnd.cncf.helm.config.v1+json",
	"application/vnd.oci.empty.v1+json",
	"application/vnd.oci.image.index.v1+json",
	"application/vnd.docker.distribution.manifest.list.v2+json",
	"application/vnd.in-toto+json",
	"application/vnd.wasm.config.v1+json",
	"application/vnd.sylabs.sif.config.v1+json",
	"application/vnd.unknown.config.v1+json",
	"application/vnd.dev.cosign.artifact.sig.v1+json",
	"application/vnd.dev.sigstore.bundle.v0.3+json",
}

// describeMediaType is mediaType as a message may say it.
func describeMediaType(mediaType string) string {
	if slices.Contains(knownMediaTypes, mediaType) {
		return "media type " + mediaType
	}
	return "a media type the webhook does not know"
}

// verdict is a failure's class (one of the Err* sentinels) and a short
// reason in words.
type verdict struct {
	class  error
	reason string
}

// Where a failed request went, in messages: the registry as the pod names
// it, or another host, which is never named (a registry chooses its token
// service and redirect targets, and may point them at internal addresses).
const (
	theRegistry = "the registry"
	otherHost   = "a host the registry sent the webhook to (its token service or a redirect)"
)

// classify maps the error of one attempt against registry (host[:port] as
// in the image reference) to its verdict.
func classify(err error, registry string) verdict {
	where := theRegistry
	if h := failedHost(err); h != "" && !strings.EqualFold(h, registry) {
		where = otherHost
	}
	if v, ok := asOwn(err, where); ok {
		return v
	}
	var (
		terr  *transport.Error
		acr   *acrError
		uerr  x509.UnknownAuthorityError
		herr  x509.HostnameError
		cerr  *x509.CertificateInvalidError
		nerr  net.Error
		derr  *net.DNSError
		oerr  *net.OpError
		plain *errPlainHTTP
	)
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
		return verdict{ErrRegistry, "the TLS certificate of " + where + " is not trusted by the webhook"}
	case errors.As(err, &nerr) && nerr.Timeout():
		return verdict{ErrTimeout, where + " did not answer before the lookup deadline"}
	case where == otherHost && (errors.As(err, &derr) || errors.As(err, &oerr)):
		// Neither "no such name" nor "refused" about a host the registry
		// chose: that would tell which internal names exist.
		return verdict{ErrRegistry, "cannot reach " + where}
	case errors.As(err, &derr):
		return verdict{ErrRegistry, "cannot resolve the registry's host name"}
	case errors.Is(err, syscall.ECONNREFUSED):
		return verdict{ErrRegistry, "the registry refused the connection"}
	case errors.As(err, &oerr):
		return verdict{ErrRegistry, "cannot reach the registry"}
	case errors.As(err, &plain) && where == theRegistry:
		return verdict{ErrRegistry, "plain HTTP to the registry is not allowed (it is not in the webhook's insecure registries list)"}
	case errors.As(err, &plain):
		return verdict{ErrRegistry, "the registry sent the webhook to a host over plain HTTP, which is not allowed"}
	}
	return verdict{ErrRegistry, "the answer of " + where + " could not be used (a broken connection, a token service or redirect the webhook refuses, or content that does not match what the registry declared)"}
}

// asOwn classifies the package's own failure types.
func asOwn(err error, where string) (verdict, bool) {
	var (
		pe   *platformError
		ne   *notImageError
		tl   *tooLargeError
		tm   *tooManyManifestsError
		inv  *invalidDocumentError
		mm   *mismatchError
		ar   *errAddressRefused
		rd   *errTooManyRedirects
		enc  *errEncoding
		busy *busyError
	)
	switch {
	case errors.As(err, &pe):
		return verdict{ErrNoMatchingPlatform, pe.Error()}, true
	case errors.As(err, &ne):
		return verdict{ErrRegistry, ne.Error()}, true
	case errors.As(err, &tl):
		return verdict{ErrTooLarge, tl.Error()}, true
	case errors.As(err, &tm):
		return verdict{ErrTooLarge, tm.Error()}, true
	case errors.As(err, &inv):
		return verdict{ErrRegistry, inv.Error()}, true
	case errors.As(err, &mm):
		return verdict{ErrRegistry, mm.Error()}, true
	case errors.As(err, &rd):
		return verdict{ErrRegistry, rd.Error()}, true
	case errors.As(err, &enc):
		return verdict{ErrRegistry, enc.Error()}, true
	case errors.As(err, &busy):
		return verdict{ErrTimeout, busy.Error()}, true
	case errors.As(err, &ar):
		if where == theRegistry {
			return verdict{ErrRegistry, "the registry's address is one the webhook does not connect to (loopback, link-local, cloud metadata, or a network it is told to refuse)"}, true
		}
		return verdict{ErrRegistry, "the registry sent the webhook to an address it does not connect to (loopback, link-local, cloud metadata, or a network it is told to refuse)"}, true
	}
	return verdict{}, false
}

// failedHost is the host[:port] of the request err is about, if it says.
func failedHost(err error) string {
	var (
		ue    *url.Error
		plain *errPlainHTTP
		terr  *transport.Error
	)
	switch {
	case errors.As(err, &terr) && terr.Request != nil && terr.Request.URL != nil:
		return terr.Request.URL.Host
	case errors.As(err, &ue):
		if u, perr := url.Parse(ue.URL); perr == nil {
			return u.Host
		}
	case errors.As(err, &plain):
		return plain.host
	}
	return ""
}

// knownCodes are the error codes of the distribution spec. A registry's
// other codes, like its free text, are not ours to repeat.
var knownCodes = []transport.ErrorCode{
	transport.BlobUnknownErrorCode, transport.BlobUploadInvalidErrorCode, transport.BlobUploadUnknownErrorCode,
	transport.DigestInvalidErrorCode, transport.ManifestBlobUnknownErrorCode, transport.ManifestInvalidErrorCode,
	transport.ManifestUnknownErrorCode, transport.ManifestUnverifiedErrorCode, transport.NameInvalidErrorCode,
	transport.NameUnknownErrorCode, transport.SizeInvalidErrorCode, transport.TagInvalidErrorCode,
	transport.UnauthorizedErrorCode, transport.DeniedErrorCode, transport.UnsupportedErrorCode,
	transport.TooManyRequestsErrorCode, transport.UnknownErrorCode, transport.UnavailableErrorCode,
}

// classifyStatus classifies a registry's error answer by its status and
// error codes. Only the status and the spec's codes go into the reason.
func classifyStatus(terr *transport.Error) verdict {
	var codes []string
	for _, d := range terr.Errors {
		if slices.Contains(knownCodes, d.Code) && !slices.Contains(codes, string(d.Code)) {
			codes = append(codes, string(d.Code))
		}
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
