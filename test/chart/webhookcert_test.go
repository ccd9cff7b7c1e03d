package chart

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// TestWebhookCertRotation: env_injector.certRotation renders (0, the
// default, and a raised value), is recorded on the webhook's TLS Secret (an
// upgrade that does not raise it keeps the certificates: lookup, which
// `helm template` cannot exercise; test/e2e does), and on a first install
// the caBundle is the one CA that signed the serving certificate, with no
// former CA.
func TestWebhookCertRotation(t *testing.T) {
	for _, tc := range []struct {
		name string
		sets []string
		want string
	}{
		{"default", nil, "0"},
		{"raised", []string{"env_injector.certRotation=3"}, "3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			objs := render(t, tc.sets...)
			sec, mwc := objs["Secret/latchkey-webhook-tls"], objs["MutatingWebhookConfiguration/latchkey-webhook"]
			if sec == nil || mwc == nil {
				t.Fatal("the webhook's TLS Secret or MutatingWebhookConfiguration is not rendered")
			}
			if got := sec.GetAnnotations()["latchkey.dev/cert-rotation"]; got != tc.want {
				t.Errorf("latchkey.dev/cert-rotation = %q, want %q", got, tc.want)
			}
			data, _, _ := unstructured.NestedStringMap(sec.Object, "data")
			if _, ok := data["previous.crt"]; ok {
				t.Error("a first install has a previous CA")
			}
			ca := decodeCerts(t, data["ca.crt"])
			serving := decodeCerts(t, data["tls.crt"])
			if len(ca) != 1 || len(serving) != 1 {
				t.Fatalf("ca.crt holds %d certificates, tls.crt %d; want 1 each", len(ca), len(serving))
			}
			if err := serving[0].CheckSignatureFrom(ca[0]); err != nil {
				t.Errorf("the serving certificate is not signed by ca.crt: %v", err)
			}
			hooks, _, _ := unstructured.NestedSlice(mwc.Object, "webhooks")
			if len(hooks) != 1 {
				t.Fatalf("%d webhooks, want 1", len(hooks))
			}
			bundle, _, _ := unstructured.NestedString(hooks[0].(map[string]any), "clientConfig", "caBundle")
			if b := decodeCerts(t, bundle); len(b) != 1 || !b[0].Equal(ca[0]) {
				t.Errorf("the caBundle holds %d certificates, want exactly ca.crt", len(b))
			}
		})
	}
}

// decodeCerts parses the certificates of base64-encoded PEM.
func decodeCerts(t *testing.T, b64 string) []*x509.Certificate {
	t.Helper()
	data, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	var certs []*x509.Certificate
	for {
		var b *pem.Block
		if b, data = pem.Decode(data); b == nil {
			return certs
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		certs = append(certs, c)
	}
}
