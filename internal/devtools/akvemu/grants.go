package akvemu

import (
	"crypto/sha1" // #nosec G505 -- x5t is SHA-1 by definition (RFC 7515); used to look certificates up, not for security.
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// OAuth constants of the token endpoint.
const (
	grantClientCredentials = "client_credentials"
	grantPassword          = "password"
	assertionTypeJWTBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" // #nosec G101 -- a protocol constant
)

// tokenGrant is a parsed token request.
type tokenGrant struct {
	tenant   *tenant
	tenantIn string
	// endpoint is the token endpoint URL the client posted to; certificate
	// assertions must name it as their audience.
	endpoint string
	form     url.Values
}

// The Entra errors the token endpoint answers, with Entra's codes and texts.
func errUnknownTenant(t string) *entraError {
	return &entraError{status: http.StatusBadRequest, code: "invalid_request", aadsts: 90002, desc: fmt.Sprintf(
		"Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.", t)}
}

func errUnknownApp(clientID, tenantID string) *entraError {
	return &entraError{status: http.StatusBadRequest, code: "unauthorized_client", aadsts: 700016, desc: fmt.Sprintf(
		"Application with identifier '%s' was not found in the directory '%s'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.", clientID, tenantID)}
}

func errBadSecret(clientID string) *entraError {
	return &entraError{status: http.StatusUnauthorized, code: "invalid_client", aadsts: 7000215, desc: fmt.Sprintf(
		"Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.", clientID)}
}

func errNoCredential() *entraError {
	return &entraError{status: http.StatusUnauthorized, code: "invalid_client", aadsts: 7000218,
		desc: "The request body must contain the following parameter: 'client_assertion' or 'client_secret'."}
}

func errAssertion(aadsts int, format string, args ...any) *entraError {
	return &entraError{status: http.StatusUnauthorized, code: "invalid_client", aadsts: aadsts, desc: fmt.Sprintf(format, args...)}
}

func errNoFederatedMatch(c claims) *entraError {
	return &entraError{status: http.StatusBadRequest, code: "invalid_request", aadsts: 70021, desc: fmt.Sprintf(
		"No matching federated identity record found for presented assertion. Assertion Issuer: '%s'. Assertion Subject: '%s'. Assertion Audience: '%s'.", c.Iss, c.Sub, strings.Join(c.Aud, ","))}
}

func errBadRequest(aadsts int, desc string) *entraError {
	return &entraError{status: http.StatusBadRequest, code: "invalid_request", aadsts: aadsts, desc: desc}
}

// authorizeGrant checks a token request and returns who the token is for.
func (d *directory) authorizeGrant(g tokenGrant, now time.Time) (principal, *entraError) {
	clientID := g.form.Get("client_id")
	if clientID == "" {
		return principal{}, errBadRequest(900144, "The request body must contain the following parameter: 'client_id'.")
	}
	a := d.app(clientID)
	if a == nil || !strings.EqualFold(a.tenantID, g.tenant.id) {
		return principal{}, errUnknownApp(clientID, g.tenantIn)
	}
	switch gt := g.form.Get("grant_type"); gt {
	case grantClientCredentials:
		if err := d.authenticateClient(a, g, now, false); err != nil {
			return principal{}, err
		}
		return principal{tenantID: g.tenant.id, objectID: a.objectID, appID: a.clientID}, nil
	case grantPassword:
		if err := d.authenticateClient(a, g, now, a.publicClient); err != nil {
			return principal{}, err
		}
		u, err := passwordUser(g.tenant, g.form.Get("username"), g.form.Get("password"))
		if err != nil {
			return principal{}, err
		}
		return principal{tenantID: g.tenant.id, objectID: u.objectID, appID: a.clientID, upn: u.username}, nil
	case "":
		return principal{}, errBadRequest(900144, "The request body must contain the following parameter: 'grant_type'.")
	default:
		return principal{}, &entraError{status: http.StatusBadRequest, code: "unsupported_grant_type", aadsts: 70003,
			desc: fmt.Sprintf("The app requested an unsupported grant type '%s'.", gt)}
	}
}

// authenticateClient checks the client secret or client assertion. A public
// client may send neither.
func (d *directory) authenticateClient(a *app, g tokenGrant, now time.Time, publicOK bool) *entraError {
	if secret := g.form.Get("client_secret"); secret != "" {
		for _, s := range a.secrets {
			if subtle.ConstantTimeCompare([]byte(s), []byte(secret)) == 1 {
				return nil
			}
		}
		return errBadSecret(a.clientID)
	}
	if assertion := g.form.Get("client_assertion"); assertion != "" {
		if t := g.form.Get("client_assertion_type"); t != assertionTypeJWTBearer {
			return errBadRequest(70002, fmt.Sprintf("The client_assertion_type '%s' is not supported.", t))
		}
		return d.verifyAssertion(a, assertion, g.endpoint, now)
	}
	if publicOK {
		return nil
	}
	return errNoCredential()
}

// passwordUser checks a username and password in a tenant.
func passwordUser(t *tenant, username, password string) (*user, *entraError) {
	u := t.users[strings.ToLower(username)]
	if u == nil {
		return nil, &entraError{status: http.StatusBadRequest, code: "invalid_grant", aadsts: 50034,
			desc: fmt.Sprintf("The user account %s does not exist in the %s directory. To sign into this application, the account must be added to the directory.", username, t.id)}
	}
	if subtle.ConstantTimeCompare([]byte(u.password), []byte(password)) != 1 {
		return nil, &entraError{status: http.StatusBadRequest, code: "invalid_grant", aadsts: 50126,
			desc: "Error validating credentials due to invalid username or password."}
	}
	return u, nil
}

// verifyAssertion checks a client assertion: a certificate-signed JWT the app
// made itself (iss = sub = client ID), or a token of a federated issuer.
func (d *directory) verifyAssertion(a *app, assertion, endpoint string, now time.Time) *entraError {
	tok, err := parseJWT(assertion)
	if err != nil {
		return errAssertion(50027, "JWT token is invalid or malformed.")
	}
	if strings.EqualFold(tok.claims.Iss, a.clientID) {
		return verifyCertificateAssertion(a, tok, endpoint, now)
	}
	return d.verifyFederatedAssertion(a, tok, now)
}

// verifyCertificateAssertion checks a JWT signed with one of the app's
// certificates, found by its x5t#S256 or x5t thumbprint.
func verifyCertificateAssertion(a *app, tok *parsedJWT, endpoint string, now time.Time) *entraError {
	cert, thumb := findCertificate(a.certs, tok.header)
	if cert == nil {
		return errAssertion(700027, "The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '%s']", thumb)
	}
	if err := tok.verify(cert.PublicKey); err != nil {
		return errAssertion(700027, "Client assertion contains an invalid signature. [Reason - The provided signature value did not match the expected signature value., Thumbprint of key used by client: '%s']", thumb)
	}
	c := tok.claims
	if !strings.EqualFold(c.Sub, a.clientID) {
		return errAssertion(700023, "Client assertion subject '%s' does not match the client ID '%s'.", c.Sub, a.clientID)
	}
	if !audienceMatches(c.Aud, endpoint) {
		return errAssertion(700212, "The audience in the client assertion '%s' does not match the token endpoint '%s'.", strings.Join(c.Aud, ","), endpoint)
	}
	return assertionTimes(c, now)
}

// audienceMatches accepts the token endpoint in either case, with or
// without a trailing slash, as Entra does.
func audienceMatches(aud audience, endpoint string) bool {
	want := strings.TrimSuffix(strings.ToLower(endpoint), "/")
	for _, a := range aud {
		if strings.TrimSuffix(strings.ToLower(a), "/") == want {
			return true
		}
	}
	return false
}

// assertionTimes checks exp and nbf with Entra's clock skew.
func assertionTimes(c claims, now time.Time) *entraError {
	exp := time.Unix(int64(c.Exp), 0)
	if c.Exp == 0 || now.After(exp.Add(clockSkew)) {
		return errAssertion(700024, "Client assertion is not within its valid time range. Current time: %s, expiry time of assertion %s.", now.UTC().Format(time.RFC3339), exp.UTC().Format(time.RFC3339))
	}
	if c.Nbf != 0 && now.Add(clockSkew).Before(time.Unix(int64(c.Nbf), 0)) {
		return errAssertion(700024, "Client assertion is not within its valid time range. Current time: %s, assertion valid from %s.", now.UTC().Format(time.RFC3339), time.Unix(int64(c.Nbf), 0).UTC().Format(time.RFC3339))
	}
	return nil
}

// findCertificate looks a certificate up by the JWT header's thumbprint
// (standard or URL base64, as MSAL and others write it).
func findCertificate(certs []*x509.Certificate, h jwtHeader) (*x509.Certificate, string) {
	want, thumb, sha256Thumb := []byte(nil), "", true
	if h.X5tS256 != "" {
		want = decodeAnyBase64(h.X5tS256)
	} else if h.X5t != "" {
		want, sha256Thumb = decodeAnyBase64(h.X5t), false
	}
	thumb = fmt.Sprintf("%X", want)
	if len(want) == 0 {
		return nil, thumb
	}
	for _, c := range certs {
		var got []byte
		if sha256Thumb {
			s := sha256.Sum256(c.Raw)
			got = s[:]
		} else {
			s := sha1.Sum(c.Raw) // #nosec G401 -- thumbprint lookup only.
			got = s[:]
		}
		if subtle.ConstantTimeCompare(got, want) == 1 {
			return c, thumb
		}
	}
	return nil, thumb
}

// decodeAnyBase64 decodes standard or URL base64, padded or not.
func decodeAnyBase64(s string) []byte {
	s = strings.TrimRight(s, "=")
	if b, err := base64.RawURLEncoding.DecodeString(s); err == nil {
		return b
	}
	if b, err := base64.RawStdEncoding.DecodeString(s); err == nil {
		return b
	}
	return nil
}

// verifyFederatedAssertion checks a token of a federated issuer against the
// app's federated credentials (issuer, subject, audience), its validity
// window, and, when the issuer's keys are configured, its signature.
func (d *directory) verifyFederatedAssertion(a *app, tok *parsedJWT, now time.Time) *entraError {
	c := tok.claims
	matched := false
	for _, f := range a.federated {
		auds := f.Audiences
		if len(auds) == 0 {
			auds = []string{defaultFederatedAudience}
		}
		if f.Issuer != c.Iss || f.Subject != c.Sub {
			continue
		}
		for _, want := range auds {
			if c.Aud.contains(want) {
				matched = true
			}
		}
	}
	if !matched {
		return errNoFederatedMatch(c)
	}
	if err := assertionTimes(c, now); err != nil {
		return err
	}
	keys, configured := d.issuerKeys(c.Iss)
	if !configured {
		return nil
	}
	for _, k := range keys {
		if tok.header.Kid != "" && k.kid != "" && k.kid != tok.header.Kid {
			continue
		}
		if tok.verify(k.key) == nil {
			return nil
		}
	}
	return errAssertion(5002738, "Invalid JWT token. The signature of the assertion issued by '%s' does not verify with the issuer's keys.", c.Iss)
}
