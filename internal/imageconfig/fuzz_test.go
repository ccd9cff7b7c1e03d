package imageconfig

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The media types a registry may serve a manifest as, and the platforms a
// pod may ask for, picked by the fuzzed indexes.
var (
	fuzzServed = []types.MediaType{"", types.OCIManifestSchema1, types.DockerManifestSchema2, types.OCIImageIndex,
		types.DockerManifestList, types.DockerManifestSchema1, types.DockerManifestSchema1Signed, "application/json"}
	fuzzPlatforms = []Platform{{"linux", "amd64", ""}, {"linux", "arm64", ""}, {"linux", "arm", "v7"}, {"windows", "amd64", ""}}
)

// FuzzParseManifest feeds a manifest, index or schema 1 manifest, served
// as any media type, through what the lookup does with it before fetching
// anything else (seed corpus in testdata/fuzz/FuzzParseManifest: the
// shapes of OCI, Docker schema 2 and schema 1 manifests, indexes with
// attestations, Helm charts, embedded configs). It checks that what is
// accepted is within the bounds and agrees with go-containerregistry's
// parsers, that a chosen manifest is one of the index's for the platform,
// and that no error repeats the document's words.
func FuzzParseManifest(f *testing.F) {
	f.Add(uint8(1), uint8(0), []byte(`{"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","size":2,"digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"}}`))
	f.Fuzz(func(t *testing.T, servedIdx, platIdx uint8, raw []byte) {
		served := fuzzServed[int(servedIdx)%len(fuzzServed)]
		plat := fuzzPlatforms[int(platIdx)%len(fuzzPlatforms)]
		var err error
		switch documentKind(served, raw) {
		case kindSchema1:
			var res Result
			if res, err = parseSchema1(raw); err == nil {
				checkResult(t, res)
			}
		case kindIndex:
			err = fuzzIndex(t, raw, plat)
		case kindManifest:
			err = fuzzManifest(t, raw)
		}
		checkParseError(t, err, raw)
	})
}

func fuzzIndex(t *testing.T, raw []byte, plat Platform) error {
	manifests, err := parseIndex(raw)
	theirs, theirErr := v1.ParseIndexManifest(bytes.NewReader(raw))
	theirErr = validOr(raw, theirErr)
	if err != nil {
		if theirErr == nil && len(theirs.Manifests) <= maxIndexManifests {
			t.Fatalf("refused an index go-containerregistry reads: %v", err)
		}
		return err
	}
	if len(manifests) > maxIndexManifests {
		t.Fatalf("accepted an index of %d manifests", len(manifests))
	}
	if theirErr == nil {
		if len(theirs.Manifests) != len(manifests) {
			t.Fatalf("%d manifests, go-containerregistry reads %d", len(manifests), len(theirs.Manifests))
		}
		for i, m := range manifests {
			if !sameDescriptor(m, theirs.Manifests[i]) {
				t.Fatalf("manifest %d = %+v, go-containerregistry reads %+v", i, m, theirs.Manifests[i])
			}
		}
	}
	child, ok := pickManifest(manifests, plat)
	if !ok {
		return &platformError{want: plat, available: platformsOf(manifests)}
	}
	if !slices.ContainsFunc(manifests, func(m v1.Descriptor) bool { return sameDescriptor(m, child) }) {
		t.Fatalf("picked %+v, which the index does not list", child)
	}
	if child.Platform == nil || child.Platform.OS != plat.OS || child.Platform.Architecture != plat.Architecture {
		t.Fatalf("picked %+v for %s", child.Platform, plat)
	}
	if err := checkChild(child); err != nil {
		return err
	}
	if child.Size <= 0 || child.Size > maxManifestBytes || child.MediaType.IsIndex() {
		t.Fatalf("would fetch %+v", child)
	}
	return nil
}

func fuzzManifest(t *testing.T, raw []byte) error {
	cfg, err := parseManifest(raw)
	theirs, theirErr := v1.ParseManifest(bytes.NewReader(raw))
	theirErr = validOr(raw, theirErr)
	if err != nil {
		if theirErr == nil && theirs.Config.Size > 0 && theirs.Config.Size <= maxConfigBytes &&
			theirs.Config.Digest != (v1.Hash{}) && (theirs.Config.MediaType == "" || theirs.Config.MediaType.IsConfig()) &&
			(theirs.Config.Data == nil || int64(len(theirs.Config.Data)) == theirs.Config.Size) {
			t.Fatalf("refused a manifest go-containerregistry reads: %v", err)
		}
		return err
	}
	if cfg.Size <= 0 || cfg.Size > maxConfigBytes || cfg.Digest == (v1.Hash{}) || (cfg.MediaType != "" && !cfg.MediaType.IsConfig()) {
		t.Fatalf("would fetch the config %+v", cfg)
	}
	if theirErr == nil && !sameDescriptor(cfg, theirs.Config) {
		t.Fatalf("config %+v, go-containerregistry reads %+v", cfg, theirs.Config)
	}
	return nil
}

// validOr is err, or an error when raw is not one JSON document:
// go-containerregistry's parsers read the first value and ignore what
// follows ("{}0" is an index to them), where the lookup's refuse it.
func validOr(raw []byte, err error) error {
	if err == nil && !json.Valid(raw) {
		return errors.New("not one JSON document")
	}
	return err
}

// sameDescriptor compares what the lookup reads of a descriptor.
func sameDescriptor(a, b v1.Descriptor) bool {
	if a.MediaType != b.MediaType || a.Size != b.Size || a.Digest != b.Digest || !bytes.Equal(a.Data, b.Data) {
		return false
	}
	if a.Platform == nil || b.Platform == nil {
		return a.Platform == nil && b.Platform == nil
	}
	return a.Platform.OS == b.Platform.OS && a.Platform.Architecture == b.Platform.Architecture && a.Platform.Variant == b.Platform.Variant
}

// FuzzParseConfig feeds an image config to the lookup's decoder (seed
// corpus in testdata/fuzz/FuzzParseConfig: Docker and OCI configs as
// builders write them). It checks that ENTRYPOINT, CMD, USER and WORKDIR
// come out as go-containerregistry's full decoder reads them whenever that
// one accepts the config (unless too large), within the bounds, and that no
// error repeats the config's words.
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(`{"config":{"Entrypoint":["/bin/app"],"Cmd":["serve"],"User":"65532","WorkingDir":"/work"}}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		res, err := parseConfig(raw)
		theirs, theirErr := v1.ParseConfigFile(bytes.NewReader(raw))
		theirErr = validOr(raw, theirErr)
		checkParseError(t, err, raw)
		if err != nil {
			if _, tooLarge := asTooLarge(err); theirErr == nil && !tooLarge {
				t.Fatalf("refused a config go-containerregistry reads: %v", err)
			}
			return
		}
		checkResult(t, res)
		if theirErr != nil {
			return // more lenient than a full decode: fields the lookup does not use are not checked
		}
		c := theirs.Config
		if !slices.Equal(res.Entrypoint, c.Entrypoint) || !slices.Equal(res.Cmd, c.Cmd) || res.User != c.User || res.WorkingDir != c.WorkingDir {
			t.Fatalf("read %+v, go-containerregistry reads Entrypoint %q Cmd %q User %q WorkingDir %q", res, c.Entrypoint, c.Cmd, c.User, c.WorkingDir)
		}
	})
}

// checkResult fails when an accepted config holds more than the bounds
// let through.
func checkResult(t *testing.T, res Result) {
	t.Helper()
	if n := resultSize(res); n > 4*maxCommandBytes*8 {
		t.Fatalf("a result of %d bytes", n)
	}
	for _, s := range []string{res.User, res.WorkingDir} {
		if len(s) > maxCommandBytes {
			t.Fatalf("a field of %d bytes", len(s))
		}
	}
}

// checkParseError fails when a parser's error is not one of the package's
// own, is long, or repeats a word of the document.
func checkParseError(t *testing.T, err error, raw []byte) {
	t.Helper()
	if err == nil {
		return
	}
	v, ok := asOwn(err, theRegistry)
	if !ok {
		t.Fatalf("error %T %v is not one of the package's", err, err)
	}
	if len(v.reason) > 400 {
		t.Fatalf("a reason of %d bytes: %.200q", len(v.reason), v.reason)
	}
	for _, s := range documentWords(raw) {
		if strings.Contains(v.reason, s) {
			t.Fatalf("reason %q repeats %q from the document", v.reason, s)
		}
	}
}

// ownWords is every word a parser's error may say of its own accord.
var ownWords = strings.Join(append(append(append([]string{}, knownMediaTypes...), knownOS...), knownArch...), " ") +
	" the registry served an invalid image index manifest config schema 1 (no config) (a config without a digest)" +
	" (a config without a size) (no history) (a manifest without a size) is larger than the webhook reads" +
	" declared ENTRYPOINT, CMD, USER or WORKDIR in the image config the reference is not a container image" +
	" a media type the webhook does not know inside an index the image index lists manifests, more than" +
	" image config embedded in the manifest that does not match its size digest has no manifest for only" +
	" and more platforms the webhook does not know no platform at all linux/amd64 linux/arm64 linux/arm/v7 windows/amd64"

// documentWords are the strings of a JSON document long enough not to be
// one of ownWords' by chance.
func documentWords(raw []byte) []string {
	var doc any
	if json.Unmarshal(raw, &doc) != nil {
		return nil
	}
	var out []string
	var walk func(v any)
	add := func(s string) {
		if len(s) >= 6 && !strings.Contains(ownWords, s) {
			out = append(out, s)
		}
	}
	walk = func(v any) {
		switch v := v.(type) {
		case string:
			add(v)
		case []any:
			for _, e := range v {
				walk(e)
			}
		case map[string]any:
			for k, e := range v {
				add(k)
				walk(e)
			}
		}
	}
	walk(doc)
	return out
}

func TestParseSchema1(t *testing.T) {
	// A schema 1 manifest as Docker 1.x pushed them: the top layer's config
	// is the JSON in the first history entry.
	raw := []byte(`{"schemaVersion":1,"name":"team/app","tag":"v1","architecture":"amd64",
		"fsLayers":[{"blobSum":"sha256:a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4"}],
		"history":[{"v1Compatibility":"{\"id\":\"e4\",\"config\":{\"Entrypoint\":[\"/entry\"],\"Cmd\":[\"run\"],\"User\":\"app\",\"WorkingDir\":\"/srv\"}}"},
		           {"v1Compatibility":"{\"id\":\"d3\",\"config\":{\"Cmd\":[\"/bin/sh\"]}}"}]}`)
	if k := documentKind("", raw); k != kindSchema1 {
		t.Fatalf("documentKind = %v, want schema 1", k)
	}
	res, err := parseSchema1(raw)
	if err != nil {
		t.Fatal(err)
	}
	want := Result{Entrypoint: []string{"/entry"}, Cmd: []string{"run"}, User: "app", WorkingDir: "/srv"}
	if !equalResult(res, want) {
		t.Errorf("parseSchema1 = %+v, want %+v", res, want)
	}
	if _, err := parseSchema1([]byte(`{"schemaVersion":1,"history":[]}`)); !errors.Is(classify(err, "r").class, ErrRegistry) {
		t.Errorf("no history: err = %v, want ErrRegistry", err)
	}
}

func TestDocumentKind(t *testing.T) {
	tests := []struct {
		served types.MediaType
		raw    string
		want   docKind
	}{
		{types.OCIImageIndex, `{}`, kindIndex},
		{types.DockerManifestSchema2, `{"manifests":[]}`, kindManifest}, // the served type wins
		{"application/json", `{"mediaType":"application/vnd.oci.image.index.v1+json"}`, kindIndex},
		{"", `{"manifests":[]}`, kindIndex},
		{"", `{"schemaVersion":1}`, kindSchema1},
		{"text/plain", `{"schemaVersion":2,"config":{}}`, kindManifest},
		{"", `not json`, kindManifest},
	}
	for _, tt := range tests {
		if got := documentKind(tt.served, []byte(tt.raw)); got != tt.want {
			t.Errorf("documentKind(%q, %s) = %v, want %v", tt.served, tt.raw, got, tt.want)
		}
	}
}
