package akvemu

import (
	"net/http"
	"time"
)

// Content types of certificate-backed secrets.
const (
	contentTypePFX = "application/x-pkcs12"
	contentTypePEM = "application/x-pem-file"
)

// secretURL is the id of a secret version ("" version: the secret itself).
func secretURL(base, name, version string) string {
	if version == "" {
		return base + "/secrets/" + name
	}
	return base + "/secrets/" + name + "/" + version
}

// secretBundleOf renders a secret version; the value only when asked.
func secretBundleOf(base, name string, sv *secretVersion, withValue bool) secretBundle {
	b := secretBundle{
		ID:          secretURL(base, name, sv.id),
		ContentType: sv.contentType,
		Attributes:  wireAttrs(sv.attrs),
		Tags:        copyTags(sv.tags),
	}
	if withValue {
		b.Value = ptr(sv.value)
	}
	if sv.managed {
		b.Kid = keyURL(base, name, sv.id)
		b.Managed = ptr(true)
	}
	return b
}

// deletedSecretBundle renders a soft-deleted secret (latest version, no value).
func deletedSecretBundle(base string, it *item[*secretVersion]) secretBundle {
	b := secretBundleOf(base, it.name, it.latest(), false)
	withDeletion(&b.RecoveryID, &b.DeletedDate, &b.ScheduledPurgeDate, base+"/deletedsecrets/"+it.name, it.deletedAt)
	return b
}

// withDeletion fills the fields every deleted bundle has.
func withDeletion(recoveryID *string, deleted, purge **int64, recoveryURL string, at time.Time) {
	*recoveryID = recoveryURL
	*deleted = unix(at)
	*purge = unix(at.AddDate(0, 0, recoverableDays))
}

func handleSetSecret(s *Server, c *vaultCall) {
	var req secretSetRequest
	if e := c.decode(&req); e != nil {
		c.fail(e)
		return
	}
	if req.Value == nil {
		c.fail(errBadParameter("The property 'value' is required."))
		return
	}
	sv := &secretVersion{id: newVersionID(), attrs: newAttrs(req.Attributes, c.now), value: *req.Value, tags: copyTags(req.Tags)}
	if req.ContentType != nil {
		sv.contentType = *req.ContentType
	}
	s.store.mu.Lock()
	it := c.v.secrets.get(c.name)
	switch {
	case it != nil && it.deleted():
		s.store.mu.Unlock()
		c.fail(errConflictDeleted("Secret", c.name))
		return
	case it != nil && it.latest().managed:
		s.store.mu.Unlock()
		c.fail(errForbidden("", "Operation set is not allowed on a managed secret: %s is the secret of a certificate.", c.name))
		return
	}
	c.v.secrets.add(c.name, sv)
	body := secretBundleOf(c.base, c.v.secrets.get(c.name).name, sv, true)
	s.store.mu.Unlock()
	c.ok(body)
}

func handleGetSecret(s *Server, c *vaultCall) {
	s.store.mu.RLock()
	it := c.v.secrets.live(c.name)
	if it == nil {
		s.store.mu.RUnlock()
		c.fail(errNotFound("SecretNotFound", "secret", c.name))
		return
	}
	sv, ok := it.find(c.version)
	if !ok {
		s.store.mu.RUnlock()
		c.fail(errNotFound("SecretNotFound", "secret", c.name+"/"+c.version))
		return
	}
	if !sv.attrs.enabled {
		s.store.mu.RUnlock()
		c.fail(errForbidden("SecretDisabled", "Operation get is not allowed on a disabled secret."))
		return
	}
	body := secretBundleOf(c.base, it.name, sv, true)
	s.store.mu.RUnlock()
	if out := c.r.URL.Query().Get("outContentType"); out != "" && out != body.ContentType {
		if e := convertSecretValue(&body, out); e != nil {
			c.fail(e)
			return
		}
	}
	c.ok(body)
}

// convertSecretValue serves outContentType: Key Vault converts a
// certificate's PFX secret to PEM on request, and nothing else.
func convertSecretValue(b *secretBundle, out string) *kvError {
	if out != contentTypePEM || b.ContentType != contentTypePFX || b.Managed == nil {
		return errBadParameter("Conversion of the secret from %q to %q is not supported.", b.ContentType, out)
	}
	pemText, err := pfxToPEM(*b.Value)
	if err != nil {
		return &kvError{status: http.StatusInternalServerError, code: "InternalError", msg: "The certificate secret could not be converted."}
	}
	b.Value, b.ContentType = &pemText, contentTypePEM
	return nil
}

func handleUpdateSecret(s *Server, c *vaultCall) {
	var req secretSetRequest
	if e := c.decode(&req); e != nil {
		c.fail(e)
		return
	}
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	it := c.v.secrets.live(c.name)
	if it == nil {
		c.fail(errNotFound("SecretNotFound", "secret", c.name))
		return
	}
	sv, ok := it.find(c.version)
	if !ok {
		c.fail(errNotFound("SecretNotFound", "secret", c.name+"/"+c.version))
		return
	}
	if req.ContentType != nil {
		sv.contentType = *req.ContentType
	}
	if req.Tags != nil {
		sv.tags = copyTags(req.Tags)
	}
	applyAttrs(&sv.attrs, req.Attributes, c.now)
	sv.attrs.updated = c.now
	c.ok(secretBundleOf(c.base, it.name, sv, false))
}

func handleDeleteSecret(s *Server, c *vaultCall) {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	it := c.v.secrets.live(c.name)
	if it == nil {
		c.fail(errNotFound("SecretNotFound", "secret", c.name))
		return
	}
	if it.latest().managed {
		c.fail(errForbidden("", "Operation delete is not allowed on a managed secret: delete the certificate %s instead.", it.name))
		return
	}
	it.deletedAt = c.now
	c.ok(deletedSecretBundle(c.base, it))
}

func handleListSecrets(s *Server, c *vaultCall) {
	p, e := c.page()
	if e != nil {
		c.fail(e)
		return
	}
	s.store.mu.RLock()
	items := c.v.secrets.sorted(false)
	from, to, token := paginate(itemKeys(items), p)
	out := make([]secretBundle, 0, to-from)
	for _, it := range items[from:to] {
		b := secretBundleOf(c.base, it.name, it.latest(), false)
		b.ID = secretURL(c.base, it.name, "")
		out = append(out, b)
	}
	s.store.mu.RUnlock()
	c.ok(listPage[secretBundle]{Value: out, NextLink: c.next("/secrets", token, p.size)})
}

func handleListSecretVersions(s *Server, c *vaultCall) {
	p, e := c.page()
	if e != nil {
		c.fail(e)
		return
	}
	s.store.mu.RLock()
	it := c.v.secrets.live(c.name)
	if it == nil {
		s.store.mu.RUnlock()
		c.fail(errNotFound("SecretNotFound", "secret", c.name))
		return
	}
	from, to, token := paginate(versionKeys(len(it.versions)), p)
	out := make([]secretBundle, 0, to-from)
	for _, sv := range it.versions[from:to] {
		out = append(out, secretBundleOf(c.base, it.name, sv, false))
	}
	s.store.mu.RUnlock()
	c.ok(listPage[secretBundle]{Value: out, NextLink: c.next("/secrets/"+it.name+"/versions", token, p.size)})
}

func handleListDeletedSecrets(s *Server, c *vaultCall) {
	p, e := c.page()
	if e != nil {
		c.fail(e)
		return
	}
	s.store.mu.RLock()
	items := c.v.secrets.sorted(true)
	from, to, token := paginate(itemKeys(items), p)
	out := make([]secretBundle, 0, to-from)
	for _, it := range items[from:to] {
		b := deletedSecretBundle(c.base, it)
		b.ID = secretURL(c.base, it.name, "")
		out = append(out, b)
	}
	s.store.mu.RUnlock()
	c.ok(listPage[secretBundle]{Value: out, NextLink: c.next("/deletedsecrets", token, p.size)})
}

func handleGetDeletedSecret(s *Server, c *vaultCall) {
	s.store.mu.RLock()
	defer s.store.mu.RUnlock()
	it := c.v.secrets.get(c.name)
	if it == nil || !it.deleted() {
		c.fail(errDeletedNotFound("SecretNotFound", "Secret", c.name))
		return
	}
	c.ok(deletedSecretBundle(c.base, it))
}

func handlePurgeDeletedSecret(s *Server, c *vaultCall) {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	it := c.v.secrets.get(c.name)
	if it == nil || !it.deleted() {
		c.fail(errDeletedNotFound("SecretNotFound", "Secret", c.name))
		return
	}
	c.v.secrets.remove(c.name)
	c.w.WriteHeader(http.StatusNoContent)
}

func handleRecoverDeletedSecret(s *Server, c *vaultCall) {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	it := c.v.secrets.get(c.name)
	if it == nil || !it.deleted() {
		c.fail(errDeletedNotFound("SecretNotFound", "Secret", c.name))
		return
	}
	it.deletedAt = time.Time{}
	c.ok(secretBundleOf(c.base, it.name, it.latest(), false))
}

// itemKeys are the sort keys of a sorted item list (its lower-case names).
func itemKeys[V versioned](items []*item[V]) []string {
	keys := make([]string, len(items))
	for i, it := range items {
		keys[i] = toLowerASCII(it.name)
	}
	return keys
}

// versionKeys are the sort keys of n versions in creation order.
func versionKeys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = indexKey(i)
	}
	return keys
}

// toLowerASCII lower-cases an object name (names are ASCII by rule).
func toLowerASCII(s string) string {
	b := []byte(s)
	for i, ch := range b {
		if 'A' <= ch && ch <= 'Z' {
			b[i] = ch + 'a' - 'A'
		}
	}
	return string(b)
}
