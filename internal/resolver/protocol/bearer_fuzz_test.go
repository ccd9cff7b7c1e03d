package protocol_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/internal/resolver"
)

// FuzzParseClaims feeds the resolver's first parser of what any caller
// sends, the bearer token read before anything else. (It lives beside the
// rest of the wire format: internal/resolver's tests start an API server
// in every test process, fuzz workers included.) Fuzzed as a payload
// wrapped in a JWT (or, with wrap false, as the raw token). It checks that
// refusals never quote the token, that accepted claims are those of the
// payload and survive being written into a token again, and that
// CheckToken accepts only what ParseClaims reads as for its audience and
// unexpired. Seed corpus in testdata/fuzz/FuzzParseClaims.
func FuzzParseClaims(f *testing.F) {
	f.Add(true, []byte(`{"aud":["https://kubernetes.default.svc","latchkey-x"],"exp":1800000600,"kubernetes.io":{"pod":{"name":"app-1"}}}`), "c2ln")
	f.Add(false, []byte(nil), "eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJsYXRjaGtleS14IiwiZXhwIjoxfQ.c2ln")
	f.Fuzz(func(t *testing.T, wrap bool, payload []byte, token string) {
		if wrap {
			token = "eyJhbGciOiJSUzI1NiJ9." + base64.RawURLEncoding.EncodeToString(payload) + "." + token
		}
		c, err := resolver.ParseClaims(token)
		now := time.Unix(1_800_000_000, 0)
		if _, cerr := resolver.CheckToken(token, "latchkey-x", now); cerr == nil {
			if err != nil || !slices.Contains(c.Audiences, "latchkey-x") || !now.Before(c.Expiry) {
				t.Fatalf("CheckToken accepted %q, whose claims are %+v, %v", token, c, err)
			}
		} else if len(cerr.Error()) > 200 {
			t.Fatalf("a refusal of %d bytes", len(cerr.Error()))
		}
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
		again, err := resolver.ParseClaims(tokenWith(c))
		if err != nil {
			t.Fatalf("claims %+v written into a token do not parse: %v", c, err)
		}
		if !slices.Equal(again.Audiences, c.Audiences) || !again.Expiry.Equal(c.Expiry) {
			t.Fatalf("claims %+v read back as %+v", c, again)
		}
	})
}

// tokenWith is an unsigned JWT with c's audiences and expiry.
func tokenWith(c resolver.Claims) string {
	aud, _ := json.Marshal(c.Audiences)
	payload := fmt.Sprintf(`{"aud":%s,"exp":%d}`, aud, c.Expiry.Unix())
	return "eyJhbGciOiJSUzI1NiJ9." + base64.RawURLEncoding.EncodeToString([]byte(payload)) + ".c2ln"
}
