package output_test

import (
	"bytes"
	"encoding/pem"
	"errors"
	"maps"
	"slices"
	"testing"

	"github.com/latchkey-dev/latchkey/internal/devtools/leakcheck"
)

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func data(kv ...string) map[string][]byte {
	m := make(map[string][]byte, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = []byte(kv[i+1])
	}
	return m
}

func assertData(t *testing.T, got, want map[string][]byte) {
	t.Helper()
	if !maps.EqualFunc(got, want, bytes.Equal) {
		t.Fatalf("data keys %v, want %v\n got: %q\nwant: %q", slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)), got, want)
	}
}

func assertErr(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error = %v, want %v", err, want)
	}
}

// assertNoLeak fails if the error shows secret, or any 12-byte run of it,
// in any form (leakcheck.CheckError).
func assertNoLeak(t testing.TB, err error, secret []byte) {
	t.Helper()
	leakcheck.CheckError(t, err, string(secret))
}
