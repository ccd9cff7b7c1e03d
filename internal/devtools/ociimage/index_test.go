package ociimage

import (
	"bytes"
	"context"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

func testImages(t *testing.T) []v1.Image {
	t.Helper()
	var imgs []v1.Image
	for _, arch := range []string{"amd64", "arm64"} {
		img, err := Build(Spec{Files: []File{{Path: "/app", Mode: 0o755, Data: []byte(arch)}}, Entrypoint: []string{"/app"}, OS: "linux", Architecture: arch})
		if err != nil {
			t.Fatal(err)
		}
		imgs = append(imgs, img)
	}
	return imgs
}

func TestIndexNamesEachImagesPlatform(t *testing.T) {
	imgs := testImages(t)
	idx, err := Index(imgs, map[string]string{"org.opencontainers.image.source": "https://example.test"})
	if err != nil {
		t.Fatal(err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if m.MediaType != types.OCIImageIndex || m.Annotations["org.opencontainers.image.source"] != "https://example.test" {
		t.Errorf("index = %s, %v", m.MediaType, m.Annotations)
	}
	if len(m.Manifests) != 2 {
		t.Fatalf("%d manifests", len(m.Manifests))
	}
	for i, arch := range []string{"amd64", "arm64"} {
		d := m.Manifests[i]
		want, _ := imgs[i].Digest()
		if d.Digest != want || d.Platform == nil || d.Platform.OS != "linux" || d.Platform.Architecture != arch {
			t.Errorf("manifest %d = %s %+v, want %s linux/%s", i, d.Digest, d.Platform, want, arch)
		}
	}
}

func TestWriteLayoutTarIsReproducible(t *testing.T) {
	archive := func() []byte {
		idx, err := Index(testImages(t), nil)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := WriteLayoutTar(&buf, idx, map[string]string{"org.opencontainers.image.ref.name": "v1"}); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	a, b := archive(), archive()
	if !bytes.Equal(a, b) {
		t.Error("the same index gave two different archives")
	}
	for _, want := range []string{"oci-layout", "index.json", "blobs/sha256/"} {
		if !bytes.Contains(a, []byte(want)) {
			t.Errorf("archive has no %s", want)
		}
	}
}

func TestGoBinariesRefusesTwoPackagesOfOneName(t *testing.T) {
	_, err := GoBinaries(context.Background(), ".", "amd64", "./a/tool", "./b/tool")
	if err == nil || !strings.Contains(err.Error(), "both build") {
		t.Errorf("err = %v", err)
	}
}
