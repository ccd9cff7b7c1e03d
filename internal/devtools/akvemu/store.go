package akvemu

import (
	"crypto"
	"crypto/x509"
	"sort"
	"strings"
	"sync"
	"time"
)

// recoverableDays is how long a deleted object can be recovered; Key Vault's
// default soft-delete retention.
const recoverableDays = 90

// recoveryLevel is what vaults with soft delete and purge allowed report.
const recoveryLevel = "Recoverable+Purgeable"

// objAttrs are the attributes every object version has.
type objAttrs struct {
	enabled   bool
	notBefore *time.Time
	expires   *time.Time
	created   time.Time
	updated   time.Time
}

// secretVersion is one version of a secret.
type secretVersion struct {
	id          string
	attrs       objAttrs
	value       string
	contentType string
	tags        map[string]string
	// managed marks the secret that backs a certificate version.
	managed bool
}

// keyVersion is one version of a key. The private half never leaves the emulator.
type keyVersion struct {
	id      string
	attrs   objAttrs
	kty     string
	ops     []string
	key     crypto.Signer
	tags    map[string]string
	managed bool
}

// certVersion is one version of a certificate: the chain (leaf first) and the
// policy it was issued or imported under.
type certVersion struct {
	id          string
	attrs       objAttrs
	chain       []*x509.Certificate
	policy      wirePolicy
	contentType string
	tags        map[string]string
}

// certOp is the last certificate operation of a certificate name.
type certOp struct {
	issuer    string
	csr       []byte
	requestID string
	status    string
}

// versioned is what every kind of object version is.
type versioned interface {
	versionID() string
	created() time.Time
}

func (s *secretVersion) versionID() string { return s.id }
func (k *keyVersion) versionID() string    { return k.id }
func (c *certVersion) versionID() string   { return c.id }
func (s *secretVersion) created() time.Time {
	return s.attrs.created
}
func (k *keyVersion) created() time.Time  { return k.attrs.created }
func (c *certVersion) created() time.Time { return c.attrs.created }

// item is one named object with its versions, oldest first. A soft-deleted
// item stays in its collection with deletedAt set until it is purged.
type item[V versioned] struct {
	name      string
	versions  []V
	deletedAt time.Time
}

// deleted reports whether the item is soft-deleted.
func (it *item[V]) deleted() bool { return !it.deletedAt.IsZero() }

// latest returns the newest version.
func (it *item[V]) latest() V { return it.versions[len(it.versions)-1] }

// find returns a version by id; "" means the latest.
func (it *item[V]) find(version string) (V, bool) {
	if version == "" {
		return it.latest(), true
	}
	for _, v := range it.versions {
		if strings.EqualFold(v.versionID(), version) {
			return v, true
		}
	}
	var zero V
	return zero, false
}

// collection holds the items of one kind in a vault, keyed by lower-case name
// because Key Vault names are case-insensitive.
type collection[V versioned] struct {
	items map[string]*item[V]
}

func newCollection[V versioned]() collection[V] {
	return collection[V]{items: map[string]*item[V]{}}
}

// get returns the item, deleted or not.
func (c collection[V]) get(name string) *item[V] { return c.items[strings.ToLower(name)] }

// live returns the item unless it is absent or deleted.
func (c collection[V]) live(name string) *item[V] {
	if it := c.get(name); it != nil && !it.deleted() {
		return it
	}
	return nil
}

// add appends a version, creating the item on first use.
func (c collection[V]) add(name string, v V) {
	k := strings.ToLower(name)
	it := c.items[k]
	if it == nil {
		it = &item[V]{name: name}
		c.items[k] = it
	}
	it.versions = append(it.versions, v)
}

// remove purges an item.
func (c collection[V]) remove(name string) { delete(c.items, strings.ToLower(name)) }

// sorted returns the live (or deleted) items ordered by lower-case name, the
// order lists and skip tokens use.
func (c collection[V]) sorted(deleted bool) []*item[V] {
	keys := make([]string, 0, len(c.items))
	for k, it := range c.items {
		if it.deleted() == deleted {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	out := make([]*item[V], len(keys))
	for i, k := range keys {
		out[i] = c.items[k]
	}
	return out
}

// vault is one emulated Key Vault.
type vault struct {
	name     string
	cloud    cloud
	tenantID string
	// allowed holds lower-case principal IDs (client or object IDs, UPNs);
	// empty lets every principal of the tenant in.
	allowed map[string]bool
	// certOnly holds principals denied secret operations.
	certOnly map[string]bool
	secrets  collection[*secretVersion]
	keys     collection[*keyVersion]
	certs    collection[*certVersion]
	certOps  map[string]*certOp
}

func newVault(name string, c cloud, tenantID string, allowed, certOnly []string) *vault {
	v := &vault{
		name: strings.ToLower(name), cloud: c, tenantID: tenantID,
		allowed: map[string]bool{}, certOnly: map[string]bool{},
		secrets: newCollection[*secretVersion](),
		keys:    newCollection[*keyVersion](),
		certs:   newCollection[*certVersion](),
		certOps: map[string]*certOp{},
	}
	for _, p := range allowed {
		v.allowed[strings.ToLower(p)] = true
	}
	for _, p := range certOnly {
		v.certOnly[strings.ToLower(p)] = true
	}
	return v
}

// store is every vault, behind one lock: reads share it, writes are short.
type store struct {
	mu     sync.RWMutex
	vaults map[string]*vault
}

func newStore() *store { return &store{vaults: map[string]*vault{}} }

// vault finds a vault by name.
func (s *store) vault(name string) *vault {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.vaults[strings.ToLower(name)]
}

// ensureVault returns the vault, creating it with create when absent.
func (s *store) ensureVault(name string, create func() *vault) *vault {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := strings.ToLower(name)
	if v := s.vaults[k]; v != nil {
		return v
	}
	v := create()
	s.vaults[k] = v
	return v
}
