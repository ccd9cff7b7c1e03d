package output_test

import (
	"encoding/base64"
	"testing"

	"github.com/latchkey-dev/latchkey/internal/keyvault"
	"github.com/latchkey-dev/latchkey/internal/output"
)

// allSecretTypes is every spelling of spec.output.secret.type users write.
var allSecretTypes = []string{
	"",
	output.SecretTypeOpaque,
	"opaque",
	output.SecretTypeTLS,
	output.SecretTypeBasicAuth,
	output.SecretTypeDockerConfigJSON,
	output.SecretTypeDockercfg,
	output.SecretTypeSSHAuth,
	"example.com/custom",
}

// TestRenderSecretObject covers a secret object under every Secret type,
// each with a value that type accepts.
func TestRenderSecretObject(t *testing.T) {
	f := fixtures(t)
	dockerJSON := `{"auths":{"r.example.com":{"username":"u","password":"s3cr3t-pw","auth":"dTpzM2NyM3QtcHc="}}}`
	tests := []struct {
		secretType string
		value      string
		want       map[string][]byte
	}{
		{"", "s3cr3t-value", data("k", "s3cr3t-value")},
		{output.SecretTypeOpaque, "s3cr3t-value", data("k", "s3cr3t-value")},
		{"opaque", "s3cr3t-value", data("k", "s3cr3t-value")},
		{"example.com/custom", "s3cr3t-value", data("k", "s3cr3t-value")},
		{output.SecretTypeBasicAuth, "alice:s3cr3t-pw", data("username", "alice", "password", "s3cr3t-pw")},
		{output.SecretTypeDockerConfigJSON, dockerJSON, data(".dockerconfigjson", dockerJSON)},
		{output.SecretTypeDockercfg, `{"r.example.com":{"auth":"dTpw"}}`, data(".dockercfg", `{"r.example.com":{"auth":"dTpw"}}`)},
		{output.SecretTypeSSHAuth, "-----BEGIN OPENSSH PRIVATE KEY-----\ns3cr3t\n", data("ssh-privatekey", "-----BEGIN OPENSSH PRIVATE KEY-----\ns3cr3t\n")},
		{output.SecretTypeTLS, f.pfxSecret, map[string][]byte{"tls.crt": f.rsaPFX.chainPEM, "tls.key": f.rsaPFX.keyPEM}},
	}
	for _, tt := range tests {
		t.Run("type="+tt.secretType, func(t *testing.T) {
			got, err := output.Render(newSpec(output.ObjectSecret, secretType(tt.secretType), dataKey("k")), secretObject(tt.value))
			if err != nil {
				t.Fatal(err)
			}
			assertData(t, got, tt.want)
		})
	}
}

func TestRenderSecretObjectTLS(t *testing.T) {
	f := fixtures(t)
	tests := []struct {
		name       string
		value      string
		transforms []string
		want       map[string][]byte
		wantErr    error
	}{
		{name: "base64 pfx", value: f.pfxSecret, want: map[string][]byte{"tls.crt": f.rsaPFX.chainPEM, "tls.key": f.rsaPFX.keyPEM}},
		{name: "pem", value: f.pemSecret, want: map[string][]byte{"tls.crt": f.ecPEM.chainPEM, "tls.key": f.ecPEM.keyPEM}},
		{name: "base64 pfx with newline, trimmed", value: f.pfxSecret + "\n", transforms: []string{"trim"}, want: map[string][]byte{"tls.crt": f.rsaPFX.chainPEM, "tls.key": f.rsaPFX.keyPEM}},
		{name: "pem stored base64, decoded by transform", value: base64.StdEncoding.EncodeToString([]byte(f.pemSecret)), transforms: []string{"base64decode"}, want: map[string][]byte{"tls.crt": f.ecPEM.chainPEM, "tls.key": f.ecPEM.keyPEM}},
		{name: "certificates only", value: string(f.sealedPEM.obj.Value), wantErr: output.ErrNotExportable},
		{name: "not a certificate", value: "s3cr3t-not-a-certificate", wantErr: output.ErrInvalidCertificate},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := output.Render(newSpec(output.ObjectSecret, secretType(output.SecretTypeTLS), transforms(tt.transforms...)), secretObject(tt.value))
			if tt.wantErr != nil {
				assertErr(t, err, tt.wantErr)
				assertNoLeak(t, err, []byte(tt.value))
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			assertData(t, got, tt.want)
		})
	}
}

// TestRenderCertificate is the certificate × Secret type matrix of
// product.md §1: kubernetes.io/tls gives tls.crt/tls.key, exactly Opaque
// gives the raw backing secret, everything else the public chain.
func TestRenderCertificate(t *testing.T) {
	f := fixtures(t)
	for _, cf := range f.certs() {
		for _, st := range allSecretTypes {
			t.Run(cf.name+"/type="+st, func(t *testing.T) {
				got, err := output.Render(newSpec(output.ObjectCertificate, secretType(st), dataKey("cert")), cf.obj)
				var want map[string][]byte
				switch st {
				case output.SecretTypeTLS:
					want = map[string][]byte{"tls.crt": cf.chainPEM, "tls.key": cf.keyPEM}
				case output.SecretTypeOpaque:
					want = map[string][]byte{"cert": cf.raw}
				default:
					want = map[string][]byte{"cert": cf.chainPEM}
				}
				if cf.keyPEM == nil && (st == output.SecretTypeTLS || st == output.SecretTypeOpaque) {
					assertErr(t, err, output.ErrNotExportable)
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				assertData(t, got, want)
			})
		}
	}
}

func TestRenderCertificateRawIsBackingSecret(t *testing.T) {
	f := fixtures(t)
	// akv2k8s wrote the PFX bytes it had base64-decoded, and PEM as stored.
	got, err := output.Render(newSpec(output.ObjectCertificate, secretType("Opaque"), dataKey("pfx")), f.rsaPFX.obj)
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := base64.StdEncoding.DecodeString(string(f.rsaPFX.obj.Value)); string(got["pfx"]) != string(want) {
		t.Fatal("Opaque output is not the decoded PFX")
	}
	got, err = output.Render(newSpec(output.ObjectCertificate, secretType("Opaque"), dataKey("pem")), f.ecPEM.obj)
	if err != nil {
		t.Fatal(err)
	}
	if string(got["pem"]) != string(f.ecPEM.obj.Value) {
		t.Fatal("Opaque output is not the PEM as stored")
	}
}

// TestRenderKey: a key object is a PEM public key under the data key,
// whatever the Secret type.
func TestRenderKey(t *testing.T) {
	f := fixtures(t)
	keys := map[string]keyvault.Object{"rsa": keyObject(f.rsaKey.Public()), "ec": keyObject(f.ecKey.Public())}
	for name, obj := range keys {
		want := map[string][]byte{"pub": publicPEM(t, obj.PublicKey)}
		for _, st := range allSecretTypes {
			t.Run(name+"/type="+st, func(t *testing.T) {
				got, err := output.Render(newSpec(output.ObjectKey, secretType(st), dataKey("pub")), obj)
				if err != nil {
					t.Fatal(err)
				}
				assertData(t, got, want)
			})
		}
		t.Run(name+"/configmap", func(t *testing.T) {
			got, err := output.Render(newSpec(output.ObjectKey, toConfigMap(), dataKey("pub")), obj)
			if err != nil {
				t.Fatal(err)
			}
			assertData(t, got, want)
		})
	}
	_, err := output.Render(newSpec(output.ObjectKey, dataKey("pub")), keyObject(nil))
	assertErr(t, err, output.ErrNoPublicKey)
}

// TestRenderMultiKey: one data key per top-level key, whatever the Secret
// type; the data key is ignored.
func TestRenderMultiKey(t *testing.T) {
	docs := map[string]string{
		output.ContentTypeJSON: `{"user":"alice","pass":"s3cr3t-pw"}`,
		output.ContentTypeYAML: "user: alice\npass: s3cr3t-pw\n",
	}
	want := data("user", "alice", "pass", "s3cr3t-pw")
	for ct, doc := range docs {
		for _, st := range allSecretTypes {
			t.Run(ct+"/type="+st, func(t *testing.T) {
				got, err := output.Render(newSpec(output.ObjectMultiKeyValueSecret, contentType(ct), secretType(st), dataKey("ignored")), secretObject(doc))
				if err != nil {
					t.Fatal(err)
				}
				assertData(t, got, want)
			})
		}
		t.Run(ct+"/configmap", func(t *testing.T) {
			got, err := output.Render(newSpec(output.ObjectMultiKeyValueSecret, contentType(ct), toConfigMap()), secretObject(doc))
			if err != nil {
				t.Fatal(err)
			}
			assertData(t, got, want)
		})
	}
}

// TestRenderConfigMap: a ConfigMap ignores the Secret type and never
// receives a private key.
func TestRenderConfigMap(t *testing.T) {
	f := fixtures(t)
	for _, st := range allSecretTypes {
		t.Run("secret/type="+st, func(t *testing.T) {
			got, err := output.Render(newSpec(output.ObjectSecret, toConfigMap(), secretType(st), dataKey("k")), secretObject("alice:s3cr3t-pw"))
			if err != nil {
				t.Fatal(err)
			}
			assertData(t, got, data("k", "alice:s3cr3t-pw"))
		})
		for _, cf := range f.certs() {
			t.Run(cf.name+"/type="+st, func(t *testing.T) {
				got, err := output.Render(newSpec(output.ObjectCertificate, toConfigMap(), secretType(st), dataKey("ca.crt")), cf.obj)
				if err != nil {
					t.Fatal(err)
				}
				assertData(t, got, map[string][]byte{"ca.crt": cf.chainPEM})
			})
		}
	}
}

func TestRenderDataKeyRequired(t *testing.T) {
	f := fixtures(t)
	tests := []struct {
		name string
		spec output.Spec
		obj  keyvault.Object
	}{
		{"secret untyped", newSpec(output.ObjectSecret), secretObject("s3cr3t-value")},
		{"secret Opaque", newSpec(output.ObjectSecret, secretType("Opaque")), secretObject("s3cr3t-value")},
		{"secret custom", newSpec(output.ObjectSecret, secretType("example.com/x")), secretObject("s3cr3t-value")},
		{"secret configmap", newSpec(output.ObjectSecret, toConfigMap(), secretType(output.SecretTypeBasicAuth)), secretObject("u:s3cr3t-value")},
		{"certificate untyped", newSpec(output.ObjectCertificate), f.rsaPFX.obj},
		{"certificate Opaque", newSpec(output.ObjectCertificate, secretType("Opaque")), f.rsaPFX.obj},
		{"certificate configmap", newSpec(output.ObjectCertificate, toConfigMap()), f.rsaPFX.obj},
		{"key", newSpec(output.ObjectKey, secretType(output.SecretTypeTLS)), keyObject(f.rsaKey.Public())},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := output.Render(tt.spec, tt.obj)
			assertErr(t, err, output.ErrDataKeyRequired)
		})
	}
}

func TestRenderSpecErrors(t *testing.T) {
	tests := []struct {
		name string
		spec output.Spec
		want error
	}{
		{"zero target", output.Spec{ObjectType: output.ObjectSecret, DataKey: "k"}, output.ErrUnsupportedTarget},
		{"unknown object type", newSpec("blob", dataKey("k")), output.ErrUnsupportedObjectType},
		{"invalid data key", newSpec(output.ObjectSecret, dataKey("a/b")), output.ErrInvalidDataKey},
		{"multi-key without content type", newSpec(output.ObjectMultiKeyValueSecret), output.ErrUnsupportedContentType},
		{"multi-key other content type", newSpec(output.ObjectMultiKeyValueSecret, contentType("application/json")), output.ErrUnsupportedContentType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := output.Render(tt.spec, secretObject(`{"k":"s3cr3t-value"}`))
			assertErr(t, err, tt.want)
		})
	}
}

func TestRenderDoesNotAliasObject(t *testing.T) {
	obj := secretObject("s3cr3t-value")
	got, err := output.Render(newSpec(output.ObjectSecret, dataKey("k")), obj)
	if err != nil {
		t.Fatal(err)
	}
	got["k"][0] = 'X'
	if string(obj.Value) != "s3cr3t-value" {
		t.Fatal("Render returned a slice of the object's value")
	}
}
