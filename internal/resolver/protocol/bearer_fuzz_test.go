package protocol_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/latchkey-dev/latchkey/internal/resolver"
)

// FuzzParseToken feeds the resolver's first parser of what any caller
// sends, the bearer token read before anything else. (It lives beside the
// rest of the wire format: internal/resolver's tests start an API server
// in every test process, fuzz workers included.) Fuzzed as a payload
// wrapped in a JWS header (or, with wrap false, as the raw token) with
// token as its signature part. It checks that refusals never quote the
// token, that nothing over the size bound is accepted, that the claim
// checks and the identity decision take whatever parses without
// panicking, and that no fuzzed token verifies against a key the fuzzer
// cannot know. Seed corpus in testdata/fuzz/FuzzParseToken.
func FuzzParseToken(f *testing.F) {
	f.Add(true, []byte(`{"aud":["https://kubernetes.default.svc","latchkey-x"],"exp":1800000600,"kubernetes.io":{"pod":{"name":"app-1"}}}`), "c2ln")
	f.Add(false, []byte(nil), "eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJsYXRjaGtleS14IiwiZXhwIjoxfQ.c2ln")
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	key := jose.JSONWebKey{Key: &priv.PublicKey, Algorithm: string(jose.ES256)}
	now := time.Unix(1_800_000_000, 0)
	f.Fuzz(func(t *testing.T, wrap bool, payload []byte, token string) {
		if wrap {
			token = "eyJhbGciOiJFUzI1NiJ9." + base64.RawURLEncoding.EncodeToString(payload) + "." + token
		}
		tok, err := resolver.ParseToken(token)
		if err != nil {
			for _, part := range strings.Split(token, ".") {
				if len(part) >= 8 && strings.Contains(err.Error(), part) {
					t.Fatalf("error %q quotes the token", err)
				}
			}
			return
		}
		if len(token) > 16<<10 {
			t.Fatalf("accepted a token of %d bytes", len(token))
		}
		if cerr := resolver.CheckClaims(tok.Claims, "", "latchkey-x", now); cerr != nil && len(cerr.Error()) > 200 {
			t.Fatalf("a refusal of %d bytes", len(cerr.Error()))
		}
		_, _ = resolver.IdentityOfClaims(tok.Claims)
		if _, err := tok.Verify(key); err == nil {
			t.Fatalf("a fuzzed token verifies against a key made for this run: %q", token)
		}
	})
}
