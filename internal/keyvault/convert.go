package keyvault

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"

	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azcertificates"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"github.com/latchkey-dev/latchkey/internal/certbundle"
)

// secretObject converts a secret bundle.
func secretObject(ref Ref, s azsecrets.Secret) Object {
	obj := Object{Ref: ref, Version: ref.Version}
	if s.ID != nil && s.ID.Version() != "" {
		obj.Version = s.ID.Version()
	}
	if s.Attributes != nil && s.Attributes.Updated != nil {
		obj.Updated = *s.Attributes.Updated
	}
	if s.ContentType != nil {
		obj.ContentType = *s.ContentType
	}
	if s.Value != nil {
		obj.Value = []byte(*s.Value)
	}
	return obj
}

// certificateObject converts a certificate's backing secret. Only a secret
// Key Vault manages for a certificate counts: a plain secret of the same
// name is not a certificate (GetCertificate would answer 404).
//
// The secret is parsed once here, so a value no output could use fails as
// ErrInvalidObject (and is negatively cached) instead of being stored; and
// so KeyExportable can say whether the private key is there. Key Vault
// leaves the key out of the backing secret of a certificate whose policy
// marks the key non-exportable and returns the chain alone (the emulator
// does the same), so public-only outputs work from the same single read.
func certificateObject(ref Ref, s azsecrets.Secret) (Object, error) {
	if s.Managed == nil || !*s.Managed {
		return Object{}, &Error{Ref: ref, Class: ErrNotFound, Detail: "a secret of this name exists, but no certificate"}
	}
	obj := secretObject(ref, s)
	b, err := certbundle.Parse(obj.ContentType, obj.Value)
	if err != nil {
		// certbundle's errors describe the condition, never the input.
		return Object{}, &Error{Ref: ref, Class: ErrInvalidObject, Detail: "backing secret: " + err.Error()}
	}
	obj.KeyExportable = b.Key != nil
	return obj, nil
}

// publicCertificateObject converts a certificate bundle to an Object holding
// its leaf certificate as PEM, without a key: all GetCertificate returns.
func publicCertificateObject(ref Ref, c azcertificates.Certificate) (Object, error) {
	if len(c.CER) == 0 {
		return Object{}, &Error{Ref: ref, Class: ErrInvalidObject, Detail: "Key Vault returned no certificate"}
	}
	obj := Object{Ref: ref, Version: ref.Version, ContentType: ContentTypePEM,
		Value: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.CER})}
	if c.ID != nil && c.ID.Version() != "" {
		obj.Version = c.ID.Version()
	}
	if c.Attributes != nil && c.Attributes.Updated != nil {
		obj.Updated = *c.Attributes.Updated
	}
	return obj, nil
}

// keyObject converts a key bundle to its public key.
func keyObject(ref Ref, k azkeys.KeyBundle) (Object, error) {
	if k.Key == nil {
		return Object{}, &Error{Ref: ref, Class: ErrInvalidObject, Detail: "Key Vault returned no key material"}
	}
	obj := Object{Ref: ref, Version: ref.Version}
	if k.Key.KID != nil && k.Key.KID.Version() != "" {
		obj.Version = k.Key.KID.Version()
	}
	if k.Attributes != nil && k.Attributes.Updated != nil {
		obj.Updated = *k.Attributes.Updated
	}
	pub, err := publicKey(k.Key)
	if err != nil {
		return Object{}, &Error{Ref: ref, Class: ErrInvalidObject, Detail: err.Error()}
	}
	obj.PublicKey = pub
	return obj, nil
}

// publicKey converts a JSON Web Key to *rsa.PublicKey or *ecdsa.PublicKey.
// Errors describe the key's type, never its material.
func publicKey(k *azkeys.JSONWebKey) (crypto.PublicKey, error) {
	var kty azkeys.KeyType
	if k.Kty != nil {
		kty = *k.Kty
	}
	switch kty {
	case azkeys.KeyTypeRSA, azkeys.KeyTypeRSAHSM:
		if len(k.N) == 0 || len(k.E) == 0 || len(k.E) > 4 {
			return nil, errors.New("RSA key without a usable modulus or exponent")
		}
		e := new(big.Int).SetBytes(k.E)
		if !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31-1 {
			return nil, errors.New("RSA key with an unusable exponent")
		}
		return &rsa.PublicKey{N: new(big.Int).SetBytes(k.N), E: int(e.Int64())}, nil
	case azkeys.KeyTypeEC, azkeys.KeyTypeECHSM:
		var crv azkeys.CurveName
		if k.Crv != nil {
			crv = *k.Crv
		}
		curve, ok := curves()[crv]
		if !ok {
			return nil, fmt.Errorf("EC key on curve %q, which latchkey cannot encode", crv)
		}
		size := (curve.Params().BitSize + 7) / 8
		if len(k.X) == 0 || len(k.X) > size || len(k.Y) == 0 || len(k.Y) > size {
			return nil, errors.New("EC key with malformed coordinates")
		}
		point := make([]byte, 1+2*size)
		point[0] = 4 // uncompressed
		copy(point[1+size-len(k.X):1+size], k.X)
		copy(point[1+2*size-len(k.Y):], k.Y)
		pub, err := ecdsa.ParseUncompressedPublicKey(curve, point)
		if err != nil {
			return nil, errors.New("EC key whose point is not on its curve")
		}
		return pub, nil
	}
	return nil, fmt.Errorf("key type %q has no public key to write", kty)
}

func curves() map[azkeys.CurveName]elliptic.Curve {
	return map[azkeys.CurveName]elliptic.Curve{
		azkeys.CurveNameP256: elliptic.P256(),
		azkeys.CurveNameP384: elliptic.P384(),
		azkeys.CurveNameP521: elliptic.P521(),
	}
}
