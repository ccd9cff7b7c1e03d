package imageconfig

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/go-logr/logr"
	"github.com/google/go-containerregistry/pkg/authn"
)

// acrNullGUID is the user name that tells ACR the password is an ACR
// refresh token (https://github.com/Azure/acr/blob/main/docs/AAD-OAuth.md,
// "Authenticating docker with an ACR refresh token").
const acrNullGUID = "00000000-0000-0000-0000-000000000000"

// acrScope is the Entra ID scope of the token the exchange takes: ACR's
// own audience, which every registry accepts. A registry whose
// "authentication-as-arm" policy is disabled (Azure Policy's "Container
// registries should have ARM audience token authentication disabled")
// refuses Azure Resource Manager tokens; and a token for ACR's audience is
// of no use to anyone against ARM. The audience is the same in the public,
// China and US Government clouds.
const acrTokenScope = "https://containerregistry.azure.net/.default" //nolint:gosec // an OAuth scope, not a credential

// acrSuffixes are the DNS suffixes of Azure Container Registry login servers.
var acrSuffixes = []string{".azurecr.io", ".azurecr.cn", ".azurecr.us"}

// acrScope is the token scope for registry host, and whether host is an
// ACR login server at all (a host with a port is not).
func acrScope(host string) (string, bool) {
	host = strings.ToLower(host)
	for _, suffix := range acrSuffixes {
		if strings.HasSuffix(host, suffix) && len(host) > len(suffix) && !strings.Contains(host, ":") {
			return acrTokenScope, true
		}
	}
	return "", false
}

const (
	// acrTokenFallbackTTL is how long an ACR refresh token whose expiry
	// cannot be read is reused.
	acrTokenFallbackTTL = 10 * time.Minute
	// acrTokenMargin is how long before its expiry a refresh token is
	// replaced, so a lookup never starts with one about to lapse.
	acrTokenMargin = 5 * time.Minute
	// maxExchangeBody bounds the exchange answer we read.
	maxExchangeBody = 64 << 10
)

// acrExchanger turns the webhook's Azure identity into ACR refresh tokens,
// one per registry, reused until shortly before they expire. Concurrent
// lookups of different images of one registry may each exchange once when
// no token is stored; lookups of one image share a lookup and so an
// exchange.
type acrExchanger struct {
	cred   azcore.TokenCredential
	tenant string
	client *http.Client
	now    func() time.Time
	log    logr.Logger

	mu     sync.Mutex
	tokens map[string]acrToken
}

type acrToken struct {
	value   string
	expires time.Time
}

// authenticator is an authn.Authenticator for registry whose credentials
// are exchanged only when the registry asks for them.
func (x *acrExchanger) authenticator(registry string) authn.Authenticator {
	return &acrAuthenticator{x: x, registry: strings.ToLower(registry)}
}

type acrAuthenticator struct {
	x        *acrExchanger
	registry string
}

// Authorization implements authn.Authenticator. go-containerregistry calls
// AuthorizationContext, with the lookup's context, instead.
func (a *acrAuthenticator) Authorization() (*authn.AuthConfig, error) {
	return a.AuthorizationContext(context.Background())
}

// AuthorizationContext implements authn.ContextAuthenticator.
func (a *acrAuthenticator) AuthorizationContext(ctx context.Context) (*authn.AuthConfig, error) {
	tok, err := a.x.refreshToken(ctx, a.registry)
	if err != nil {
		return nil, err
	}
	return &authn.AuthConfig{Username: acrNullGUID, Password: tok}, nil
}

// refreshToken returns a stored ACR refresh token for registry, or
// exchanges a new one.
func (x *acrExchanger) refreshToken(ctx context.Context, registry string) (string, error) {
	now := x.now()
	x.mu.Lock()
	t, ok := x.tokens[registry]
	x.mu.Unlock()
	if ok && now.Before(t.expires) {
		return t.value, nil
	}
	t, err := x.exchange(ctx, registry)
	if err != nil {
		return "", err
	}
	x.mu.Lock()
	x.tokens[registry] = t
	x.mu.Unlock()
	return t.value, nil
}

// exchange makes the two calls of the ACR token exchange: an Entra ID
// access token for ACR's audience from the webhook's credential, then
// POST https://<registry>/oauth2/exchange with grant_type=access_token.
// Failures are logged here in full and returned as a fixed sentence: the
// user who created the pod learns that the webhook's identity could not
// pull, not the details of that identity.
func (x *acrExchanger) exchange(ctx context.Context, registry string) (acrToken, error) {
	scope, _ := acrScope(registry)
	at, err := x.cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{scope}})
	if err != nil {
		if ctx.Err() != nil {
			return acrToken{}, ctx.Err()
		}
		x.log.Error(err, "The webhook's Azure identity could not get a token for the ACR token exchange", "registry", registry, "scope", scope)
		return acrToken{}, &acrError{auth: true, msg: "the webhook's Azure identity could not get an Entra ID token for the ACR token exchange"}
	}
	form := url.Values{
		"grant_type":   {"access_token"},
		"service":      {registry},
		"access_token": {at.Token},
	}
	if tenant := x.tenantOf(at.Token); tenant != "" {
		form.Set("tenant", tenant)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+registry+"/oauth2/exchange", strings.NewReader(form.Encode()))
	if err != nil {
		return acrToken{}, &acrError{msg: "cannot build the ACR token exchange request"}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := x.client.Do(req)
	if err != nil {
		// Network errors name the URL, which holds no credential.
		return acrToken{}, fmt.Errorf("ACR token exchange: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxExchangeBody))
	if err != nil {
		return acrToken{}, fmt.Errorf("ACR token exchange: reading the answer: %w", err)
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		x.log.Info("ACR refused the webhook's Azure identity in the token exchange", "registry", registry, "status", resp.StatusCode)
		return acrToken{}, &acrError{auth: true, msg: fmt.Sprintf("the registry refused the webhook's Azure identity in the ACR token exchange (HTTP %d)", resp.StatusCode)}
	case resp.StatusCode != http.StatusOK:
		return acrToken{}, &acrError{msg: fmt.Sprintf("the ACR token exchange failed (HTTP %d)", resp.StatusCode)}
	}
	var answer struct {
		RefreshToken string `json:"refresh_token"`
	}
	if err := json.Unmarshal(body, &answer); err != nil || answer.RefreshToken == "" {
		return acrToken{}, &acrError{msg: "the ACR token exchange answered without a refresh token"}
	}
	return acrToken{value: answer.RefreshToken, expires: x.expiry(answer.RefreshToken)}, nil
}

// tenantOf is the tenant to name in the exchange: the configured one, else
// the access token's own (its "tid" claim).
func (x *acrExchanger) tenantOf(accessToken string) string {
	if x.tenant != "" {
		return x.tenant
	}
	return jwtClaims(accessToken).TenantID
}

// expiry is when a refresh token stops being reused: acrTokenMargin before
// its "exp" claim (ACR refresh tokens are JWTs; one issued with less life
// left is used until "exp"), or acrTokenFallbackTTL from now when that
// cannot be read.
func (x *acrExchanger) expiry(token string) time.Time {
	now := x.now()
	if exp := jwtClaims(token).Expires; exp > 0 {
		end := time.Unix(exp, 0)
		if t := end.Add(-acrTokenMargin); t.After(now) {
			return t
		}
		return end // a token issued inside the margin: use it while it lasts
	}
	return now.Add(acrTokenFallbackTTL)
}

// claims are the few JWT claims we read; the signature is not checked
// (the tokens come from Entra ID and ACR over TLS, and are only passed on).
type claims struct {
	TenantID string `json:"tid"`
	Expires  int64  `json:"exp"`
}

// jwtClaims reads a JWT's payload; anything else gives zero claims.
func jwtClaims(token string) claims {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return claims{}
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return claims{}
	}
	var c claims
	if json.Unmarshal(payload, &c) != nil {
		return claims{}
	}
	return c
}
