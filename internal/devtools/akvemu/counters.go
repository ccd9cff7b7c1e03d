package akvemu

import (
	"cmp"
	"slices"
	"sync"
)

// StatusDropped is the status counted for a request whose connection the
// emulator dropped on purpose (fault injection): no HTTP status was sent.
const StatusDropped = 0

// CounterKey identifies one request counter.
type CounterKey struct {
	// Vault is the vault name; empty for Entra ID and managed-identity requests.
	Vault string `json:"vault"`
	// Operation is the operation name, e.g. GetSecret, SetSecret, GetCertificate,
	// GetKey, ListSecretVersions, Token, ManagedIdentityToken.
	Operation string `json:"operation"`
	// Status is the HTTP status answered; 401 for the challenge round trip that
	// precedes a client's first authorised request; StatusDropped for dropped connections.
	Status int `json:"status"`
}

// CounterEntry is one counter in a snapshot.
type CounterEntry struct {
	CounterKey
	// Count is how many requests ended this way.
	Count int64 `json:"count"`
}

// CounterSnapshot is a copy of every counter at one moment, sorted by vault,
// operation and status.
type CounterSnapshot struct {
	Counters []CounterEntry `json:"counters"`
}

// Count sums the counters that match: an empty vault or operation, or a
// negative status, matches any. Entra ID and managed-identity requests have
// an empty Vault; name their operation (Token, ManagedIdentityToken) to count them.
func (s CounterSnapshot) Count(vault, operation string, status int) int64 {
	var n int64
	for _, e := range s.Counters {
		if (vault == "" || e.Vault == vault) && (operation == "" || e.Operation == operation) && (status < 0 || e.Status == status) {
			n += e.Count
		}
	}
	return n
}

// Counters counts requests per vault, operation and status. It is safe for
// concurrent use; the zero value is not, use the Server's.
type Counters struct {
	mu sync.Mutex
	m  map[CounterKey]int64
}

func newCounters() *Counters { return &Counters{m: map[CounterKey]int64{}} }

// add counts one request.
func (c *Counters) add(k CounterKey) {
	c.mu.Lock()
	c.m[k]++
	c.mu.Unlock()
}

// Snapshot copies the counters.
func (c *Counters) Snapshot() CounterSnapshot {
	c.mu.Lock()
	out := make([]CounterEntry, 0, len(c.m))
	for k, v := range c.m {
		out = append(out, CounterEntry{CounterKey: k, Count: v})
	}
	c.mu.Unlock()
	slices.SortFunc(out, func(a, b CounterEntry) int {
		return cmp.Or(cmp.Compare(a.Vault, b.Vault), cmp.Compare(a.Operation, b.Operation), cmp.Compare(a.Status, b.Status))
	})
	return CounterSnapshot{Counters: out}
}

// Reset sets every counter back to zero.
func (c *Counters) Reset() {
	c.mu.Lock()
	clear(c.m)
	c.mu.Unlock()
}
