package resolver

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// maxTokenBytes bounds a bearer token: a projected service-account token is
// about a kilobyte.
const maxTokenBytes = 16 << 10

// Claims are the parts of a token the resolver reads before asking the API
// server. They are not trusted: nothing in them is used beyond deciding
// whether a TokenReview is worth making.
type Claims struct {
	Audiences []string
	Expiry    time.Time
}

// Token check failures, each a 401.
var (
	errTokenMissing   = errors.New("no bearer token")
	errTokenMalformed = errors.New("the token is not a JWT")
	errWrongAudience  = errors.New("the token is not for the resolver's audience")
	errTokenExpired   = errors.New("the token has expired")
)

// ParseClaims reads aud and exp from a JWT's payload without checking its
// signature: TokenReview does that.
func ParseClaims(token string) (Claims, error) {
	if token == "" {
		return Claims{}, errTokenMissing
	}
	parts := strings.Split(token, ".")
	if len(token) > maxTokenBytes || len(parts) != 3 {
		return Claims{}, errTokenMalformed
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return Claims{}, errTokenMalformed
	}
	var raw struct {
		Aud json.RawMessage `json:"aud"`
		Exp *json.Number    `json:"exp"`
	}
	if err := json.Unmarshal(payload, &raw); err != nil || raw.Exp == nil {
		return Claims{}, errTokenMalformed
	}
	exp, err := raw.Exp.Float64()
	if err != nil {
		return Claims{}, errTokenMalformed
	}
	var c Claims
	c.Expiry = time.Unix(int64(exp), 0)
	// aud is a string or a list of strings (RFC 7519 §4.1.3).
	var one string
	if err := json.Unmarshal(raw.Aud, &one); err == nil {
		c.Audiences = []string{one}
	} else if err := json.Unmarshal(raw.Aud, &c.Audiences); err != nil {
		return Claims{}, errTokenMalformed
	}
	return c, nil
}

// CheckToken is the first check, made without calling the API server: the
// token is a JWT whose aud holds audience and whose exp is after now. It
// returns the claims for the review cache, which never keeps a review past
// the token's expiry.
func CheckToken(token, audience string, now time.Time) (Claims, error) {
	c, err := ParseClaims(token)
	if err != nil {
		return Claims{}, err
	}
	if !slices.Contains(c.Audiences, audience) {
		return Claims{}, errWrongAudience
	}
	if !now.Before(c.Expiry) {
		return Claims{}, fmt.Errorf("%w (%s ago)", errTokenExpired, now.Sub(c.Expiry).Round(time.Second))
	}
	return c, nil
}
