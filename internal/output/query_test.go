package output_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/latchkey-dev/latchkey/internal/keyvault"
	"github.com/latchkey-dev/latchkey/internal/output"
)

func TestQuery(t *testing.T) {
	f := fixtures(t)
	jsonSpec := newSpec(output.ObjectMultiKeyValueSecret, contentType(output.ContentTypeJSON))
	yamlSpec := newSpec(output.ObjectMultiKeyValueSecret, contentType(output.ContentTypeYAML))
	tests := []struct {
		name    string
		spec    output.Spec
		obj     keyvault.Object
		query   string
		want    []byte
		wantErr error
	}{
		{name: "secret value", spec: newSpec(output.ObjectSecret), obj: secretObject("s3cr3t-value"), want: []byte("s3cr3t-value")},
		{name: "secret ignores output type", spec: newSpec(output.ObjectSecret, secretType(output.SecretTypeTLS)), obj: secretObject("s3cr3t-value"), want: []byte("s3cr3t-value")},
		{name: "secret transformed", spec: newSpec(output.ObjectSecret, transforms("base64decode")), obj: secretObject("czNjcjN0"), want: []byte("s3cr3t")},
		{name: "secret username", spec: newSpec(output.ObjectSecret), obj: secretObject("alice:s3cr3t-pw"), query: "username", want: []byte("alice")},
		{name: "secret password", spec: newSpec(output.ObjectSecret), obj: secretObject("alice:s3cr3t-pw"), query: "password", want: []byte("s3cr3t-pw")},
		{name: "secret other query", spec: newSpec(output.ObjectSecret), obj: secretObject("alice:s3cr3t-pw"), query: "tls.key", wantErr: output.ErrUnsupportedQuery},

		{name: "certificate no query is the chain", spec: newSpec(output.ObjectCertificate), obj: f.rsaPFX.obj, want: f.rsaPFX.chainPEM},
		{name: "certificate tls.crt pfx", spec: newSpec(output.ObjectCertificate), obj: f.rsaPFX.obj, query: "tls.crt", want: f.rsaPFX.chainPEM},
		{name: "certificate tls.key pfx", spec: newSpec(output.ObjectCertificate), obj: f.rsaPFX.obj, query: "tls.key", want: f.rsaPFX.keyPEM},
		{name: "certificate tls.crt pem", spec: newSpec(output.ObjectCertificate), obj: f.ecPEM.obj, query: "tls.crt", want: f.ecPEM.chainPEM},
		{name: "certificate tls.key pem", spec: newSpec(output.ObjectCertificate), obj: f.ecPEM.obj, query: "tls.key", want: f.ecPEM.keyPEM},
		{name: "certificate tls.pem pfx", spec: newSpec(output.ObjectCertificate), obj: f.rsaPFX.obj, query: "tls.pem", want: append(slices.Clone(f.rsaPFX.keyPEM), f.rsaPFX.chainPEM...)},
		{name: "certificate tls.pem non-exportable", spec: newSpec(output.ObjectCertificate), obj: f.sealedPFX.obj, query: "tls.pem", wantErr: output.ErrNotExportable},
		{name: "certificate raw pfx is the stored base64 text", spec: newSpec(output.ObjectCertificate), obj: f.rsaPFX.obj, query: "raw", want: f.rsaPFX.obj.Value},
		{name: "certificate raw pem", spec: newSpec(output.ObjectCertificate), obj: f.ecPEM.obj, query: "raw", want: f.ecPEM.obj.Value},
		{name: "certificate raw non-exportable", spec: newSpec(output.ObjectCertificate), obj: f.sealedPFX.obj, query: "raw", want: f.sealedPFX.obj.Value},
		{name: "certificate tls.crt non-exportable", spec: newSpec(output.ObjectCertificate), obj: f.sealedPFX.obj, query: "tls.crt", want: f.sealedPFX.chainPEM},
		{name: "certificate tls.key non-exportable pfx", spec: newSpec(output.ObjectCertificate), obj: f.sealedPFX.obj, query: "tls.key", wantErr: output.ErrNotExportable},
		{name: "certificate tls.key non-exportable pem", spec: newSpec(output.ObjectCertificate), obj: f.sealedPEM.obj, query: "tls.key", wantErr: output.ErrNotExportable},
		{name: "certificate unknown query", spec: newSpec(output.ObjectCertificate), obj: f.rsaPFX.obj, query: "tls.ky", wantErr: output.ErrUnsupportedQuery},
		{name: "certificate broken", spec: newSpec(output.ObjectCertificate), obj: certObject("application/x-pkcs12", []byte("s3cr3t-broken")), query: "tls.crt", wantErr: output.ErrInvalidCertificate},

		{name: "key rsa", spec: newSpec(output.ObjectKey), obj: keyObject(f.rsaKey.Public()), want: publicPEM(t, f.rsaKey.Public())},
		{name: "key ec", spec: newSpec(output.ObjectKey), obj: keyObject(f.ecKey.Public()), want: publicPEM(t, f.ecKey.Public())},
		{name: "key with query", spec: newSpec(output.ObjectKey), obj: keyObject(f.ecKey.Public()), query: "n", wantErr: output.ErrUnsupportedQuery},

		{name: "multi-key json", spec: jsonSpec, obj: secretObject(`{"key1":"v1","key2":"s3cr3t-v2"}`), query: "key2", want: []byte("s3cr3t-v2")},
		{name: "multi-key yaml", spec: yamlSpec, obj: secretObject("key1: v1\nkey2: s3cr3t-v2\n"), query: "key2", want: []byte("s3cr3t-v2")},
		{name: "multi-key query with any characters", spec: jsonSpec, obj: secretObject(`{"a/b c":"s3cr3t-v"}`), query: "a/b c", want: []byte("s3cr3t-v")},
		{name: "multi-key missing key", spec: yamlSpec, obj: secretObject("key1: s3cr3t-v1\n"), query: "key3", wantErr: output.ErrUnknownQueryKey},
		{name: "multi-key no query", spec: jsonSpec, obj: secretObject(`{"key1":"s3cr3t-v1"}`), wantErr: output.ErrQueryRequired},
		{name: "multi-key invalid", spec: jsonSpec, obj: secretObject(`{"key1":"s3cr3t-v1"`), query: "key1", wantErr: output.ErrInvalidDocument},

		{name: "unknown object type", spec: newSpec("blob"), obj: secretObject("s3cr3t-value"), wantErr: output.ErrUnsupportedObjectType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := output.Query(tt.spec, tt.obj, tt.query)
			if tt.wantErr != nil {
				assertErr(t, err, tt.wantErr)
				assertNoLeak(t, err, tt.obj.Value)
				assertNoLeak(t, err, []byte("s3cr3t"))
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(tt.want) {
				t.Fatalf("Query = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestQueryUnknownKeyNamesTheKey(t *testing.T) {
	_, err := output.Query(newSpec(output.ObjectMultiKeyValueSecret, contentType(output.ContentTypeJSON)), secretObject(`{"present":"s3cr3t-v"}`), "missing-key")
	assertErr(t, err, output.ErrUnknownQueryKey)
	if !strings.Contains(err.Error(), `"missing-key"`) {
		t.Fatalf("error %q does not name the key", err)
	}
	if strings.Contains(err.Error(), "present") {
		t.Fatalf("error %q names keys of the document", err)
	}
}

func TestQueryDoesNotAliasObject(t *testing.T) {
	obj := secretObject("s3cr3t-value")
	got, err := output.Query(newSpec(output.ObjectSecret), obj, "")
	if err != nil {
		t.Fatal(err)
	}
	got[0] = 'X'
	if string(obj.Value) != "s3cr3t-value" {
		t.Fatal("Query returned a slice of the object's value")
	}
}
