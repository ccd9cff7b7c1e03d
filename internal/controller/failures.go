package controller

import (
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/latchkey-dev/latchkey/internal/backend"
	"github.com/latchkey-dev/latchkey/internal/output"
)

// storeFailure turns a failed read into the outcome users see, by its
// backend class. The messages come from the backend (keyvault.Error names
// the object and Key Vault's answer), never a value or a token.
func storeFailure(err error) outcome {
	o := outcome{message: err.Error(), reason: ReasonKeyVaultUnavailable}
	switch {
	case errors.Is(err, backend.ErrNotFound):
		o.reason = ReasonObjectNotFound
	case errors.Is(err, backend.ErrForbidden):
		o.reason = ReasonForbidden
	case errors.Is(err, backend.ErrAuthentication):
		o.reason = ReasonAuthenticationFailed
	case errors.Is(err, backend.ErrThrottled):
		o.reason = ReasonThrottled
		o.retryAfter, _ = backend.RetryAfter(err)
	case errors.Is(err, backend.ErrInvalidObject):
		o.reason = ReasonInvalidOutput
	}
	return o
}

// renderFailure turns a rendering error into an outcome. These are problems
// of the spec or the object's shape: retrying without a change cannot help,
// except that the object in Key Vault may be fixed, which the next refresh
// (backoff) picks up.
func renderFailure(t target, err error) outcome {
	o := outcome{reason: ReasonInvalidOutput, message: fmt.Sprintf("%s %s: %v", t.kind.name(), t.name, err)}
	switch {
	case errors.Is(err, output.ErrNotExportable):
		o.reason = ReasonNotExportable
	case errors.Is(err, output.ErrDataKeyRequired):
		o.permanent = true
	}
	return o
}

func apierrorsIsNotFound(err error) bool { return apierrors.IsNotFound(err) }

// sameData reports whether two data maps hold the same keys and values.
func sameData(a, b map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || string(w) != string(v) {
			return false
		}
	}
	return true
}

func semanticEqual(a, b runtime.Object) bool { return equality.Semantic.DeepEqual(a, b) }
