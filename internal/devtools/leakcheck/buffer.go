package leakcheck

import (
	"bytes"
	"sync"
)

// Buffer collects what a component logs while a test reads it: a
// bytes.Buffer safe for concurrent writers and readers. Tests hand it to a
// component as its log output and then search it (Set.Find) for values that
// must never appear.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
