package akvemu

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"
)

// errKeySpec reports a key type, size or curve the emulator (like Key Vault) refuses.
var errKeySpec = errors.New("unsupported key specification")

// keyURL is the id of a key version ("" version: the key itself).
func keyURL(base, name, version string) string {
	if version == "" {
		return base + "/keys/" + name
	}
	return base + "/keys/" + name + "/" + version
}

// newKey generates a key: RSA 2048 (default), 3072 or 4096; EC P-256
// (default), P-384 or P-521. kty may carry Key Vault's -HSM suffix.
func newKey(kty string, size int, crv string) (crypto.Signer, error) {
	switch keyFamily(kty) {
	case "RSA":
		if size == 0 {
			size = 2048
		}
		if size != 2048 && size != 3072 && size != 4096 {
			return nil, fmt.Errorf("%w: RSA key size %d (want 2048, 3072 or 4096)", errKeySpec, size)
		}
		k, err := rsa.GenerateKey(rand.Reader, size)
		if err != nil {
			return nil, fmt.Errorf("generating RSA key: %w", err)
		}
		return k, nil
	case "EC":
		if crv == "" {
			crv = "P-256"
		}
		curve, ok := curveByName(crv)
		if !ok {
			return nil, fmt.Errorf("%w: curve %q (want P-256, P-384 or P-521)", errKeySpec, crv)
		}
		k, err := ecdsa.GenerateKey(curve, rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("generating EC key: %w", err)
		}
		return k, nil
	}
	return nil, fmt.Errorf("%w: key type %q (want RSA, RSA-HSM, EC or EC-HSM)", errKeySpec, kty)
}

// defaultKeyOps are the operations Key Vault gives a new key of a family.
func defaultKeyOps(kty string) []string {
	if keyFamily(kty) == "EC" {
		return []string{"sign", "verify"}
	}
	return []string{"encrypt", "decrypt", "sign", "verify", "wrapKey", "unwrapKey"}
}

// keyBundleOf renders a key version: the public JWK only, never the private half.
func keyBundleOf(base, name string, kv *keyVersion) keyBundle {
	jwk, _ := publicJWK(kv.key.Public()) // stored keys are RSA or EC and always encode
	jwk.Kid = keyURL(base, name, kv.id)
	jwk.Kty = kv.kty
	jwk.KeyOps = slices.Clone(kv.ops)
	b := keyBundle{Key: &jwk, Attributes: wireAttrs(kv.attrs), Tags: copyTags(kv.tags)}
	b.Attributes.Exportable = ptr(false)
	if kv.managed {
		b.Managed = ptr(true)
	}
	return b
}

// keyItemOf renders a key in a list.
func keyItemOf(base, name string, kv *keyVersion, version string) keyBundle {
	b := keyBundle{Kid: keyURL(base, name, version), Attributes: wireAttrs(kv.attrs), Tags: copyTags(kv.tags)}
	if kv.managed {
		b.Managed = ptr(true)
	}
	return b
}

// deletedKeyBundle renders a soft-deleted key.
func deletedKeyBundle(base string, it *item[*keyVersion]) keyBundle {
	b := keyBundleOf(base, it.name, it.latest())
	withDeletion(&b.RecoveryID, &b.DeletedDate, &b.ScheduledPurgeDate, base+"/deletedkeys/"+it.name, it.deletedAt)
	return b
}

// addKeyVersion stores a new key version unless the name is taken by a
// deleted or certificate-managed key.
func (s *Server) addKeyVersion(c *vaultCall, kv *keyVersion) {
	s.store.mu.Lock()
	it := c.v.keys.get(c.name)
	switch {
	case it != nil && it.deleted():
		s.store.mu.Unlock()
		c.fail(errConflictDeleted("Key", c.name))
		return
	case it != nil && it.latest().managed:
		s.store.mu.Unlock()
		c.fail(errForbidden("", "Operation is not allowed on a managed key: %s is the key of a certificate.", c.name))
		return
	}
	c.v.keys.add(c.name, kv)
	body := keyBundleOf(c.base, c.v.keys.get(c.name).name, kv)
	s.store.mu.Unlock()
	c.ok(body)
}

func handleCreateKey(s *Server, c *vaultCall) {
	var req keyCreateRequest
	if e := c.decode(&req); e != nil {
		c.fail(e)
		return
	}
	size := 0
	if req.KeySize != nil {
		size = *req.KeySize
	}
	if req.PublicExp != nil && *req.PublicExp != 65537 {
		c.fail(errBadParameter("Only the public exponent 65537 is supported."))
		return
	}
	key, err := newKey(req.Kty, size, req.Crv)
	if err != nil {
		c.fail(errBadParameter("%v", err))
		return
	}
	ops := req.KeyOps
	if len(ops) == 0 {
		ops = defaultKeyOps(req.Kty)
	}
	s.addKeyVersion(c, &keyVersion{id: newVersionID(), attrs: newAttrs(req.Attributes, c.now), kty: req.Kty, ops: slices.Clone(ops), key: key, tags: copyTags(req.Tags)})
}

func handleImportKey(s *Server, c *vaultCall) {
	var req keyImportRequest
	if e := c.decode(&req); e != nil {
		c.fail(e)
		return
	}
	if req.Key == nil {
		c.fail(errBadParameter("The property 'key' is required."))
		return
	}
	key, err := req.Key.privateKey()
	if err != nil {
		c.fail(errBadParameter("The key is not valid: %v", err))
		return
	}
	kty := keyFamily(req.Key.Kty)
	if req.HSM != nil && *req.HSM {
		kty += "-HSM"
	}
	ops := req.Key.KeyOps
	if len(ops) == 0 {
		ops = defaultKeyOps(kty)
	}
	s.addKeyVersion(c, &keyVersion{id: newVersionID(), attrs: newAttrs(req.Attributes, c.now), kty: kty, ops: slices.Clone(ops), key: key, tags: copyTags(req.Tags)})
}

func handleGetKey(s *Server, c *vaultCall) {
	s.store.mu.RLock()
	defer s.store.mu.RUnlock()
	it := c.v.keys.live(c.name)
	if it == nil {
		c.fail(errNotFound("KeyNotFound", "key", c.name))
		return
	}
	kv, ok := it.find(c.version)
	if !ok {
		c.fail(errNotFound("KeyNotFound", "key", c.name+"/"+c.version))
		return
	}
	if !kv.attrs.enabled {
		c.fail(errForbidden("KeyDisabled", "Operation get is not allowed on a disabled key."))
		return
	}
	c.ok(keyBundleOf(c.base, it.name, kv))
}

func handleUpdateKey(s *Server, c *vaultCall) {
	var req keyUpdateRequest
	if e := c.decode(&req); e != nil {
		c.fail(e)
		return
	}
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	it := c.v.keys.live(c.name)
	if it == nil {
		c.fail(errNotFound("KeyNotFound", "key", c.name))
		return
	}
	kv, ok := it.find(c.version)
	if !ok {
		c.fail(errNotFound("KeyNotFound", "key", c.name+"/"+c.version))
		return
	}
	if len(req.KeyOps) > 0 {
		kv.ops = slices.Clone(req.KeyOps)
	}
	if req.Tags != nil {
		kv.tags = copyTags(req.Tags)
	}
	applyAttrs(&kv.attrs, req.Attributes, c.now)
	kv.attrs.updated = c.now
	c.ok(keyBundleOf(c.base, it.name, kv))
}

func handleDeleteKey(s *Server, c *vaultCall) {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	it := c.v.keys.live(c.name)
	if it == nil {
		c.fail(errNotFound("KeyNotFound", "key", c.name))
		return
	}
	if it.latest().managed {
		c.fail(errForbidden("", "Operation delete is not allowed on a managed key: delete the certificate %s instead.", it.name))
		return
	}
	it.deletedAt = c.now
	c.ok(deletedKeyBundle(c.base, it))
}

func handleListKeys(s *Server, c *vaultCall) {
	p, e := c.page()
	if e != nil {
		c.fail(e)
		return
	}
	s.store.mu.RLock()
	items := c.v.keys.sorted(false)
	from, to, token := paginate(itemKeys(items), p)
	out := make([]keyBundle, 0, to-from)
	for _, it := range items[from:to] {
		out = append(out, keyItemOf(c.base, it.name, it.latest(), ""))
	}
	s.store.mu.RUnlock()
	c.ok(listPage[keyBundle]{Value: out, NextLink: c.next("/keys", token, p.size)})
}

func handleListKeyVersions(s *Server, c *vaultCall) {
	p, e := c.page()
	if e != nil {
		c.fail(e)
		return
	}
	s.store.mu.RLock()
	it := c.v.keys.live(c.name)
	if it == nil {
		s.store.mu.RUnlock()
		c.fail(errNotFound("KeyNotFound", "key", c.name))
		return
	}
	from, to, token := paginate(versionKeys(len(it.versions)), p)
	out := make([]keyBundle, 0, to-from)
	for _, kv := range it.versions[from:to] {
		out = append(out, keyItemOf(c.base, it.name, kv, kv.id))
	}
	s.store.mu.RUnlock()
	c.ok(listPage[keyBundle]{Value: out, NextLink: c.next("/keys/"+it.name+"/versions", token, p.size)})
}

func handleListDeletedKeys(s *Server, c *vaultCall) {
	p, e := c.page()
	if e != nil {
		c.fail(e)
		return
	}
	s.store.mu.RLock()
	items := c.v.keys.sorted(true)
	from, to, token := paginate(itemKeys(items), p)
	out := make([]keyBundle, 0, to-from)
	for _, it := range items[from:to] {
		b := keyItemOf(c.base, it.name, it.latest(), "")
		withDeletion(&b.RecoveryID, &b.DeletedDate, &b.ScheduledPurgeDate, c.base+"/deletedkeys/"+it.name, it.deletedAt)
		out = append(out, b)
	}
	s.store.mu.RUnlock()
	c.ok(listPage[keyBundle]{Value: out, NextLink: c.next("/deletedkeys", token, p.size)})
}

func handleGetDeletedKey(s *Server, c *vaultCall) {
	s.store.mu.RLock()
	defer s.store.mu.RUnlock()
	it := c.v.keys.get(c.name)
	if it == nil || !it.deleted() {
		c.fail(errDeletedNotFound("KeyNotFound", "Key", c.name))
		return
	}
	c.ok(deletedKeyBundle(c.base, it))
}

func handlePurgeDeletedKey(s *Server, c *vaultCall) {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	it := c.v.keys.get(c.name)
	if it == nil || !it.deleted() {
		c.fail(errDeletedNotFound("KeyNotFound", "Key", c.name))
		return
	}
	c.v.keys.remove(c.name)
	c.w.WriteHeader(http.StatusNoContent)
}

func handleRecoverDeletedKey(s *Server, c *vaultCall) {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	it := c.v.keys.get(c.name)
	if it == nil || !it.deleted() {
		c.fail(errDeletedNotFound("KeyNotFound", "Key", c.name))
		return
	}
	it.deletedAt = time.Time{}
	c.ok(keyBundleOf(c.base, it.name, it.latest()))
}
