package akvemu_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // x5t is SHA-1 by definition.
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azcertificates"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
	"software.sslmate.com/src/go-pkcs12"

	"github.com/latchkey-dev/latchkey/internal/devtools/akvemu"
)

// vaultClients are app A's three clients for vault A.
type vaultClients struct {
	secrets *azsecrets.Client
	certs   *azcertificates.Client
	keys    *azkeys.Client
}

func appAClients(t *testing.T, s *akvemu.Server) vaultClients {
	t.Helper()
	cred := secretCredential(t, s, tenantA, appA, appASecret)
	return vaultClients{
		secrets: secretsClient(t, s, vaultURL(vaultA), cred),
		certs:   certsClient(t, s, vaultURL(vaultA), cred),
		keys:    keysClient(t, s, vaultURL(vaultA), cred),
	}
}

// privateKeyOf reads the private key and certificates out of a certificate's
// backing secret, as latchkey will: base64 PFX (empty password) or PEM.
func privateKeyOf(t *testing.T, sec azsecrets.GetSecretResponse) (crypto.PrivateKey, []*x509.Certificate) {
	t.Helper()
	switch *sec.ContentType {
	case "application/x-pkcs12":
		der, err := base64.StdEncoding.DecodeString(*sec.Value)
		if err != nil {
			t.Fatal(err)
		}
		key, leaf, cas, err := pkcs12.DecodeChain(der, "")
		if err != nil {
			certs, terr := pkcs12.DecodeTrustStore(der, "")
			if terr != nil {
				t.Fatalf("PFX: %v / %v", err, terr)
			}
			return nil, certs
		}
		return key, append([]*x509.Certificate{leaf}, cas...)
	case "application/x-pem-file":
		var key crypto.PrivateKey
		var certs []*x509.Certificate
		rest := []byte(*sec.Value)
		for {
			var b *pem.Block
			if b, rest = pem.Decode(rest); b == nil {
				break
			}
			switch b.Type {
			case "PRIVATE KEY":
				k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
				if err != nil {
					t.Fatal(err)
				}
				key = k
			case "CERTIFICATE":
				c, err := x509.ParseCertificate(b.Bytes)
				if err != nil {
					t.Fatal(err)
				}
				certs = append(certs, c)
			}
		}
		return key, certs
	}
	t.Fatalf("content type %q", *sec.ContentType)
	return nil, nil
}

// checkCertificate reads a certificate back through all three clients and
// checks they agree: CER and x5t of the leaf, the secret's key and chain,
// the key's public JWK.
func checkCertificate(t *testing.T, vc vaultClients, name string, wantChain int, wantKey bool) azcertificates.GetCertificateResponse {
	t.Helper()
	cert, err := vc.certs.GetCertificate(ctx(t), name, "", nil)
	if err != nil {
		t.Fatalf("GetCertificate: %v", err)
	}
	leaf, err := x509.ParseCertificate(cert.CER)
	if err != nil {
		t.Fatalf("CER: %v", err)
	}
	sum := sha1.Sum(cert.CER) //nolint:gosec // thumbprint
	if !bytes.Equal(cert.X509Thumbprint, sum[:]) {
		t.Errorf("x5t does not match the CER")
	}
	if cert.KID.Name() != name || cert.SID.Name() != name || cert.KID.Version() != cert.ID.Version() || cert.SID.Version() != cert.ID.Version() {
		t.Errorf("kid %s sid %s id %s", *cert.KID, *cert.SID, *cert.ID)
	}
	if cert.Attributes.Expires == nil || !cert.Attributes.Expires.Equal(leaf.NotAfter) {
		t.Errorf("exp %v, leaf NotAfter %v", cert.Attributes.Expires, leaf.NotAfter)
	}
	sec, err := vc.secrets.GetSecret(ctx(t), cert.SID.Name(), cert.SID.Version(), nil)
	if err != nil {
		t.Fatalf("GetSecret of the certificate: %v", err)
	}
	if sec.Managed == nil || !*sec.Managed || sec.KID == nil || string(*sec.KID) != string(*cert.KID) {
		t.Errorf("backing secret: managed %v kid %v", sec.Managed, sec.KID)
	}
	if *sec.ContentType != *cert.Policy.SecretProperties.ContentType {
		t.Errorf("secret content type %s, policy %s", *sec.ContentType, *cert.Policy.SecretProperties.ContentType)
	}
	key, chain := privateKeyOf(t, sec)
	if len(chain) != wantChain || !chain[0].Equal(leaf) {
		t.Fatalf("chain of %d, want %d with the leaf first", len(chain), wantChain)
	}
	if (key != nil) != wantKey {
		t.Fatalf("private key in the secret: %v, want %v", key != nil, wantKey)
	}
	if key != nil && !key.(interface{ Public() crypto.PublicKey }).Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(leaf.PublicKey) {
		t.Fatalf("the secret's key does not match the certificate")
	}
	k, err := vc.keys.GetKey(ctx(t), cert.KID.Name(), cert.KID.Version(), nil)
	if err != nil {
		t.Fatalf("GetKey of the certificate: %v", err)
	}
	if k.Key.D != nil || k.Key.P != nil || k.Key.Q != nil || k.Managed == nil || !*k.Managed {
		t.Fatalf("key bundle leaks private parts or is not managed: %+v", k.Key)
	}
	switch pub := leaf.PublicKey.(type) {
	case *rsa.PublicKey:
		if !bytes.Equal(k.Key.N, pub.N.Bytes()) {
			t.Errorf("JWK n differs from the certificate's key")
		}
	case *ecdsa.PublicKey:
		if *k.Key.Kty != azkeys.KeyTypeEC || k.Key.X == nil {
			t.Errorf("EC JWK: %+v", k.Key)
		}
	}
	return cert
}

func TestImportCertificate(t *testing.T) {
	pfx, err := os.ReadFile("testdata/tls-rsa.pfx")
	if err != nil {
		t.Fatal(err)
	}
	ecPEM, err := os.ReadFile("testdata/tls-ec.pem")
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, rsaLeaf, rsaCAs, err := pkcs12.DecodeChain(pfx, "changeit")
	if err != nil {
		t.Fatal(err)
	}
	plainPFX, err := pkcs12.Modern2023.Encode(rsaKey, rsaLeaf, rsaCAs, "")
	if err != nil {
		t.Fatal(err)
	}
	s := akvemu.StartForTest(t, baseSeed())
	vc := appAClients(t, s)
	tests := []struct {
		name, value, password, contentType string
		exportable                         bool
		wantKty                            azcertificates.KeyType
	}{
		{"pfx with password", base64.StdEncoding.EncodeToString(pfx), "changeit", "", true, azcertificates.KeyTypeRSA},
		{"pfx without password", base64.StdEncoding.EncodeToString(plainPFX), "", "application/x-pkcs12", true, azcertificates.KeyTypeRSA},
		{"pfx stored as pem", base64.StdEncoding.EncodeToString(pfx), "changeit", "application/x-pem-file", true, azcertificates.KeyTypeRSA},
		{"pem ec chain", string(ecPEM), "", "application/x-pem-file", true, azcertificates.KeyTypeEC},
		{"pem stored as pfx", string(ecPEM), "", "application/x-pkcs12", true, azcertificates.KeyTypeEC},
		{"non-exportable pfx", base64.StdEncoding.EncodeToString(pfx), "changeit", "application/x-pkcs12", false, azcertificates.KeyTypeRSA},
		{"non-exportable pem", string(ecPEM), "", "application/x-pem-file", false, azcertificates.KeyTypeEC},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := "imported-" + string(rune('a'+i))
			policy := &azcertificates.CertificatePolicy{KeyProperties: &azcertificates.KeyProperties{Exportable: to.Ptr(tt.exportable)}}
			if tt.contentType != "" {
				policy.SecretProperties = &azcertificates.SecretProperties{ContentType: to.Ptr(tt.contentType)}
			}
			imp, err := vc.certs.ImportCertificate(ctx(t), name, azcertificates.ImportCertificateParameters{
				Base64EncodedCertificate: to.Ptr(tt.value), Password: to.Ptr(tt.password), CertificatePolicy: policy,
				Tags: map[string]*string{"source": to.Ptr("test")},
			}, nil)
			if err != nil {
				t.Fatalf("ImportCertificate: %v", err)
			}
			if *imp.Policy.KeyProperties.KeyType != tt.wantKty || *imp.Policy.KeyProperties.Exportable != tt.exportable || *imp.Tags["source"] != "test" {
				t.Fatalf("policy %+v", imp.Policy.KeyProperties)
			}
			checkCertificate(t, vc, name, 2, tt.exportable)
		})
	}
	t.Run("garbage", func(t *testing.T) {
		_, err := vc.certs.ImportCertificate(ctx(t), "garbage", azcertificates.ImportCertificateParameters{Base64EncodedCertificate: to.Ptr("bm90IGEgY2VydGlmaWNhdGU=")}, nil)
		responseError(t, err, http.StatusBadRequest, "BadParameter")
	})
	t.Run("pfx converted to pem on request", func(t *testing.T) {
		sec, err := vc.secrets.GetSecret(ctx(t), "imported-a", "", &azsecrets.GetSecretOptions{OutContentType: to.Ptr(azsecrets.ContentTypePEM)})
		if err != nil {
			t.Fatalf("GetSecret(outContentType=PEM): %v", err)
		}
		if *sec.ContentType != "application/x-pem-file" || !strings.HasPrefix(*sec.Value, "-----BEGIN PRIVATE KEY-----") {
			t.Fatalf("converted secret: %s", *sec.ContentType)
		}
		if key, chain := privateKeyOf(t, sec); key == nil || len(chain) != 2 {
			t.Fatalf("converted secret lost its key or chain")
		}
	})
}

func TestCreateCertificate(t *testing.T) {
	s := akvemu.StartForTest(t, baseSeed())
	vc := appAClients(t, s)
	tests := []struct {
		name        string
		keyProps    *azcertificates.KeyProperties
		contentType string
	}{
		{"rsa-pfx", &azcertificates.KeyProperties{KeyType: to.Ptr(azcertificates.KeyTypeRSA), KeySize: to.Ptr[int32](2048), Exportable: to.Ptr(true)}, "application/x-pkcs12"},
		{"ec-pem", &azcertificates.KeyProperties{KeyType: to.Ptr(azcertificates.KeyTypeEC), Curve: to.Ptr(azcertificates.CurveNameP384), Exportable: to.Ptr(true)}, "application/x-pem-file"},
		{"sealed", &azcertificates.KeyProperties{KeyType: to.Ptr(azcertificates.KeyTypeEC), Exportable: to.Ptr(false)}, "application/x-pkcs12"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			policy := azcertificates.CertificatePolicy{
				IssuerParameters: &azcertificates.IssuerParameters{Name: to.Ptr("Self")},
				KeyProperties:    tt.keyProps,
				SecretProperties: &azcertificates.SecretProperties{ContentType: to.Ptr(tt.contentType)},
				X509CertificateProperties: &azcertificates.X509CertificateProperties{
					Subject:                 to.Ptr("CN=" + tt.name + ".example.test, O=latchkey"),
					SubjectAlternativeNames: &azcertificates.SubjectAlternativeNames{DNSNames: []*string{to.Ptr(tt.name + ".example.test")}},
					ValidityInMonths:        to.Ptr[int32](6),
				},
			}
			op, err := vc.certs.CreateCertificate(ctx(t), tt.name, azcertificates.CreateCertificateParameters{CertificatePolicy: &policy}, nil)
			if err != nil {
				t.Fatalf("CreateCertificate: %v", err)
			}
			if *op.Status != "completed" || len(op.CSR) == 0 {
				t.Fatalf("operation %+v", op.CertificateOperation)
			}
			pending, err := vc.certs.GetCertificateOperation(ctx(t), tt.name, nil)
			if err != nil || *pending.Status != "completed" || *pending.Target != "https://vault-a.vault.azure.net/certificates/"+tt.name {
				t.Fatalf("GetCertificateOperation: %+v %v", pending.CertificateOperation, err)
			}
			cert := checkCertificate(t, vc, tt.name, 1, *tt.keyProps.Exportable)
			leaf, _ := x509.ParseCertificate(cert.CER)
			if leaf.Subject.CommonName != tt.name+".example.test" || len(leaf.DNSNames) != 1 || leaf.Issuer.String() != leaf.Subject.String() {
				t.Fatalf("leaf %s / %v issued by %s", leaf.Subject, leaf.DNSNames, leaf.Issuer)
			}
			pol, err := vc.certs.GetCertificatePolicy(ctx(t), tt.name, nil)
			if err != nil || *pol.IssuerParameters.Name != "Self" || *pol.X509CertificateProperties.ValidityInMonths != 6 {
				t.Fatalf("GetCertificatePolicy: %+v %v", pol, err)
			}
		})
	}
	// A second create adds a version.
	if _, err := vc.certs.CreateCertificate(ctx(t), "rsa-pfx", azcertificates.CreateCertificateParameters{}, nil); err != nil {
		t.Fatalf("renewing with the stored policy: %v", err)
	}
	n := 0
	for pager := vc.certs.NewListCertificatePropertiesVersionsPager("rsa-pfx", nil); pager.More(); {
		page, err := pager.NextPage(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		n += len(page.Value)
	}
	if n != 2 {
		t.Fatalf("versions %d, want 2", n)
	}
	names := map[string]bool{}
	for pager := vc.certs.NewListCertificatePropertiesPager(nil); pager.More(); {
		page, err := pager.NextPage(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range page.Value {
			names[p.ID.Name()] = true
		}
	}
	if len(names) != 3 {
		t.Fatalf("certificates listed: %v", names)
	}
	_, err := vc.certs.CreateCertificate(ctx(t), "by-ca", azcertificates.CreateCertificateParameters{CertificatePolicy: &azcertificates.CertificatePolicy{
		IssuerParameters: &azcertificates.IssuerParameters{Name: to.Ptr("DigiCert")},
	}}, nil)
	responseError(t, err, http.StatusBadRequest, "BadParameter")
}

func TestCertificateDisableAndDelete(t *testing.T) {
	seed := baseSeed()
	seed.Vaults[0].Certificates = []akvemu.CertificateSeed{{Name: "web", Generate: &akvemu.GenerateCertificateSeed{Subject: "CN=web"}}}
	s := akvemu.StartForTest(t, seed)
	vc := appAClients(t, s)
	cert, err := vc.certs.GetCertificate(ctx(t), "web", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := vc.certs.UpdateCertificate(ctx(t), "web", cert.ID.Version(), azcertificates.UpdateCertificateParameters{
		CertificateAttributes: &azcertificates.CertificateAttributes{Enabled: to.Ptr(false)},
	}, nil); err != nil {
		t.Fatalf("UpdateCertificate: %v", err)
	}
	_, err = vc.secrets.GetSecret(ctx(t), "web", "", nil)
	responseError(t, err, http.StatusForbidden, "Forbidden")
	_, err = vc.secrets.DeleteSecret(ctx(t), "web", nil)
	responseError(t, err, http.StatusForbidden, "Forbidden")

	if _, err := vc.certs.DeleteCertificate(ctx(t), "web", nil); err != nil {
		t.Fatalf("DeleteCertificate: %v", err)
	}
	_, err = vc.certs.GetCertificate(ctx(t), "web", "", nil)
	responseError(t, err, http.StatusNotFound, "CertificateNotFound")
	_, err = vc.keys.GetKey(ctx(t), "web", "", nil)
	responseError(t, err, http.StatusNotFound, "KeyNotFound")
	if _, err := vc.certs.RecoverDeletedCertificate(ctx(t), "web", nil); err != nil {
		t.Fatalf("RecoverDeletedCertificate: %v", err)
	}
	if _, err := vc.certs.GetCertificate(ctx(t), "web", "", nil); err != nil {
		t.Fatalf("GetCertificate after recovery: %v", err)
	}
	_, err = vc.keys.GetKey(ctx(t), "web", "", nil)
	responseError(t, err, http.StatusForbidden, "Forbidden") // recovered as it was: disabled
}
