package akvemu

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Errors of access-token validation.
var (
	errTokenKey     = errors.New("unknown signing key")
	errTokenExpired = errors.New("token expired")
	errTokenNotYet  = errors.New("token not yet valid")
)

// clockSkew is the leeway for token and assertion times, as Entra and Key Vault allow.
const clockSkew = 5 * time.Minute

// principal is who a token speaks for.
type principal struct {
	tenantID string
	objectID string
	appID    string
	// upn is set for users.
	upn string
	// miResID is set for managed identities.
	miResID string
}

// tokenSigner issues and checks the emulator's access tokens (RS256).
type tokenSigner struct {
	key      *rsa.PrivateKey
	kid      string
	lifetime time.Duration
}

// newTokenSigner creates a fresh RSA signing key.
func newTokenSigner(lifetime time.Duration) (*tokenSigner, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("generating token signing key: %w", err)
	}
	sum := sha256.Sum256(key.N.Bytes())
	return &tokenSigner{key: key, kid: b64u(sum[:15]), lifetime: lifetime}, nil
}

// issue signs an access token for p with audience resource. The issuer is the
// v1 issuer of the cloud the resource belongs to, as Key Vault expects.
func (t *tokenSigner) issue(p principal, resource string, now time.Time) (string, time.Time, error) {
	exp := now.Add(t.lifetime)
	c := claims{
		Aud:     audience{resource},
		Iss:     cloudForResource(resource).issuer(p.tenantID),
		Iat:     numericDate(now.Unix()),
		Nbf:     numericDate(now.Unix()),
		Exp:     numericDate(exp.Unix()),
		Tid:     p.tenantID,
		Oid:     p.objectID,
		Sub:     p.objectID,
		AppID:   p.appID,
		Azp:     p.appID,
		Ver:     "1.0",
		MIResID: p.miResID,
	}
	if p.upn != "" {
		c.Idtyp, c.Upn, c.Name, c.Scp = "user", p.upn, p.upn, "user_impersonation"
	} else {
		c.Idtyp = "app"
	}
	tok, err := signRS256(t.key, jwtHeader{Kid: t.kid}, c)
	return tok, exp, err
}

// check verifies a token's signature and validity window; the caller checks
// audience and tenant, which depend on the vault.
func (t *tokenSigner) check(raw string, now time.Time) (*claims, error) {
	tok, err := parseJWT(raw)
	if err != nil {
		return nil, err
	}
	if tok.header.Kid != t.kid {
		return nil, errTokenKey
	}
	if err := tok.verify(&t.key.PublicKey); err != nil {
		return nil, err
	}
	c := tok.claims
	if now.After(time.Unix(int64(c.Exp), 0).Add(clockSkew)) {
		return nil, errTokenExpired
	}
	if c.Nbf != 0 && now.Add(clockSkew).Before(time.Unix(int64(c.Nbf), 0)) {
		return nil, errTokenNotYet
	}
	return &c, nil
}

// publicJWKS is the signing key as a JWKS, served at the discovery keys endpoint.
func (t *tokenSigner) publicJWKS() jwks {
	k, _ := publicJWK(&t.key.PublicKey) // an RSA key always encodes
	k.Kid, k.Use, k.Alg = t.kid, "sig", "RS256"
	return jwks{Keys: []jsonWebKey{k}}
}

// resourceFromScopes turns an OAuth v2 scope list into the resource a token is
// for: "https://vault.azure.net/.default" → "https://vault.azure.net". OIDC
// scopes (openid, profile, offline_access) are ignored; "" means none was given.
func resourceFromScopes(scope string) string {
	for _, s := range strings.Fields(scope) {
		switch s {
		case "openid", "profile", "offline_access", "email":
			continue
		}
		if r, ok := strings.CutSuffix(s, "/.default"); ok {
			return r
		}
		if i := strings.LastIndexByte(s, '/'); i > len("https://") {
			return s[:i]
		}
		return s
	}
	return ""
}
