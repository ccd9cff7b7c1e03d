// Package ociimage builds container images from files in Go, without a Docker
// daemon: one layer holding the given files, an image config with the given
// entrypoint, user and platform. latchkey's own images and the e2e test images
// are built this way, so every machine that can run `go build` can build them.
package ociimage

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// File is one regular file of the image's single layer.
type File struct {
	// Path is absolute inside the image, e.g. "/toolbox".
	Path string
	// Mode is the permission bits, e.g. 0o755 for a program.
	Mode int64
	Data []byte
}

// Spec says what goes into an image.
type Spec struct {
	Files      []File
	Entrypoint []string
	Cmd        []string
	Env        []string
	// User is "uid:gid"; empty runs as root, which only test images should do.
	User       string
	WorkingDir string
	// OS and Architecture of the image, e.g. "linux", "amd64".
	OS, Architecture string
	Labels           map[string]string
}

// epoch is the timestamp of every file and of the image itself: the same
// inputs give the same digest on every machine and every day.
var epoch = time.Unix(0, 0).UTC()

// Build returns the image described by spec.
func Build(spec Spec) (v1.Image, error) {
	if spec.OS == "" || spec.Architecture == "" {
		return nil, fmt.Errorf("ociimage: OS and Architecture are required")
	}
	layerTar, err := layerTar(spec.Files)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, fmt.Errorf("ociimage: layer: %w", err)
	}
	base := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	base = mutate.ConfigMediaType(base, types.OCIConfigJSON)
	img, err := mutate.Append(base, mutate.Addendum{Layer: layer, MediaType: types.OCILayer})
	if err != nil {
		return nil, fmt.Errorf("ociimage: append layer: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = spec.OS, spec.Architecture
	cf.Created = v1.Time{Time: epoch}
	cf.Config.Entrypoint = spec.Entrypoint
	cf.Config.Cmd = spec.Cmd
	cf.Config.Env = spec.Env
	cf.Config.User = spec.User
	cf.Config.WorkingDir = spec.WorkingDir
	cf.Config.Labels = spec.Labels
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("ociimage: config: %w", err)
	}
	return img, nil
}

// layerTar writes files, with their parent directories, as a tar stream in a
// fixed order.
func layerTar(files []File) ([]byte, error) {
	sorted := append([]File(nil), files...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Path < sorted[j].Path })

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{}
	for _, f := range sorted {
		if !path.IsAbs(f.Path) || path.Clean(f.Path) != f.Path {
			return nil, fmt.Errorf("ociimage: path %q must be absolute and clean", f.Path)
		}
		for _, d := range parents(f.Path) {
			if dirs[d] {
				continue
			}
			dirs[d] = true
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755, ModTime: epoch}); err != nil {
				return nil, err
			}
		}
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: strings.TrimPrefix(f.Path, "/"), Mode: f.Mode, Size: int64(len(f.Data)), ModTime: epoch}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.Data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// parents lists the directories above p, outermost first, without the leading
// slash: "/a/b/c" gives "a", "a/b".
func parents(p string) []string {
	parts := strings.Split(strings.TrimPrefix(path.Dir(p), "/"), "/")
	var out []string
	for i := range parts {
		if parts[i] == "" {
			continue
		}
		out = append(out, strings.Join(parts[:i+1], "/"))
	}
	return out
}
