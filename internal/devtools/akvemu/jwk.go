package akvemu

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
)

// errBadJWK reports a JSON Web Key that cannot be turned into a key.
var errBadJWK = errors.New("invalid JSON web key")

// jsonWebKey is a JWK as Key Vault writes it (key bundles) and reads it (key
// import), and as OIDC issuers publish them (JWKS). Byte fields are base64url.
type jsonWebKey struct {
	Kid    string   `json:"kid,omitempty"`
	Kty    string   `json:"kty"`
	KeyOps []string `json:"key_ops,omitempty"`
	Use    string   `json:"use,omitempty"`
	Alg    string   `json:"alg,omitempty"`
	N      string   `json:"n,omitempty"`
	E      string   `json:"e,omitempty"`
	D      string   `json:"d,omitempty"`
	P      string   `json:"p,omitempty"`
	Q      string   `json:"q,omitempty"`
	DP     string   `json:"dp,omitempty"`
	DQ     string   `json:"dq,omitempty"`
	QI     string   `json:"qi,omitempty"`
	Crv    string   `json:"crv,omitempty"`
	X      string   `json:"x,omitempty"`
	Y      string   `json:"y,omitempty"`
}

// jwks is a JSON Web Key Set.
type jwks struct {
	Keys []jsonWebKey `json:"keys"`
}

// curveByName maps Key Vault's curve names to Go curves.
func curveByName(name string) (elliptic.Curve, bool) {
	switch name {
	case "P-256":
		return elliptic.P256(), true
	case "P-384":
		return elliptic.P384(), true
	case "P-521":
		return elliptic.P521(), true
	}
	return nil, false
}

// curveName is the Key Vault name of a Go curve.
func curveName(c elliptic.Curve) string {
	return c.Params().Name
}

// b64u encodes bytes as unpadded base64url.
func b64u(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// publicJWK describes the public half of an RSA or EC key; kty is "RSA" or "EC".
func publicJWK(pub crypto.PublicKey) (jsonWebKey, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return jsonWebKey{Kty: "RSA", N: b64u(k.N.Bytes()), E: b64u(big.NewInt(int64(k.E)).Bytes())}, nil
	case *ecdsa.PublicKey:
		raw, err := k.Bytes()
		if err != nil {
			return jsonWebKey{}, fmt.Errorf("%w: %w", errBadJWK, err)
		}
		size := (len(raw) - 1) / 2
		return jsonWebKey{Kty: "EC", Crv: curveName(k.Curve), X: b64u(raw[1 : 1+size]), Y: b64u(raw[1+size:])}, nil
	}
	return jsonWebKey{}, fmt.Errorf("%w: unsupported key type %T", errBadJWK, pub)
}

// keyFamily reduces a Key Vault key type (RSA, RSA-HSM, EC, EC-HSM) to RSA or EC.
func keyFamily(kty string) string {
	switch kty {
	case "RSA", "RSA-HSM":
		return "RSA"
	case "EC", "EC-HSM":
		return "EC"
	}
	return kty
}

// publicKey decodes the public key of an RSA or EC JWK.
func (j jsonWebKey) publicKey() (crypto.PublicKey, error) {
	switch keyFamily(j.Kty) {
	case "RSA":
		n, err1 := b64url(j.N)
		e, err2 := b64url(j.E)
		if err := errors.Join(err1, err2); err != nil || len(n) == 0 || len(e) == 0 || len(e) > 4 {
			return nil, fmt.Errorf("%w: RSA n/e", errBadJWK)
		}
		exp := new(big.Int).SetBytes(e).Int64()
		if exp < 3 {
			return nil, fmt.Errorf("%w: RSA exponent", errBadJWK)
		}
		return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(exp)}, nil
	case "EC":
		curve, ok := curveByName(j.Crv)
		if !ok {
			return nil, fmt.Errorf("%w: unsupported curve %q", errBadJWK, j.Crv)
		}
		size := (curve.Params().BitSize + 7) / 8
		x, err1 := b64url(j.X)
		y, err2 := b64url(j.Y)
		if err := errors.Join(err1, err2); err != nil || len(x) > size || len(y) > size {
			return nil, fmt.Errorf("%w: EC x/y", errBadJWK)
		}
		raw := make([]byte, 1+2*size)
		raw[0] = 4
		copy(raw[1+size-len(x):1+size], x)
		copy(raw[1+2*size-len(y):], y)
		k, err := ecdsa.ParseUncompressedPublicKey(curve, raw)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", errBadJWK, err)
		}
		return k, nil
	}
	return nil, fmt.Errorf("%w: unsupported kty %q", errBadJWK, j.Kty)
}

// privateKey decodes an RSA or EC JWK that carries its private half, as Key
// Vault's key import requires, and checks that the halves belong together.
func (j jsonWebKey) privateKey() (crypto.Signer, error) {
	pub, err := j.publicKey()
	if err != nil {
		return nil, err
	}
	d, err := b64url(j.D)
	if err != nil || len(d) == 0 {
		return nil, fmt.Errorf("%w: the private key (d) is missing", errBadJWK)
	}
	switch k := pub.(type) {
	case *rsa.PublicKey:
		p, err1 := b64url(j.P)
		q, err2 := b64url(j.Q)
		if errors.Join(err1, err2) != nil || len(p) == 0 || len(q) == 0 {
			return nil, fmt.Errorf("%w: RSA primes p and q are required", errBadJWK)
		}
		priv := &rsa.PrivateKey{
			PublicKey: *k,
			D:         new(big.Int).SetBytes(d),
			Primes:    []*big.Int{new(big.Int).SetBytes(p), new(big.Int).SetBytes(q)},
		}
		if err := priv.Validate(); err != nil {
			return nil, fmt.Errorf("%w: %w", errBadJWK, err)
		}
		priv.Precompute()
		return priv, nil
	case *ecdsa.PublicKey:
		size := (k.Curve.Params().BitSize + 7) / 8
		if len(d) > size {
			return nil, fmt.Errorf("%w: EC d too long", errBadJWK)
		}
		padded := make([]byte, size)
		copy(padded[size-len(d):], d)
		priv, err := ecdsa.ParseRawPrivateKey(k.Curve, padded)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", errBadJWK, err)
		}
		if !priv.PublicKey.Equal(k) {
			return nil, fmt.Errorf("%w: d does not match x/y", errBadJWK)
		}
		return priv, nil
	}
	return nil, fmt.Errorf("%w: unsupported key", errBadJWK)
}

// parseJWKS decodes a JWK Set into public keys by kid (keys without kid get "").
func parseJWKS(data []byte) ([]publicKeyEntry, error) {
	var set jwks
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("%w: %w", errBadJWK, err)
	}
	out := make([]publicKeyEntry, 0, len(set.Keys))
	for _, k := range set.Keys {
		pub, err := k.publicKey()
		if err != nil {
			return nil, err
		}
		out = append(out, publicKeyEntry{kid: k.Kid, key: pub})
	}
	return out, nil
}

// publicKeyEntry is one verification key of an OIDC issuer.
type publicKeyEntry struct {
	kid string
	key crypto.PublicKey
}
