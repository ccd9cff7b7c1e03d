package output_test

import (
	"encoding/pem"
	"errors"
	"fmt"
	"testing"

	"github.com/latchkey-dev/latchkey/internal/certbundle"
	"github.com/latchkey-dev/latchkey/internal/devtools/leakcheck"
	"github.com/latchkey-dev/latchkey/internal/keyvault"
	"github.com/latchkey-dev/latchkey/internal/output"
)

// TestErrorsNeverContainValues walks every error path with secret material
// in the value (and, for documents, in the keys) and checks that no error
// message carries any of it. Every sentinel must be covered.
func TestErrorsNeverContainValues(t *testing.T) {
	const secret = "S3CR3T-MATERIAL-7f3a9c"
	f := fixtures(t)
	badCertPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte(secret)})
	yaml := contentType(output.ContentTypeYAML)
	json := contentType(output.ContentTypeJSON)
	multi := output.ObjectMultiKeyValueSecret

	tests := []struct {
		name  string
		spec  output.Spec
		obj   keyvault.Object
		query *string // nil: Render
		want  error
	}{
		{"target", output.Spec{ObjectType: output.ObjectSecret, DataKey: "k"}, secretObject(secret), nil, output.ErrUnsupportedTarget},
		{"object type render", newSpec("blob", dataKey("k")), secretObject(secret), nil, output.ErrUnsupportedObjectType},
		{"object type query", newSpec("blob"), secretObject(secret), ptr(""), output.ErrUnsupportedObjectType},
		{"data key", newSpec(output.ObjectSecret), secretObject(secret), nil, output.ErrDataKeyRequired},
		{"document key json", newSpec(multi, json), secretObject(`{"` + secret + ` x": "v"}`), nil, output.ErrInvalidDataKey},
		{"document key yaml", newSpec(multi, yaml), secretObject(secret + " x: v\n"), nil, output.ErrInvalidDataKey},
		{"unknown transform", newSpec(output.ObjectSecret, dataKey("k"), transforms("rot13")), secretObject(secret), nil, output.ErrUnknownTransform},
		{"base64decode", newSpec(output.ObjectSecret, dataKey("k"), transforms("base64decode")), secretObject(secret + "!"), nil, output.ErrTransform},
		{"base64decode query", newSpec(output.ObjectSecret, transforms("base64decode")), secretObject(secret + "!"), ptr(""), output.ErrTransform},
		{"basic-auth", newSpec(output.ObjectSecret, secretType(output.SecretTypeBasicAuth)), secretObject(secret), nil, output.ErrInvalidBasicAuth},
		{"basic-auth query", newSpec(output.ObjectSecret), secretObject(secret), ptr("username"), output.ErrInvalidBasicAuth},
		{"json syntax", newSpec(multi, json), secretObject(`{"k": "` + secret + `"`), nil, output.ErrInvalidDocument},
		{"json type", newSpec(multi, json), secretObject(`["` + secret + `"]`), nil, output.ErrInvalidDocument},
		{"yaml syntax", newSpec(multi, yaml), secretObject("k: [" + secret + "\n"), nil, output.ErrInvalidDocument},
		{"yaml top level", newSpec(multi, yaml), secretObject(secret + "\n"), nil, output.ErrInvalidDocument},
		{"yaml nested type", newSpec(multi, yaml), secretObject("k: {a: !!int " + secret + "}\n"), nil, output.ErrInvalidDocument},
		{"yaml query", newSpec(multi, yaml), secretObject("k: [" + secret + "\n"), ptr("k"), output.ErrInvalidDocument},
		{"dockerconfigjson", newSpec(output.ObjectSecret, secretType(output.SecretTypeDockerConfigJSON)), secretObject(`{"auths": "` + secret + `"`), nil, output.ErrInvalidDocument},
		{"content type", newSpec(multi, contentType("text/plain")), secretObject(`{"k":"` + secret + `"}`), nil, output.ErrUnsupportedContentType},
		{"tls secret", newSpec(output.ObjectSecret, secretType(output.SecretTypeTLS)), secretObject(secret), nil, output.ErrInvalidCertificate},
		{"tls secret bad pem", newSpec(output.ObjectSecret, secretType(output.SecretTypeTLS)), secretObject(string(badCertPEM)), nil, output.ErrInvalidCertificate},
		{"certificate pfx", newSpec(output.ObjectCertificate, dataKey("c")), certObject(certbundle.ContentTypePKCS12, []byte(secret)), nil, output.ErrInvalidCertificate},
		{"certificate pem", newSpec(output.ObjectCertificate, dataKey("c")), certObject(certbundle.ContentTypePEM, badCertPEM), nil, output.ErrInvalidCertificate},
		{"certificate content type", newSpec(output.ObjectCertificate, dataKey("c")), certObject("text/plain", []byte(secret)), nil, output.ErrInvalidCertificate},
		{"not exportable tls", newSpec(output.ObjectCertificate, secretType(output.SecretTypeTLS)), f.sealedPFX.obj, nil, output.ErrNotExportable},
		{"not exportable opaque", newSpec(output.ObjectCertificate, secretType("Opaque"), dataKey("c")), f.sealedPEM.obj, nil, output.ErrNotExportable},
		{"not exportable query", newSpec(output.ObjectCertificate), f.sealedPEM.obj, ptr("tls.key"), output.ErrNotExportable},
		{"no public key", newSpec(output.ObjectKey, dataKey("k")), keyvault.Object{Value: []byte(secret)}, nil, output.ErrNoPublicKey},
		{"unsupported query", newSpec(output.ObjectSecret), secretObject(secret), ptr("tls.crt"), output.ErrUnsupportedQuery},
		{"query required", newSpec(multi, json), secretObject(`{"k":"` + secret + `"}`), ptr(""), output.ErrQueryRequired},
		{"unknown query key", newSpec(multi, json), secretObject(`{"k":"` + secret + `"}`), ptr("other"), output.ErrUnknownQueryKey},
	}
	covered := map[error]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if tt.query == nil {
				_, err = output.Render(tt.spec, tt.obj)
			} else {
				_, err = output.Query(tt.spec, tt.obj, *tt.query)
			}
			assertErr(t, err, tt.want)
			assertNoLeak(t, err, []byte(secret))
			assertNoLeak(t, err, tt.obj.Value)
			covered[tt.want] = true
		})
	}
	for _, sentinel := range allSentinels {
		if !covered[sentinel] {
			t.Errorf("no error path covers %v", sentinel)
		}
	}
}

// TestAssertNoLeakFindsLeaks shows the check above can fail: an error that
// shows its input in any planted form (a JSON-escaped document, a line of a
// PEM key, base64, quoted…) or quotes 12 bytes of it is reported.
func TestAssertNoLeakFindsLeaks(t *testing.T) {
	for _, p := range leakcheck.Plants(t) {
		err := fmt.Errorf("%w: %s", output.ErrInvalidDocument, p.Text)
		if !leakcheck.Caught(t, func(tb testing.TB) { assertNoLeak(tb, err, []byte(p.Secret)) }) {
			t.Errorf("%s: not reported", p.Form)
		}
	}
	const doc = `{"k": "a-document-value-S3CR3T"}`
	err := fmt.Errorf("%w: invalid character after %q", output.ErrInvalidDocument, "document-val")
	if !leakcheck.Caught(t, func(tb testing.TB) { assertNoLeak(tb, err, []byte(doc)) }) {
		t.Error("12 bytes of the input: not reported")
	}
}

var allSentinels = []error{
	output.ErrUnsupportedTarget, output.ErrUnsupportedObjectType, output.ErrDataKeyRequired,
	output.ErrInvalidDataKey, output.ErrUnknownTransform, output.ErrTransform,
	output.ErrInvalidBasicAuth, output.ErrInvalidDocument, output.ErrUnsupportedContentType,
	output.ErrInvalidCertificate, output.ErrNotExportable, output.ErrNoPublicKey,
	output.ErrUnsupportedQuery, output.ErrQueryRequired, output.ErrUnknownQueryKey,
}

func TestNotExportableMatchesCertbundle(t *testing.T) {
	f := fixtures(t)
	_, err := output.Render(newSpec(output.ObjectCertificate, secretType(output.SecretTypeTLS)), f.sealedPFX.obj)
	if !errors.Is(err, output.ErrNotExportable) || !errors.Is(err, certbundle.ErrNoPrivateKey) {
		t.Fatalf("error = %v, want ErrNotExportable and certbundle.ErrNoPrivateKey", err)
	}
}

func ptr(s string) *string { return &s }
