// Package backendtest is a backend for tests only: secrets kept in memory, served through the same seam as Azure Key
// Vault, to show (and keep showing) what a second backend touches.
package backendtest

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/latchkey-dev/latchkey/internal/backend"
)

// Store holds secrets by store and name; its zero value is empty and ready.
type Store struct {
	mu      sync.Mutex
	secrets map[[2]string][]byte
	version int
	reads   atomic.Int64
}

// Put sets a secret's value, as a new version.
func (s *Store) Put(store, name string, value []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.secrets == nil {
		s.secrets = map[[2]string][]byte{}
	}
	s.secrets[[2]string{store, name}] = append([]byte(nil), value...)
	s.version++
}

// Reads counts Read calls.
func (s *Store) Reads() int64 { return s.reads.Load() }

// Identity implements backend.Fetcher.
func (s *Store) Identity() string { return "memory" }

// Read implements backend.Fetcher: secrets only, the latest version only.
func (s *Store) Read(_ context.Context, ref backend.Ref) (backend.Object, error) {
	s.reads.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	value, ok := s.secrets[[2]string{ref.Store, ref.Name}]
	switch {
	case ref.Kind != backend.KindSecret:
		return backend.Object{}, fmt.Errorf("memory %s: only secrets: %w", ref, backend.ErrInvalidObject)
	case !ok || (ref.Version != "" && ref.Version != strconv.Itoa(s.version)):
		return backend.Object{}, fmt.Errorf("memory %s: %w", ref, backend.ErrNotFound)
	}
	return backend.Object{Ref: ref, Version: strconv.Itoa(s.version), Value: append([]byte(nil), value...)}, nil
}
