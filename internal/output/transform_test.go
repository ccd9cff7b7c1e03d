package output_test

import (
	"testing"

	"github.com/latchkey-dev/latchkey/internal/output"
)

func TestTransforms(t *testing.T) {
	tests := []struct {
		name       string
		transforms []string
		value      string
		want       string
		wantErr    error
	}{
		{name: "none", value: " s3cr3t \n", want: " s3cr3t \n"},
		{name: "trim", transforms: []string{"trim"}, value: " \t s3cr3t \r\n", want: "s3cr3t"},
		{name: "base64encode", transforms: []string{"base64encode"}, value: "s3cr3t", want: "czNjcjN0"},
		{name: "base64decode", transforms: []string{"base64decode"}, value: "czNjcjN0", want: "s3cr3t"},
		{name: "base64decode ignores line breaks", transforms: []string{"base64decode"}, value: "czNj\r\ncjN0", want: "s3cr3t"},
		{name: "base64decode unpadded", transforms: []string{"base64decode"}, value: "czNjcjM", want: "s3cr3"},
		{name: "order matters: trim then decode", transforms: []string{"trim", "base64decode"}, value: " czNjcjN0\n", want: "s3cr3t"},
		{name: "order matters: decode then trim", transforms: []string{"base64decode", "trim"}, value: "IHMzY3IzdCA=", want: "s3cr3t"},
		{name: "encode then decode", transforms: []string{"base64encode", "base64decode"}, value: "s3cr3t", want: "s3cr3t"},
		{name: "decode of text that is not base64", transforms: []string{"base64decode"}, value: "s3cr3t-not-base64!", wantErr: output.ErrTransform},
		{name: "decode with surrounding spaces, not trimmed", transforms: []string{"base64decode"}, value: " czNjcjN0 ", wantErr: output.ErrTransform},
		{name: "unknown transform", transforms: []string{"trim", "rot13"}, value: "s3cr3t", wantErr: output.ErrUnknownTransform},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, target := range []output.Target{output.TargetSecret, output.TargetConfigMap} {
				spec := newSpec(output.ObjectSecret, transforms(tt.transforms...), dataKey("k"))
				spec.Target = target
				got, err := output.Render(spec, secretObject(tt.value))
				if tt.wantErr != nil {
					assertErr(t, err, tt.wantErr)
					assertNoLeak(t, err, []byte(tt.value))
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				assertData(t, got, data("k", tt.want))

				q, err := output.Query(spec, secretObject(tt.value), "")
				if err != nil || string(q) != tt.want {
					t.Fatalf("Query = %q, %v; want %q", q, err, tt.want)
				}
			}
		})
	}
}

// TestTransformsApplyBeforeSecretType: akv2k8s transformed the value, then
// applied the Secret type.
func TestTransformsApplyBeforeSecretType(t *testing.T) {
	got, err := output.Render(newSpec(output.ObjectSecret, secretType(output.SecretTypeBasicAuth), transforms("trim")), secretObject("alice:s3cr3t-pw\n"))
	if err != nil {
		t.Fatal(err)
	}
	assertData(t, got, data("username", "alice", "password", "s3cr3t-pw"))
}

// TestTransformsIgnoredForOtherObjects: akv2k8s built its transformer only
// for secret objects; the others ignored spec.output.transform entirely,
// unknown names included.
func TestTransformsIgnoredForOtherObjects(t *testing.T) {
	f := fixtures(t)
	ts := transforms("base64encode", "bogus")
	got, err := output.Render(newSpec(output.ObjectCertificate, ts, dataKey("c")), f.ecPEM.obj)
	if err != nil {
		t.Fatal(err)
	}
	assertData(t, got, map[string][]byte{"c": f.ecPEM.chainPEM})

	got, err = output.Render(newSpec(output.ObjectKey, ts, dataKey("k")), keyObject(f.ecKey.Public()))
	if err != nil {
		t.Fatal(err)
	}
	assertData(t, got, map[string][]byte{"k": publicPEM(t, f.ecKey.Public())})

	got, err = output.Render(newSpec(output.ObjectMultiKeyValueSecret, ts, contentType(output.ContentTypeJSON)), secretObject(`{"a":"b"}`))
	if err != nil {
		t.Fatal(err)
	}
	assertData(t, got, data("a", "b"))
}
