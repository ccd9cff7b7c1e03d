// Command images builds latchkey's container images without a Docker daemon
// (make images): for each component, one OCI image-layout tarball holding a
// multi-arch index for linux/amd64 and linux/arm64.
//
// A release is built with -version set to internal/release.Version (the
// chart's appVersion, so the chart's default tag is the tag written here):
// make images VERSION=v0.1.0. Any other release version (vX.Y.Z) is
// refused; without -version the images are tagged with git describe, a tag
// no chart names by default.
//
// Each image is a single layer: the component's static binary as /<name> (the
// entrypoint) and a CA bundle; it runs as 65532:65532. The same commit built
// with the same Go toolchain gives the same digests on any machine: the
// binaries are built reproducibly (ociimage.GoBinaries) and every time stamp
// in the images and archives is fixed.
//
//	go run ./hack/images [-out .cache/images] [-version v1.2.3]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/latchkey-dev/latchkey/internal/devtools/ociimage"
	thisrelease "github.com/latchkey-dev/latchkey/internal/release"
)

// component is one image: a main package of this module and the name of its
// binary and image.
type component struct {
	Name string // the image's name; its entrypoint is /Name
	Pkg  string // the main package, relative to the module's root
}

// components are the images latchkey ships; the chart's default image
// names are these.
var components = []component{
	{Name: "latchkey-controller", Pkg: "./cmd/latchkey-controller"},
	{Name: "latchkey-webhook", Pkg: "./cmd/latchkey-webhook"},
	{Name: "latchkey-resolver", Pkg: "./cmd/latchkey-resolver"},
	{Name: "latchkey-env", Pkg: "./cmd/latchkey-env"},
}

// arches are the architectures of every index, all on linux.
var arches = []string{"amd64", "arm64"}

const (
	// nonroot is distroless's nonroot user and group, which the chart's
	// securityContext expects too.
	nonroot = "65532:65532"
	caPath  = "/etc/ssl/certs/ca-certificates.crt"
	source  = "https://github.com/latchkey-dev/latchkey"
)

// release says what the images are built from; it goes into their labels and
// the archives' names.
type release struct {
	Version  string // e.g. v0.1.0 or v0.1.0-3-gabcdef0-dirty: an image tag
	Revision string // the commit
	Registry string // where the images are pushed, e.g. ghcr.io/latchkey-dev
}

// tagPattern is what a registry accepts as a tag, which the version becomes.
var tagPattern = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)

// releasePattern is the shape of a release version; a version of that
// shape must be internal/release.Version.
var releasePattern = regexp.MustCompile(`^v[0-9]+\.[0-9]+\.[0-9]+$`)

// checkRelease refuses a release version the tree does not say it is: the
// chart would pull a tag no build wrote, or a build would overwrite
// another release's tag.
func checkRelease(version string) error {
	if releasePattern.MatchString(version) && version != thisrelease.Version {
		return fmt.Errorf("version %s is a release, but this tree is release %s (internal/release.Version, charts/latchkey/Chart.yaml appVersion): bump both first, or tag a pre-release (%s-rc.1)", version, thisrelease.Version, version)
	}
	return nil
}

func main() {
	out := flag.String("out", ".cache/images", "folder of the archives")
	version := flag.String("version", "", "the images' version and tag (default: git describe --tags --always --dirty)")
	registry := flag.String("registry", thisrelease.Registry, "registry the archives name their images in (docker load, ctr import)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, *out, *version, *registry)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "images:", err)
		os.Exit(1)
	}
}

// run builds every component's index and writes its archive to out, then
// prints each archive with its index's digest, which is what a deployment
// pins.
func run(ctx context.Context, out, version, registry string) error {
	start := time.Now()
	rel, err := describe(ctx, version, registry)
	if err != nil {
		return err
	}
	moduleDir, err := os.Getwd()
	if err != nil {
		return err
	}
	indexes, err := buildIndexes(ctx, moduleDir, components, rel)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	for i, c := range components {
		file := filepath.Join(out, c.Name+"-"+rel.Version+".oci.tar")
		if err := writeArchive(file, indexes[i], c, rel); err != nil {
			return err
		}
		digest, err := indexes[i].Digest()
		if err != nil {
			return err
		}
		fmt.Printf("%s  %s\n", digest, file)
	}
	fmt.Fprintf(os.Stderr, "images: %d components for %s in %s\n", len(components), strings.Join(arches, ", "), time.Since(start).Round(time.Second))
	return nil
}

// describe fills in the release from git where the flags leave it open, so
// the images say which commit they are.
func describe(ctx context.Context, version, registry string) (release, error) {
	rel := release{Version: version, Registry: registry}
	var err error
	if rel.Version == "" {
		if rel.Version, err = git(ctx, "describe", "--tags", "--always", "--dirty"); err != nil {
			return rel, fmt.Errorf("version: %w (set -version)", err)
		}
	}
	if !tagPattern.MatchString(rel.Version) {
		return rel, fmt.Errorf("version %q is not a valid image tag", rel.Version)
	}
	if err := checkRelease(rel.Version); err != nil {
		return rel, err
	}
	if rel.Revision, err = git(ctx, "rev-parse", "HEAD"); err != nil {
		return rel, fmt.Errorf("revision: %w", err)
	}
	return rel, nil
}

// git runs git with args and returns its trimmed output.
func git(ctx context.Context, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, "git", args...).Output()
	if err != nil {
		return "", fmt.Errorf("git %s: %w", strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out)), nil
}

// buildIndexes builds comps for every architecture, one go command per
// architecture so shared packages compile once, and returns their indexes in
// the order of comps.
func buildIndexes(ctx context.Context, moduleDir string, comps []component, rel release) ([]v1.ImageIndex, error) {
	pkgs := make([]string, len(comps))
	for i, c := range comps {
		pkgs[i] = c.Pkg
	}
	bins := map[string]map[string][]byte{} // arch → package → binary
	for _, arch := range arches {
		b, err := ociimage.GoBinaries(ctx, moduleDir, arch, pkgs...)
		if err != nil {
			return nil, err
		}
		bins[arch] = b
	}
	indexes := make([]v1.ImageIndex, len(comps))
	for i, c := range comps {
		imgs := make([]v1.Image, len(arches))
		for j, arch := range arches {
			img, err := ociimage.Build(imageSpec(c, arch, bins[arch][c.Pkg], rel))
			if err != nil {
				return nil, fmt.Errorf("%s for %s: %w", c.Name, arch, err)
			}
			imgs[j] = img
		}
		idx, err := ociimage.Index(imgs, labels(rel))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.Name, err)
		}
		indexes[i] = idx
	}
	return indexes, nil
}

// imageSpec is c's image for linux/arch: the binary as the entrypoint, the CA
// bundle where Go, OpenSSL and most programs look first, a non-root user.
func imageSpec(c component, arch string, bin []byte, rel release) ociimage.Spec {
	return ociimage.Spec{
		Files: []ociimage.File{
			{Path: "/" + c.Name, Mode: 0o755, Data: bin},
			{Path: caPath, Mode: 0o644, Data: caBundle()},
		},
		Entrypoint:   []string{"/" + c.Name},
		User:         nonroot,
		OS:           "linux",
		Architecture: arch,
		Labels:       labels(rel),
	}
}

// labels are the OCI annotations that say where an image comes from; they go
// on every image's config and on the index.
func labels(rel release) map[string]string {
	return map[string]string{
		"org.opencontainers.image.source":   source,
		"org.opencontainers.image.version":  rel.Version,
		"org.opencontainers.image.revision": rel.Revision,
	}
}

// writeArchive writes idx to file as an OCI layout tarball naming the image
// by its tag (skopeo's oci-archive:file:tag) and by its full reference (what
// docker load and ctr import tag it as). The file appears complete or not at
// all.
func writeArchive(file string, idx v1.ImageIndex, c component, rel release) error {
	tmp, err := os.CreateTemp(filepath.Dir(file), filepath.Base(file)+".tmp-")
	if err != nil {
		return err
	}
	defer func() { _ = os.Remove(tmp.Name()) }()
	names := map[string]string{
		"org.opencontainers.image.ref.name": rel.Version,
		"io.containerd.image.name":          rel.Registry + "/" + c.Name + ":" + rel.Version,
	}
	if err := ociimage.WriteLayoutTar(tmp, idx, names); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("%s: %w", c.Name, err)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), file)
}
