package backends

import (
	"context"
	"fmt"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// ServiceAccountTokens requests tokens from the API server (the
// serviceaccounts/token subresource): bound to nothing but the audience
// and the expiry asked for. The process needs create on
// serviceaccounts/token, which the chart limits to the ServiceAccounts
// resources and the install name.
type ServiceAccountTokens struct {
	Client kubernetes.Interface
}

// ServiceAccountToken implements vaultkv.TokenRequester.
func (t ServiceAccountTokens) ServiceAccountToken(ctx context.Context, namespace, name string, audiences []string, expiry time.Duration) (string, error) {
	secs := int64(expiry / time.Second)
	tr, err := t.Client.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{Audiences: audiences, ExpirationSeconds: &secs},
	}, metav1.CreateOptions{})
	if err != nil {
		// The API server's error names the ServiceAccount and the verb,
		// never a token.
		return "", fmt.Errorf("TokenRequest: %w", err)
	}
	return tr.Status.Token, nil
}
