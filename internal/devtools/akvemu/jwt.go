package akvemu

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	_ "crypto/sha512" // registers SHA-384/512 for crypto.Hash.New
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strings"
)

// Errors of JWT parsing and verification.
var (
	errMalformedJWT = errors.New("malformed JWT")
	errJWTSignature = errors.New("JWT signature does not verify")
	errJWTAlgorithm = errors.New("unsupported JWT algorithm")
)

// jwtHeader is the JOSE header fields the emulator reads or writes.
type jwtHeader struct {
	Alg     string `json:"alg"`
	Typ     string `json:"typ,omitempty"`
	Kid     string `json:"kid,omitempty"`
	X5t     string `json:"x5t,omitempty"`
	X5tS256 string `json:"x5t#S256,omitempty"`
}

// claims are the JWT claims of access tokens the emulator issues and of the
// assertions it accepts.
type claims struct {
	Aud     audience    `json:"aud"`
	Iss     string      `json:"iss"`
	Sub     string      `json:"sub,omitempty"`
	Iat     numericDate `json:"iat,omitempty"`
	Nbf     numericDate `json:"nbf,omitempty"`
	Exp     numericDate `json:"exp"`
	Tid     string      `json:"tid,omitempty"`
	Oid     string      `json:"oid,omitempty"`
	AppID   string      `json:"appid,omitempty"`
	Azp     string      `json:"azp,omitempty"`
	Idtyp   string      `json:"idtyp,omitempty"`
	Ver     string      `json:"ver,omitempty"`
	Upn     string      `json:"upn,omitempty"`
	Name    string      `json:"preferred_username,omitempty"`
	Scp     string      `json:"scp,omitempty"`
	MIResID string      `json:"xms_mirid,omitempty"`
}

// audience is the JWT "aud" claim: one string or an array of strings.
type audience []string

// MarshalJSON writes a single audience as a plain string, as Entra does.
func (a audience) MarshalJSON() ([]byte, error) {
	if len(a) == 1 {
		return json.Marshal(a[0])
	}
	return json.Marshal([]string(a))
}

// UnmarshalJSON accepts a string or an array of strings.
func (a *audience) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*a = audience{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return fmt.Errorf("aud: %w", err)
	}
	*a = many
	return nil
}

// contains reports whether the audience includes s.
func (a audience) contains(s string) bool {
	for _, v := range a {
		if v == s {
			return true
		}
	}
	return false
}

// numericDate is a JWT time: seconds since the epoch, possibly fractional on input.
type numericDate int64

// UnmarshalJSON accepts integers and floats.
func (n *numericDate) UnmarshalJSON(b []byte) error {
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("numeric date: %w", err)
	}
	if math.IsNaN(f) || math.IsInf(f, 0) || f > math.MaxInt64/2 || f < math.MinInt64/2 {
		return fmt.Errorf("numeric date %v out of range", f)
	}
	*n = numericDate(f)
	return nil
}

// parsedJWT is a compact JWS split into its parts; nothing is verified yet.
type parsedJWT struct {
	header  jwtHeader
	claims  claims
	payload []byte
	signed  []byte
	sig     []byte
}

// parseJWT splits and decodes a compact JWS without verifying it.
func parseJWT(raw string) (*parsedJWT, error) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("%w: want 3 parts, got %d", errMalformedJWT, len(parts))
	}
	hb, err := b64url(parts[0])
	if err != nil {
		return nil, fmt.Errorf("%w: header: %w", errMalformedJWT, err)
	}
	pb, err := b64url(parts[1])
	if err != nil {
		return nil, fmt.Errorf("%w: payload: %w", errMalformedJWT, err)
	}
	sig, err := b64url(parts[2])
	if err != nil {
		return nil, fmt.Errorf("%w: signature: %w", errMalformedJWT, err)
	}
	t := &parsedJWT{payload: pb, signed: []byte(parts[0] + "." + parts[1]), sig: sig}
	if err := json.Unmarshal(hb, &t.header); err != nil {
		return nil, fmt.Errorf("%w: header: %w", errMalformedJWT, err)
	}
	if err := json.Unmarshal(pb, &t.claims); err != nil {
		return nil, fmt.Errorf("%w: claims: %w", errMalformedJWT, err)
	}
	return t, nil
}

// b64url decodes base64url with or without padding.
func b64url(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}

// verify checks the signature with pub under the algorithm the header names.
func (t *parsedJWT) verify(pub crypto.PublicKey) error {
	hash, kind, err := jwsAlgorithm(t.header.Alg)
	if err != nil {
		return err
	}
	h := hash.New()
	h.Write(t.signed)
	digest := h.Sum(nil)
	switch kind {
	case "RS", "PS":
		k, ok := pub.(*rsa.PublicKey)
		if !ok {
			return fmt.Errorf("%w: %s needs an RSA key", errJWTSignature, t.header.Alg)
		}
		if kind == "RS" {
			err = rsa.VerifyPKCS1v15(k, hash, digest, t.sig)
		} else {
			err = rsa.VerifyPSS(k, hash, digest, t.sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto})
		}
		if err != nil {
			return fmt.Errorf("%w: %w", errJWTSignature, err)
		}
		return nil
	default: // "ES"
		k, ok := pub.(*ecdsa.PublicKey)
		if !ok {
			return fmt.Errorf("%w: %s needs an EC key", errJWTSignature, t.header.Alg)
		}
		size := (k.Curve.Params().BitSize + 7) / 8
		if len(t.sig) != 2*size {
			return fmt.Errorf("%w: bad ECDSA signature length", errJWTSignature)
		}
		r := new(big.Int).SetBytes(t.sig[:size])
		s := new(big.Int).SetBytes(t.sig[size:])
		if !ecdsa.Verify(k, digest, r, s) {
			return errJWTSignature
		}
		return nil
	}
}

// jwsAlgorithm maps a JWS "alg" to its hash and family (RS, PS or ES).
func jwsAlgorithm(alg string) (crypto.Hash, string, error) {
	switch alg {
	case "RS256":
		return crypto.SHA256, "RS", nil
	case "RS384":
		return crypto.SHA384, "RS", nil
	case "RS512":
		return crypto.SHA512, "RS", nil
	case "PS256":
		return crypto.SHA256, "PS", nil
	case "PS384":
		return crypto.SHA384, "PS", nil
	case "PS512":
		return crypto.SHA512, "PS", nil
	case "ES256":
		return crypto.SHA256, "ES", nil
	case "ES384":
		return crypto.SHA384, "ES", nil
	case "ES512":
		return crypto.SHA512, "ES", nil
	}
	return 0, "", fmt.Errorf("%w %q", errJWTAlgorithm, alg)
}

// signRS256 serialises v as JWT claims and signs them with key (RS256).
func signRS256(key *rsa.PrivateKey, h jwtHeader, v any) (string, error) {
	h.Alg = "RS256"
	if h.Typ == "" {
		h.Typ = "JWT"
	}
	hb, err := json.Marshal(h)
	if err != nil {
		return "", fmt.Errorf("encoding JWT header: %w", err)
	}
	pb, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("encoding JWT claims: %w", err)
	}
	input := base64.RawURLEncoding.EncodeToString(hb) + "." + base64.RawURLEncoding.EncodeToString(pb)
	digest := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, digest[:])
	if err != nil {
		return "", fmt.Errorf("signing JWT: %w", err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}
