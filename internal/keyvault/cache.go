package keyvault

import (
	"strings"

	"github.com/latchkey-dev/latchkey/internal/backend"
)

// Cache defaults, the backend cache's.
const (
	DefaultNegativeTTL = backend.DefaultNegativeTTL
	DefaultIdleTimeout = backend.DefaultIdleTimeout
	DefaultReadTimeout = backend.DefaultReadTimeout
)

// Fetcher reads one object with one identity; *Reader is one.
type Fetcher = backend.Fetcher

// CacheOptions configure a Cache. The zero value gives the defaults.
type CacheOptions = backend.CacheOptions

// Cache is the backend's single-flight cache (see backend.Cache).
type Cache = backend.Cache

// NewCache returns a Cache reading through f, with Key Vault's names
// compared as Key Vault does unless o says otherwise.
func NewCache(f Fetcher, o CacheOptions) *Cache {
	if o.Fold == nil {
		o.Fold = Fold
	}
	return backend.NewCache(f, o)
}

// Fold is a Ref as Key Vault compares it: vault, object and version names
// are case-insensitive, so "KV/Name" and "kv/name" share one read.
func Fold(ref Ref) Ref {
	ref.Store, ref.Name, ref.Version = strings.ToLower(ref.Store), strings.ToLower(ref.Name), strings.ToLower(ref.Version)
	return ref
}
