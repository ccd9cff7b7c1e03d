package akvemu

import (
	"context"
	"testing"
)

// StartForTest starts an emulator with seed for one test and closes it when
// the test ends. It fails the test if the emulator cannot start.
//
// Managed-identity tokens are cached by MSAL for the whole process, keyed by
// identity and resource: give each test its own user-assigned identity (or
// use the system-assigned one in one test only), or a token signed by an
// earlier test's emulator is replayed and refused.
func StartForTest(t testing.TB, seed *Seed) *Server {
	t.Helper()
	s, err := New(Options{Seed: seed, Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("starting Key Vault emulator: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := s.Start(ctx); err != nil {
		cancel()
		t.Fatalf("starting Key Vault emulator: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		_ = s.Close()
	})
	return s
}
