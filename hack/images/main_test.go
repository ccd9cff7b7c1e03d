package main

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"debug/elf"
	"encoding/pem"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	thisrelease "github.com/latchkey-dev/latchkey/internal/release"
)

// The tests build a fixture command rather than a real component: the
// pipeline is the same, and a cold cache cross-compiles it for arm64 in
// seconds where latchkey-env takes minutes on 2 cores.
var (
	fixture = component{Name: "fixture", Pkg: "./hack/images/testdata/fixture"}
	testRel = release{Version: "v0.0.0-test", Revision: "0123456789abcdef0123456789abcdef01234567", Registry: "example.test/latchkey"}
)

// fixtureIndex builds the fixture's index once for all the tests that only
// read it.
var fixtureIndex = sync.OnceValues(buildFixture)

func buildFixture() (v1.ImageIndex, error) {
	idx, err := buildIndexes(context.Background(), filepath.Join("..", ".."), []component{fixture}, testRel)
	if err != nil {
		return nil, err
	}
	return idx[0], nil
}

func mustIndex(t *testing.T) v1.ImageIndex {
	t.Helper()
	idx, err := fixtureIndex()
	if err != nil {
		t.Fatal(err)
	}
	return idx
}

func TestBuildTwiceGivesTheSameDigestsAndArchive(t *testing.T) {
	first := mustIndex(t)
	second, err := buildFixture() // a second go build, not the cached index
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := first.Digest()
	d2, _ := second.Digest()
	if d1 != d2 {
		t.Errorf("index digests differ: %s, %s", d1, d2)
	}
	a1, a2 := archiveSum(t, first), archiveSum(t, second)
	if a1 != a2 {
		t.Errorf("archives differ: %x, %x", a1, a2)
	}
}

func TestIndexHoldsLinuxAmd64AndArm64(t *testing.T) {
	m, err := mustIndex(t).IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range m.Manifests {
		if d.Platform == nil {
			t.Fatalf("manifest %s has no platform", d.Digest)
		}
		got = append(got, d.Platform.OS+"/"+d.Platform.Architecture)
	}
	if len(got) != 2 || got[0] != "linux/amd64" || got[1] != "linux/arm64" {
		t.Errorf("platforms = %v, want [linux/amd64 linux/arm64]", got)
	}
	if m.Annotations["org.opencontainers.image.revision"] != testRel.Revision {
		t.Errorf("index annotations = %v", m.Annotations)
	}
}

func TestImagesRunTheBinaryAsNonRootWithCARoots(t *testing.T) {
	for arch, img := range images(t) {
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if cf.Config.User != "65532:65532" {
			t.Errorf("%s: user = %q", arch, cf.Config.User)
		}
		if len(cf.Config.Entrypoint) != 1 || cf.Config.Entrypoint[0] != "/fixture" {
			t.Errorf("%s: entrypoint = %q", arch, cf.Config.Entrypoint)
		}
		for k, want := range map[string]string{
			"org.opencontainers.image.source":   source,
			"org.opencontainers.image.version":  testRel.Version,
			"org.opencontainers.image.revision": testRel.Revision,
		} {
			if cf.Config.Labels[k] != want {
				t.Errorf("%s: label %s = %q, want %q", arch, k, cf.Config.Labels[k], want)
			}
		}
		files := layerFiles(t, img)
		if files["fixture"].mode != 0o755 {
			t.Errorf("%s: /fixture mode = %o", arch, files["fixture"].mode)
		}
		ca := files["etc/ssl/certs/ca-certificates.crt"].data
		if n := countCerts(ca); n < 100 {
			t.Errorf("%s: %s holds %d certificates", arch, caPath, n)
		}
	}
}

func TestBinariesAreForTheirArchitecture(t *testing.T) {
	want := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}
	for arch, img := range images(t) {
		f, err := elf.NewFile(bytes.NewReader(layerFiles(t, img)["fixture"].data))
		if err != nil {
			t.Fatalf("%s: %v", arch, err)
		}
		if f.Machine != want[arch] || f.Class != elf.ELFCLASS64 {
			t.Errorf("%s: binary is %v %v, want %v", arch, f.Class, f.Machine, want[arch])
		}
	}
}

func TestArchiveIsAnOCILayoutNamingTheIndex(t *testing.T) {
	idx := mustIndex(t)
	file := filepath.Join(t.TempDir(), "fixture.oci.tar")
	if err := writeArchive(file, idx, fixture, testRel); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	untar(t, file, dir)
	l, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	m, err := l.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	want, _ := idx.Digest()
	if len(m.Manifests) != 1 || m.Manifests[0].Digest != want {
		t.Fatalf("index.json = %+v, want one entry %s", m.Manifests, want)
	}
	ann := m.Manifests[0].Annotations
	if ann["org.opencontainers.image.ref.name"] != "v0.0.0-test" || ann["io.containerd.image.name"] != "example.test/latchkey/fixture:v0.0.0-test" {
		t.Errorf("annotations = %v", ann)
	}
	// Every blob is there: the index reads back whole.
	inner, err := l.ImageIndex(want)
	if err != nil {
		t.Fatal(err)
	}
	im, err := inner.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range im.Manifests {
		img, err := inner.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := layerFiles(t, img)["fixture"]; !ok {
			t.Errorf("%s: no /fixture in the archived image", d.Platform.Architecture)
		}
	}
}

func TestComponentsAreCommandsOfThisModule(t *testing.T) {
	for _, c := range components {
		if _, err := os.Stat(filepath.Join("..", "..", c.Pkg, "main.go")); err != nil {
			t.Errorf("%s: %v", c.Name, err)
		}
	}
}

func TestDescribeRefusesAVersionThatIsNoTag(t *testing.T) {
	if _, err := describe(context.Background(), "feature/x", "r"); err == nil {
		t.Error("version with a slash accepted")
	}
}

// TestReleaseVersionIsTheTreesRelease: `make images VERSION=` accepts this
// tree's release (what the chart pulls by default), pre-releases and
// development versions, and refuses any other release version.
func TestReleaseVersionIsTheTreesRelease(t *testing.T) {
	for _, v := range []string{thisrelease.Version, thisrelease.Version + "-rc.1", "v0.0.0-test", thisrelease.Version + "-3-gabcdef0-dirty", "abcdef0"} {
		if err := checkRelease(v); err != nil {
			t.Errorf("%s refused: %v", v, err)
		}
	}
	for _, v := range []string{"v99.0.0", "v0.0.1"} {
		if err := checkRelease(v); err == nil || !strings.Contains(err.Error(), thisrelease.Version) {
			t.Errorf("%s: err %v, want a refusal naming %s", v, err, thisrelease.Version)
		}
	}
	if _, err := describe(context.Background(), "v99.0.0", "r"); err == nil {
		t.Error("describe accepted another release")
	}
}

// images returns the fixture index's images by architecture.
func images(t *testing.T) map[string]v1.Image {
	t.Helper()
	idx := mustIndex(t)
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]v1.Image{}
	for _, d := range m.Manifests {
		img, err := idx.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		out[d.Platform.Architecture] = img
	}
	return out
}

type layerFile struct {
	mode int64
	data []byte
}

// layerFiles reads img's file system by tar name (no leading slash).
func layerFiles(t *testing.T, img v1.Image) map[string]layerFile {
	t.Helper()
	rc := mutate.Extract(img)
	defer func() { _ = rc.Close() }()
	files := map[string]layerFile{}
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[hdr.Name] = layerFile{mode: hdr.Mode, data: data}
	}
}

// countCerts counts the certificates in a PEM bundle that parse.
func countCerts(pemData []byte) int {
	n := 0
	for block, rest := pem.Decode(pemData); block != nil; block, rest = pem.Decode(rest) {
		if _, err := x509.ParseCertificate(block.Bytes); err == nil && block.Type == "CERTIFICATE" {
			n++
		}
	}
	return n
}

// archiveSum is the SHA-256 of idx's archive.
func archiveSum(t *testing.T, idx v1.ImageIndex) [32]byte {
	t.Helper()
	file := filepath.Join(t.TempDir(), "a.oci.tar")
	if err := writeArchive(file, idx, fixture, testRel); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(data)
}

// untar unpacks the archive file into dir, as a user of crane push would.
func untar(t *testing.T, file, dir string) {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, filepath.FromSlash(hdr.Name))
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
		case tar.TypeReg:
			data, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
