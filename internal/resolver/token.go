package resolver

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"k8s.io/apimachinery/pkg/types"
)

// maxTokenBytes bounds a bearer token: a projected service-account token is
// about a kilobyte.
const maxTokenBytes = 16 << 10

// clockSkew is how far the API server's clock may run ahead of the
// resolver's: a token just issued may carry nbf and iat that far in the
// resolver's future. exp gets no leeway: the binary uses a fresh token.
const clockSkew = time.Minute

// SigningAlgorithms are the algorithms a service-account token may be
// signed with: kube-apiserver signs with RS256 (RSA keys) or ES256/384/512
// (EC keys); an external signer may use the RSA-PSS ones. Never "none", and
// never an HMAC (whose key would be the public key).
var SigningAlgorithms = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512, jose.ES256, jose.ES384, jose.ES512,
}

// Claims are what the resolver reads of a service-account token: the
// registered claims and Kubernetes' private claim, which names the pod the
// token is bound to.
type Claims struct {
	jwt.Claims
	Kubernetes *KubernetesClaims `json:"kubernetes.io,omitempty"`
}

// KubernetesClaims is the "kubernetes.io" claim of a token from the
// TokenRequest API.
type KubernetesClaims struct {
	Namespace      string     `json:"namespace"`
	ServiceAccount *ObjectRef `json:"serviceaccount,omitempty"`
	Pod            *ObjectRef `json:"pod,omitempty"`
}

// ObjectRef names an object a token is bound to.
type ObjectRef struct {
	Name string `json:"name"`
	UID  string `json:"uid"`
}

// Token check failures. Each is a 401 but errNoPodClaims (403: the token
// is authentic, just not a pod's) and errKeysUnavailable (503: retry).
var (
	errTokenMissing    = errors.New("no bearer token")
	errTokenMalformed  = errors.New("the token is not a JWT signed with an asymmetric key")
	errWrongAudience   = errors.New("the token is not for the resolver's audience")
	errTokenExpired    = errors.New("the token has expired")
	errTokenNotYet     = errors.New("the token is not valid yet")
	errWrongIssuer     = errors.New("the token is not from the cluster's service-account issuer")
	errBadSignature    = errors.New("the token's signature does not verify with the issuer's key")
	errUnknownKey      = errors.New("the token is signed with a key the service-account issuer does not publish")
	errNoPodClaims     = errors.New("the token is not bound to a pod")
	errKeysUnavailable = errors.New("the service-account issuer's keys cannot be read")
)

// Token is a parsed, not yet verified, token.
type Token struct {
	jws *jwt.JSONWebToken
	// KeyID and Algorithm are the header's kid and alg.
	KeyID, Algorithm string
	// Claims are unverified: they only decide whether the token is worth
	// verifying.
	Claims Claims
}

// ParseToken reads a compact JWS signed with one of SigningAlgorithms,
// without verifying it.
func ParseToken(raw string) (*Token, error) {
	if raw == "" {
		return nil, errTokenMissing
	}
	if len(raw) > maxTokenBytes || strings.Count(raw, ".") != 2 {
		return nil, errTokenMalformed
	}
	jws, err := jwt.ParseSigned(raw, SigningAlgorithms)
	if err != nil || len(jws.Headers) != 1 {
		return nil, errTokenMalformed
	}
	t := &Token{jws: jws, KeyID: jws.Headers[0].KeyID, Algorithm: jws.Headers[0].Algorithm}
	if err := jws.UnsafeClaimsWithoutVerification(&t.Claims); err != nil {
		return nil, errTokenMalformed
	}
	return t, nil
}

// Verify checks the signature with key and returns the claims as signed.
// The key's own alg, when it states one, must be the token's.
func (t *Token) Verify(key jose.JSONWebKey) (Claims, error) {
	if key.Algorithm != "" && key.Algorithm != t.Algorithm {
		return Claims{}, errBadSignature
	}
	var c Claims
	if err := t.jws.Claims(key.Key, &c); err != nil {
		return Claims{}, errBadSignature
	}
	return c, nil
}

// CheckClaims is the decision on a token's claims: issued by issuer (any
// issuer when empty: TokenReview decides then), for audience, exp after
// now, nbf and iat not after now (within clockSkew). It needs no key, so
// it runs on the unverified claims first, which costs a forged token
// nothing, and again on the verified ones.
func CheckClaims(c Claims, issuer, audience string, now time.Time) error {
	if !c.Audience.Contains(audience) {
		return errWrongAudience
	}
	if c.Expiry == nil {
		return errTokenMalformed
	}
	if exp := c.Expiry.Time(); !now.Before(exp) {
		return fmt.Errorf("%w (%s ago)", errTokenExpired, now.Sub(exp).Round(time.Second))
	}
	for _, d := range []*jwt.NumericDate{c.NotBefore, c.IssuedAt} {
		if d != nil && d.Time().After(now.Add(clockSkew)) {
			return fmt.Errorf("%w (in %s)", errTokenNotYet, d.Time().Sub(now).Round(time.Second))
		}
	}
	if issuer != "" && c.Issuer != issuer {
		return errWrongIssuer
	}
	return nil
}

// IdentityOfClaims is the pod a verified token names: namespace,
// ServiceAccount and pod from the kubernetes.io claim, which must agree
// with the subject system:serviceaccount:<namespace>:<name>. A token
// without a pod (a TokenRequest not bound to one) is refused.
func IdentityOfClaims(c Claims) (Identity, error) {
	k := c.Kubernetes
	if k == nil || k.Namespace == "" || k.ServiceAccount == nil || k.ServiceAccount.Name == "" ||
		c.Subject != saPrefix+k.Namespace+":"+k.ServiceAccount.Name {
		return Identity{}, fmt.Errorf("%w: it is not a service account's", errNoPodClaims)
	}
	if k.Pod == nil || k.Pod.Name == "" || k.Pod.UID == "" {
		return Identity{}, fmt.Errorf("%w: the token of ServiceAccount %s/%s names no pod: use the token the webhook projects", errNoPodClaims, k.Namespace, k.ServiceAccount.Name)
	}
	return Identity{Namespace: k.Namespace, ServiceAccount: k.ServiceAccount.Name, PodName: k.Pod.Name, PodUID: types.UID(k.Pod.UID)}, nil
}
