package akvemu

import (
	"net/http"
	"strings"
	"time"
)

// certURL is the id of a certificate version ("" version: the certificate itself).
func certURL(base, name, version string) string {
	if version == "" {
		return base + "/certificates/" + name
	}
	return base + "/certificates/" + name + "/" + version
}

// checkContentType accepts the two certificate secret formats.
func checkContentType(ct string) *kvError {
	if ct != contentTypePFX && ct != contentTypePEM {
		return errBadParameter("The secret content type %q is not supported; use %s or %s.", ct, contentTypePFX, contentTypePEM)
	}
	return nil
}

func handleImportCertificate(s *Server, c *vaultCall) {
	var req certImportRequest
	if e := c.decode(&req); e != nil {
		c.fail(e)
		return
	}
	var reqPolicy wirePolicy
	if req.Policy != nil {
		reqPolicy = *req.Policy
	}
	ct := reqPolicy.contentType()
	if e := checkContentType(ct); e != nil {
		c.fail(e)
		return
	}
	m, err := parseCertificateImport(req.Value, req.Password, ct)
	if err != nil {
		c.fail(errBadParameter("The specified certificate content could not be read: %v", err))
		return
	}
	issuer := reqPolicy.issuerName()
	if issuer == "" {
		issuer = "Unknown"
	}
	pol := policyOf(m, reqPolicy.exportable(), ct, issuer)
	name, cv, e := s.addCertificate(c.v, certInput{name: c.name, material: m, policy: pol, attrs: req.Attributes, tags: req.Tags}, c.now)
	if e != nil {
		c.fail(e)
		return
	}
	c.ok(certBundleOf(c.base, name, cv, true))
}

func handleCreateCertificate(s *Server, c *vaultCall) {
	var req certCreateRequest
	if e := c.decode(&req); e != nil {
		c.fail(e)
		return
	}
	if req.Policy == nil {
		s.store.mu.RLock()
		if it := c.v.certs.live(c.name); it != nil {
			req.Policy = ptr(it.latest().policy)
		}
		s.store.mu.RUnlock()
		if req.Policy == nil {
			c.fail(errBadParameter("The property 'policy' is required for a new certificate."))
			return
		}
	}
	if iss := req.Policy.issuerName(); iss != "" && !strings.EqualFold(iss, "Self") {
		c.fail(errBadParameter("The emulator only issues certificates itself (issuer 'Self'); got issuer %q.", iss))
		return
	}
	ct := req.Policy.contentType()
	if e := checkContentType(ct); e != nil {
		c.fail(e)
		return
	}
	m, csr, err := generateCertificate(specFromPolicy(req.Policy), c.now)
	if err != nil {
		c.fail(errBadParameter("%v", err))
		return
	}
	pol := policyOf(m, req.Policy.exportable(), ct, "Self")
	if xp := req.Policy.X509Props; xp != nil && xp.Subject != "" {
		pol.X509Props.Subject = xp.Subject
	}
	if len(req.Policy.LifetimeActions) > 0 {
		pol.LifetimeActions = req.Policy.LifetimeActions
	} else {
		pol.LifetimeActions[0].Action.ActionType = "AutoRenew"
	}
	name, _, e := s.addCertificate(c.v, certInput{name: c.name, material: m, policy: pol, attrs: req.Attributes, tags: req.Tags, csr: csr}, c.now)
	if e != nil {
		c.fail(e)
		return
	}
	s.store.mu.RLock()
	body := operationBody(c.base, name, c.v.certOps[strings.ToLower(name)])
	s.store.mu.RUnlock()
	writeJSON(c.w, http.StatusAccepted, body)
}

func handleGetCertificateOperation(s *Server, c *vaultCall) {
	s.store.mu.RLock()
	defer s.store.mu.RUnlock()
	it := c.v.certs.live(c.name)
	op := c.v.certOps[strings.ToLower(c.name)]
	if it == nil || op == nil {
		c.fail(&kvError{status: http.StatusNotFound, code: "CertificateNotFound", msg: "Pending certificate not found: " + c.name})
		return
	}
	c.ok(operationBody(c.base, it.name, op))
}

func handleGetCertificate(s *Server, c *vaultCall) {
	s.store.mu.RLock()
	defer s.store.mu.RUnlock()
	it := c.v.certs.live(c.name)
	if it == nil {
		c.fail(errNotFound("CertificateNotFound", "certificate", c.name))
		return
	}
	cv, ok := it.find(c.version)
	if !ok {
		c.fail(errNotFound("CertificateNotFound", "certificate", c.name+"/"+c.version))
		return
	}
	c.ok(certBundleOf(c.base, it.name, cv, true))
}

func handleGetCertificatePolicy(s *Server, c *vaultCall) {
	s.store.mu.RLock()
	defer s.store.mu.RUnlock()
	it := c.v.certs.live(c.name)
	if it == nil {
		c.fail(errNotFound("CertificateNotFound", "certificate", c.name))
		return
	}
	c.ok(policyBody(c.base, it.name, it.latest().policy))
}

// handleUpdateCertificate changes attributes and tags; like Key Vault it
// carries enabled and the validity dates over to the backing key and secret.
func handleUpdateCertificate(s *Server, c *vaultCall) {
	var req certUpdateRequest
	if e := c.decode(&req); e != nil {
		c.fail(e)
		return
	}
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	it := c.v.certs.live(c.name)
	if it == nil {
		c.fail(errNotFound("CertificateNotFound", "certificate", c.name))
		return
	}
	cv, ok := it.find(c.version)
	if !ok {
		c.fail(errNotFound("CertificateNotFound", "certificate", c.name+"/"+c.version))
		return
	}
	applyAttrs(&cv.attrs, req.Attributes, c.now)
	cv.attrs.updated = c.now
	if req.Tags != nil {
		cv.tags = copyTags(req.Tags)
	}
	if sit := c.v.secrets.get(c.name); sit != nil {
		if sv, ok := sit.find(cv.id); ok {
			sv.attrs.enabled, sv.attrs.updated = cv.attrs.enabled, c.now
		}
	}
	if kit := c.v.keys.get(c.name); kit != nil {
		if kv, ok := kit.find(cv.id); ok {
			kv.attrs.enabled, kv.attrs.updated = cv.attrs.enabled, c.now
		}
	}
	c.ok(certBundleOf(c.base, it.name, cv, true))
}

// handleDeleteCertificate soft-deletes the certificate with its key and secret.
func handleDeleteCertificate(s *Server, c *vaultCall) {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	it := c.v.certs.live(c.name)
	if it == nil {
		c.fail(errNotFound("CertificateNotFound", "certificate", c.name))
		return
	}
	it.deletedAt = c.now
	if sit := c.v.secrets.get(c.name); sit != nil {
		sit.deletedAt = c.now
	}
	if kit := c.v.keys.get(c.name); kit != nil {
		kit.deletedAt = c.now
	}
	c.ok(deletedCertBundle(c.base, it))
}

func handleListCertificates(s *Server, c *vaultCall) {
	p, e := c.page()
	if e != nil {
		c.fail(e)
		return
	}
	s.store.mu.RLock()
	items := c.v.certs.sorted(false)
	from, to, token := paginate(itemKeys(items), p)
	out := make([]certBundle, 0, to-from)
	for _, it := range items[from:to] {
		out = append(out, certItemOf(c.base, it.name, it.latest(), ""))
	}
	s.store.mu.RUnlock()
	c.ok(listPage[certBundle]{Value: out, NextLink: c.next("/certificates", token, p.size)})
}

func handleListCertificateVersions(s *Server, c *vaultCall) {
	p, e := c.page()
	if e != nil {
		c.fail(e)
		return
	}
	s.store.mu.RLock()
	it := c.v.certs.live(c.name)
	if it == nil {
		s.store.mu.RUnlock()
		c.fail(errNotFound("CertificateNotFound", "certificate", c.name))
		return
	}
	from, to, token := paginate(versionKeys(len(it.versions)), p)
	out := make([]certBundle, 0, to-from)
	for _, cv := range it.versions[from:to] {
		out = append(out, certItemOf(c.base, it.name, cv, cv.id))
	}
	s.store.mu.RUnlock()
	c.ok(listPage[certBundle]{Value: out, NextLink: c.next("/certificates/"+it.name+"/versions", token, p.size)})
}

func handleListDeletedCertificates(s *Server, c *vaultCall) {
	p, e := c.page()
	if e != nil {
		c.fail(e)
		return
	}
	s.store.mu.RLock()
	items := c.v.certs.sorted(true)
	from, to, token := paginate(itemKeys(items), p)
	out := make([]certBundle, 0, to-from)
	for _, it := range items[from:to] {
		b := certItemOf(c.base, it.name, it.latest(), "")
		withDeletion(&b.RecoveryID, &b.DeletedDate, &b.ScheduledPurgeDate, c.base+"/deletedcertificates/"+it.name, it.deletedAt)
		out = append(out, b)
	}
	s.store.mu.RUnlock()
	c.ok(listPage[certBundle]{Value: out, NextLink: c.next("/deletedcertificates", token, p.size)})
}

func handleGetDeletedCertificate(s *Server, c *vaultCall) {
	s.store.mu.RLock()
	defer s.store.mu.RUnlock()
	it := c.v.certs.get(c.name)
	if it == nil || !it.deleted() {
		c.fail(errDeletedNotFound("CertificateNotFound", "Certificate", c.name))
		return
	}
	c.ok(deletedCertBundle(c.base, it))
}

// handlePurgeDeletedCertificate purges the certificate with its key and secret.
func handlePurgeDeletedCertificate(s *Server, c *vaultCall) {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	it := c.v.certs.get(c.name)
	if it == nil || !it.deleted() {
		c.fail(errDeletedNotFound("CertificateNotFound", "Certificate", c.name))
		return
	}
	c.v.certs.remove(c.name)
	c.v.secrets.remove(c.name)
	c.v.keys.remove(c.name)
	delete(c.v.certOps, strings.ToLower(c.name))
	c.w.WriteHeader(http.StatusNoContent)
}

// handleRecoverDeletedCertificate recovers the certificate with its key and secret.
func handleRecoverDeletedCertificate(s *Server, c *vaultCall) {
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	it := c.v.certs.get(c.name)
	if it == nil || !it.deleted() {
		c.fail(errDeletedNotFound("CertificateNotFound", "Certificate", c.name))
		return
	}
	it.deletedAt = time.Time{}
	if sit := c.v.secrets.get(c.name); sit != nil {
		sit.deletedAt = time.Time{}
	}
	if kit := c.v.keys.get(c.name); kit != nil {
		kit.deletedAt = time.Time{}
	}
	c.ok(certBundleOf(c.base, it.name, it.latest(), true))
}
