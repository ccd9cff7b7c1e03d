package resolver_test

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"testing"

	"github.com/latchkey-dev/latchkey/internal/resolver"
)

// FuzzParseKeyFile: whatever the install's key file holds (truncated PEM,
// private keys, JSON that is not a JWKS, garbage), ParseKeyFile returns an
// error or only public keys, each with a key id; it never panics.
func FuzzParseKeyFile(f *testing.F) {
	for _, seed := range []string{
		"", "{", `{"keys":[]}`, `{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]}`,
		"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
		"-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n",
		"-----BEGIN CERTIFICATE-----\n\n-----END CERTIFICATE-----\n",
		"-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		set, err := resolver.ParseKeyFile(data, "kubernetes/serviceaccount")
		if err != nil {
			return
		}
		for _, k := range set.Keys {
			switch k.Key.(type) {
			case *rsa.PrivateKey, *ecdsa.PrivateKey:
				t.Fatalf("a private key was accepted (kid %q)", k.KeyID)
			}
			if !k.IsPublic() {
				t.Fatalf("key %q is not public", k.KeyID)
			}
		}
	})
}
