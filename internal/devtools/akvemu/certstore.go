package akvemu

import (
	"crypto/ecdsa"
	"crypto/sha1" // #nosec G505 -- x5t is the SHA-1 thumbprint by definition.
	"encoding/base64"
	"net/http"
	"strings"
	"time"
)

// x5t is the base64url SHA-1 thumbprint of a DER certificate.
func x5t(der []byte) string {
	sum := sha1.Sum(der) // #nosec G401 -- thumbprint, as Key Vault defines it.
	return b64u(sum[:])
}

// certInput is a certificate version to store with its key and secret.
type certInput struct {
	name     string
	material *certMaterial
	policy   wirePolicy
	attrs    *wireAttributes
	tags     map[string]string
	csr      []byte
}

// exportable reads key_props.exportable (default true).
func (p wirePolicy) exportable() bool {
	return p.KeyProps == nil || p.KeyProps.Exportable == nil || *p.KeyProps.Exportable
}

// contentType reads secret_props.contentType (default PFX).
func (p wirePolicy) contentType() string {
	if p.SecretProps == nil || p.SecretProps.ContentType == "" {
		return contentTypePFX
	}
	return p.SecretProps.ContentType
}

// issuerName reads issuer.name.
func (p wirePolicy) issuerName() string {
	if p.Issuer == nil {
		return ""
	}
	return p.Issuer.Name
}

// addCertificate stores a certificate version and, as Key Vault does, a key
// and a secret of the same name and version: the key holds the key pair (only
// its public half is ever served), the secret the PFX or PEM per the policy.
func (s *Server) addCertificate(v *vault, in certInput, now time.Time) (string, *certVersion, *kvError) {
	ct, exportable := in.policy.contentType(), in.policy.exportable()
	value, err := in.material.secretValue(ct, exportable)
	if err != nil {
		return "", nil, errBadParameter("%v", err)
	}
	leaf := in.material.leaf()
	attrs := newAttrs(in.attrs, now)
	attrs.notBefore, attrs.expires = ptr(leaf.NotBefore.UTC()), ptr(leaf.NotAfter.UTC())
	id := newVersionID()
	pol := in.policy
	pol.ID = ""
	pol.Attributes = &wireAttributes{Enabled: ptr(true), Created: unix(now), Updated: unix(now)}
	cv := &certVersion{id: id, attrs: attrs, chain: in.material.chain, policy: pol, contentType: ct, tags: copyTags(in.tags)}
	kty := "RSA"
	if _, ok := in.material.key.(*ecdsa.PrivateKey); ok {
		kty = "EC"
	}
	kv := &keyVersion{id: id, attrs: attrs, kty: kty, ops: defaultKeyOps(kty), key: in.material.key, tags: copyTags(in.tags), managed: true}
	sv := &secretVersion{id: id, attrs: attrs, value: value, contentType: ct, tags: copyTags(in.tags), managed: true}

	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	if it := v.certs.get(in.name); it != nil && it.deleted() {
		return "", nil, errConflictDeleted("Certificate", in.name)
	}
	if it := v.secrets.get(in.name); it != nil && (it.deleted() || !it.latest().managed) {
		return "", nil, &kvError{status: http.StatusConflict, code: "Conflict", msg: "A secret named " + in.name + " already exists and does not belong to a certificate."}
	}
	if it := v.keys.get(in.name); it != nil && (it.deleted() || !it.latest().managed) {
		return "", nil, &kvError{status: http.StatusConflict, code: "Conflict", msg: "A key named " + in.name + " already exists and does not belong to a certificate."}
	}
	v.certs.add(in.name, cv)
	v.keys.add(in.name, kv)
	v.secrets.add(in.name, sv)
	if in.csr != nil {
		// Only issued certificates have an operation; Key Vault answers 404 for imported ones.
		v.certOps[strings.ToLower(in.name)] = &certOp{issuer: in.policy.issuerName(), csr: in.csr, requestID: newVersionID(), status: "completed"}
	}
	return v.certs.get(in.name).name, cv, nil
}

// certBundleOf renders a certificate version.
func certBundleOf(base, name string, cv *certVersion, withPolicy bool) certBundle {
	leaf := cv.chain[0]
	b := certBundle{
		ID:          certURL(base, name, cv.id),
		Kid:         keyURL(base, name, cv.id),
		Sid:         secretURL(base, name, cv.id),
		X5t:         x5t(leaf.Raw),
		Cer:         base64.StdEncoding.EncodeToString(leaf.Raw),
		ContentType: cv.contentType,
		Attributes:  wireAttrs(cv.attrs),
		Tags:        copyTags(cv.tags),
	}
	if withPolicy {
		b.Policy = policyBody(base, name, cv.policy)
	}
	return b
}

// policyBody renders a stored policy with its id.
func policyBody(base, name string, p wirePolicy) *wirePolicy {
	p.ID = certURL(base, name, "policy")
	return &p
}

// certItemOf renders a certificate in a list.
func certItemOf(base, name string, cv *certVersion, version string) certBundle {
	return certBundle{ID: certURL(base, name, version), X5t: x5t(cv.chain[0].Raw), Attributes: wireAttrs(cv.attrs), Tags: copyTags(cv.tags)}
}

// deletedCertBundle renders a soft-deleted certificate.
func deletedCertBundle(base string, it *item[*certVersion]) certBundle {
	b := certBundleOf(base, it.name, it.latest(), true)
	withDeletion(&b.RecoveryID, &b.DeletedDate, &b.ScheduledPurgeDate, base+"/deletedcertificates/"+it.name, it.deletedAt)
	return b
}

// operationBody renders a certificate operation.
func operationBody(base, name string, op *certOp) certOperationBody {
	b := certOperationBody{
		ID:        certURL(base, name, "pending"),
		Issuer:    &wireIssuer{Name: op.issuer},
		Status:    op.status,
		Target:    certURL(base, name, ""),
		RequestID: op.requestID,
	}
	if len(op.csr) > 0 {
		b.CSR = base64.StdEncoding.EncodeToString(op.csr)
	}
	return b
}
