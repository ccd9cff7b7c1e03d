package output_test

import (
	"bytes"
	"encoding/pem"
	"errors"
	"maps"
	"slices"
	"testing"
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

// assertNoLeak fails if the error contains secret, or any 12-byte run of it.
func assertNoLeak(t *testing.T, err error, secret []byte) {
	t.Helper()
	if err == nil || len(secret) == 0 {
		return
	}
	msg := []byte(err.Error())
	const window = 12
	if len(secret) < window {
		if bytes.Contains(msg, secret) {
			t.Fatalf("error %q contains secret material %q", msg, secret)
		}
		return
	}
	for i := 0; i+window <= len(secret); i++ {
		if bytes.Contains(msg, secret[i:i+window]) {
			t.Fatalf("error %q contains secret material %q", msg, secret[i:i+window])
		}
	}
}
