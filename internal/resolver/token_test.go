package resolver

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"
)

// jwt builds an unsigned token with the payload given: the local checks
// never look at the signature.
func jwt(payload string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"RS256"}`)) + "." + enc([]byte(payload)) + ".c2ln"
}

func TestCheckToken(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	tests := []struct {
		name  string
		token string
		want  error
	}{
		{"aud list", jwt(`{"aud":["other","latchkey-x"],"exp":1800000600}`), nil},
		{"aud string", jwt(`{"aud":"latchkey-x","exp":1800000600}`), nil},
		{"exp as a float", jwt(`{"aud":"latchkey-x","exp":1800000600.5}`), nil},
		{"wrong audience", jwt(`{"aud":["kubernetes.default.svc"],"exp":1800000600}`), errWrongAudience},
		{"no audience", jwt(`{"exp":1800000600}`), errTokenMalformed},
		{"audience not a string", jwt(`{"aud":7,"exp":1800000600}`), errTokenMalformed},
		{"expired", jwt(`{"aud":"latchkey-x","exp":1799999999}`), errTokenExpired},
		{"expires now", jwt(`{"aud":"latchkey-x","exp":1800000000}`), errTokenExpired},
		{"no exp", jwt(`{"aud":"latchkey-x"}`), errTokenMalformed},
		{"exp not a number", jwt(`{"aud":"latchkey-x","exp":"soon"}`), errTokenMalformed},
		{"payload not JSON", jwt(`not json`), errTokenMalformed},
		{"two parts", "a.b", errTokenMalformed},
		{"payload not base64url", "a.b+/.c", errTokenMalformed},
		{"empty", "", errTokenMissing},
		{"too long", jwt(`{"aud":"latchkey-x","exp":1800000600,"pad":"` + strings.Repeat("x", maxTokenBytes) + `"}`), errTokenMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := CheckToken(tt.token, "latchkey-x", now)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("CheckToken = %v, want %v", err, tt.want)
			}
			if err == nil && !c.Expiry.Equal(time.Unix(1_800_000_600, 0)) {
				t.Errorf("expiry %v", c.Expiry)
			}
			if d := tokenDenial(err); err != nil && (d.Status != 401 || (tt.token != "" && strings.Contains(d.Message, tt.token))) {
				t.Errorf("denial %+v", d)
			}
		})
	}
}
