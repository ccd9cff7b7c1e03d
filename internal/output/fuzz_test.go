package output_test

import (
	"bytes"
	"testing"

	"github.com/latchkey-dev/latchkey/internal/certbundle"
	"github.com/latchkey-dev/latchkey/internal/keyvault"
	"github.com/latchkey-dev/latchkey/internal/output"
)

var (
	fuzzObjectTypes  = []string{output.ObjectSecret, output.ObjectCertificate, output.ObjectMultiKeyValueSecret}
	fuzzContentTypes = []string{"", certbundle.ContentTypePKCS12, certbundle.ContentTypePEM, output.ContentTypeJSON, output.ContentTypeYAML}
	fuzzQueries      = []string{"", "tls.crt", "tls.key", "raw", "username", "password", "key1"}
	fuzzTransforms   = [][]string{nil, {"trim"}, {"base64decode"}, {"trim", "base64decode"}, {"base64encode"}}
)

// fuzzSeeds adds one value of every format the parsers read.
func fuzzSeeds(f *testing.F, add func(obj, ct uint8, value []byte)) {
	fx := fixtures(f)
	add(0, 0, []byte("alice:s3cr3t"))
	add(0, 0, []byte("YWxpY2U6czNjcjN0"))
	add(0, 0, []byte(`{"auths":{"r.io":{"username":"u","password":"p"}}}`))
	add(0, 0, []byte(fx.pfxSecret))
	add(0, 0, []byte(fx.pemSecret))
	add(1, 1, fx.rsaPFX.obj.Value)
	add(1, 2, fx.ecPEM.obj.Value)
	add(1, 1, fx.sealedPFX.obj.Value)
	add(2, 3, []byte(`{"key1":"v","n":1.50,"o":{"a":[1,null]}}`))
	add(2, 4, []byte("key1: v\nn: 0800\nb: &x {c: d}\n<<: *x\n"))
}

func FuzzRender(f *testing.F) {
	fuzzSeeds(f, func(obj, ct uint8, value []byte) {
		for st := range allSecretTypes {
			f.Add(obj, ct, uint8(st), uint8(0), false, value)
		}
	})
	f.Fuzz(func(t *testing.T, objIdx, ctIdx, stIdx, trIdx uint8, configMap bool, value []byte) {
		spec := output.Spec{
			ObjectType:  fuzzObjectTypes[int(objIdx)%len(fuzzObjectTypes)],
			ContentType: fuzzContentTypes[int(ctIdx)%len(fuzzContentTypes)],
			SecretType:  allSecretTypes[int(stIdx)%len(allSecretTypes)],
			DataKey:     "data",
			Transforms:  fuzzTransforms[int(trIdx)%len(fuzzTransforms)],
			Target:      output.TargetSecret,
		}
		if configMap {
			spec.Target = output.TargetConfigMap
		}
		obj := keyvault.Object{ContentType: spec.ContentType, Value: bytes.Clone(value)}
		got, err := output.Render(spec, obj)
		if !bytes.Equal(obj.Value, value) {
			t.Fatal("Render modified the object's value")
		}
		if err != nil {
			if len(value) >= 24 && bytes.Contains([]byte(err.Error()), value) {
				t.Fatalf("error quotes the value: %v", err)
			}
			return
		}
		for k, v := range got {
			if k == "" {
				t.Fatal("empty data key")
			}
			if spec.ObjectType == output.ObjectCertificate && spec.Target == output.TargetConfigMap &&
				bytes.Contains(v, []byte("PRIVATE KEY")) {
				t.Fatal("private key written to a ConfigMap")
			}
		}
	})
}

func FuzzQuery(f *testing.F) {
	fuzzSeeds(f, func(obj, ct uint8, value []byte) {
		for q := range fuzzQueries {
			f.Add(obj, ct, fuzzQueries[q], value)
		}
	})
	f.Fuzz(func(t *testing.T, objIdx, ctIdx uint8, query string, value []byte) {
		spec := output.Spec{
			ObjectType:  fuzzObjectTypes[int(objIdx)%len(fuzzObjectTypes)],
			ContentType: fuzzContentTypes[int(ctIdx)%len(fuzzContentTypes)],
		}
		obj := keyvault.Object{ContentType: spec.ContentType, Value: bytes.Clone(value)}
		_, err := output.Query(spec, obj, query)
		if !bytes.Equal(obj.Value, value) {
			t.Fatal("Query modified the object's value")
		}
		if err != nil && len(value) >= 24 && !bytes.Contains([]byte(query), value) &&
			bytes.Contains([]byte(err.Error()), value) {
			t.Fatalf("error quotes the value: %v", err)
		}
	})
}
