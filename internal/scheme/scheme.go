// Package scheme builds the runtime.Scheme every latchkey server's clients
// use: Kubernetes' built-in types and the spv.no API. It is its own package
// so the webhook and the resolver get it without linking the controller.
package scheme

import (
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"

	"github.com/latchkey-dev/latchkey/api/v2beta1"
)

// New returns a scheme with core types and AzureKeyVaultSecret.
func New() *runtime.Scheme {
	s := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(s) // adding known types to a new scheme cannot fail
	_ = v2beta1.AddToScheme(s)
	return s
}
