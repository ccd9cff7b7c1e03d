package ociimage

import (
	"archive/tar"
	"errors"
	"io"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

func TestBuildIsReproducibleAndCarriesConfig(t *testing.T) {
	spec := Spec{
		Files:        []File{{Path: "/bin/tool", Mode: 0o755, Data: []byte("program")}, {Path: "/etc/ssl/certs/ca.pem", Mode: 0o644, Data: []byte("roots")}},
		Entrypoint:   []string{"/bin/tool"},
		Cmd:          []string{"serve"},
		User:         "65532:65532",
		OS:           "linux",
		Architecture: "arm64",
	}
	a, err := Build(spec)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Build(spec)
	if err != nil {
		t.Fatal(err)
	}
	da, _ := a.Digest()
	db, _ := b.Digest()
	if da != db {
		t.Errorf("same spec gave digests %s and %s", da, db)
	}

	cf, err := a.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.Architecture != "arm64" || cf.OS != "linux" || cf.Config.User != "65532:65532" ||
		len(cf.Config.Entrypoint) != 1 || cf.Config.Entrypoint[0] != "/bin/tool" || cf.Config.Cmd[0] != "serve" {
		t.Errorf("config = %+v", cf)
	}

	got := map[string]string{}
	tr := tar.NewReader(mutate.Extract(a))
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(tr)
		got[hdr.Name] = string(body)
	}
	for name, want := range map[string]string{"bin": "", "bin/tool": "program", "etc/ssl/certs": "", "etc/ssl/certs/ca.pem": "roots"} {
		if body, ok := got[name]; !ok || body != want {
			t.Errorf("layer entry %q = %q, %v; want %q", name, body, ok, want)
		}
	}
}

func TestBuildRejectsRelativePaths(t *testing.T) {
	if _, err := Build(Spec{Files: []File{{Path: "tool"}}, OS: "linux", Architecture: "amd64"}); err == nil {
		t.Error("relative path accepted")
	}
}
