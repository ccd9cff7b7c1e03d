package akvemu

import (
	"fmt"
	"time"
)

// seedVault creates a seeded vault (or reuses it) and adds its objects.
func (s *Server) seedVault(seed *Seed, vs VaultSeed) error {
	cl, err := parseCloud(vs.Cloud)
	if err != nil {
		return err
	}
	v := s.store.ensureVault(vs.Name, func() *vault {
		return newVault(vs.Name, cl, vs.TenantID, vs.AllowedPrincipals, vs.CertificateOnlyPrincipals)
	})
	now := s.now()
	for _, ss := range vs.Secrets {
		s.seedSecret(v, ss, now)
	}
	for _, cs := range vs.Certificates {
		if err := s.seedCertificate(seed, v, cs); err != nil {
			return fmt.Errorf("certificate %s: %w", cs.Name, err)
		}
	}
	for _, ks := range vs.Keys {
		key, err := newKey(ks.Generate.KeyType, ks.Generate.KeySize, ks.Generate.Curve)
		if err != nil {
			return fmt.Errorf("key %s: %w", ks.Name, err)
		}
		kty := ks.Generate.KeyType
		if kty == "" {
			kty = "RSA"
		}
		kv := &keyVersion{id: newVersionID(), attrs: newAttrs(&wireAttributes{Enabled: ks.Enabled}, now), kty: kty, ops: defaultKeyOps(kty), key: key, tags: copyTags(ks.Tags)}
		s.store.mu.Lock()
		v.keys.add(ks.Name, kv)
		s.store.mu.Unlock()
	}
	s.log.Info("seeded vault", "vault", v.name, "cloud", cl.name, "secrets", len(vs.Secrets), "certificates", len(vs.Certificates), "keys", len(vs.Keys))
	return nil
}

// seedSecret adds the versions of a seeded secret, oldest first.
func (s *Server) seedSecret(v *vault, ss SecretSeed, now time.Time) {
	versions := ss.Versions
	if ss.Value != nil {
		versions = []SecretVersionSeed{{Value: *ss.Value, ContentType: ss.ContentType, Enabled: ss.Enabled, Tags: ss.Tags}}
	}
	s.store.mu.Lock()
	defer s.store.mu.Unlock()
	for i, vv := range versions {
		// Distinct creation times keep the version order visible to clients.
		at := now.Add(time.Duration(i-len(versions)) * time.Second)
		sv := &secretVersion{id: newVersionID(), attrs: newAttrs(&wireAttributes{Enabled: vv.Enabled}, at), value: vv.Value, contentType: vv.ContentType, tags: copyTags(vv.Tags)}
		v.secrets.add(ss.Name, sv)
	}
}

// seedCertificate imports or generates a seeded certificate.
func (s *Server) seedCertificate(seed *Seed, v *vault, cs CertificateSeed) error {
	var m *certMaterial
	var err error
	ct, exportable, issuer := cs.ContentType, cs.Exportable, "Unknown"
	switch {
	case cs.Generate != nil:
		g := cs.Generate
		m, _, err = generateCertificate(specFromSeed(g), s.now())
		issuer = "Self"
		if g.Chain == "with-intermediate" {
			issuer = "Unknown"
		}
		if g.ContentType != "" {
			ct = g.ContentType
		}
		if g.Exportable != nil {
			exportable = g.Exportable
		}
	case cs.PFXFile != "":
		var data []byte
		if data, err = readBounded(seed.path(cs.PFXFile), maxSeedFileBytes); err == nil {
			m, err = parsePFX(data, cs.Password)
		}
	case cs.PEMFile != "":
		var data []byte
		if data, err = readBounded(seed.path(cs.PEMFile), maxSeedFileBytes); err == nil {
			m, err = parsePEMBundle(data)
		}
	default:
		m, err = parsePEMBundle([]byte(cs.PEM))
	}
	if err != nil {
		return err
	}
	if ct == "" {
		ct = contentTypePFX
	}
	if e := checkContentType(ct); e != nil {
		return e
	}
	pol := policyOf(m, exportable == nil || *exportable, ct, issuer)
	if _, _, e := s.addCertificate(v, certInput{name: cs.Name, material: m, policy: pol, attrs: &wireAttributes{Enabled: cs.Enabled}, tags: cs.Tags}, s.now()); e != nil {
		return e
	}
	return nil
}
