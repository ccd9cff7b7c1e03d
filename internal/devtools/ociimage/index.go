package ociimage

import (
	"archive/tar"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Index returns an OCI image index of imgs, one entry per image with the
// platform of its config, so that a runtime pulling the index picks the image
// built for its node. The annotations (e.g. org.opencontainers.image.source)
// go on the index itself, where registries look for them.
func Index(imgs []v1.Image, annotations map[string]string) (v1.ImageIndex, error) {
	adds := make([]mutate.IndexAddendum, 0, len(imgs))
	for _, img := range imgs {
		cf, err := img.ConfigFile()
		if err != nil {
			return nil, fmt.Errorf("ociimage: config: %w", err)
		}
		if cf.OS == "" || cf.Architecture == "" {
			return nil, fmt.Errorf("ociimage: an image of an index needs OS and Architecture")
		}
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{
			Platform: &v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant},
		}})
	}
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), adds...)
	if len(annotations) > 0 {
		idx = mutate.Annotations(idx, annotations).(v1.ImageIndex)
	}
	return idx, nil
}

// WriteLayoutTar writes idx to w as a tar of an OCI image layout (what skopeo
// calls an oci-archive; crane pushes it once unpacked) whose
// index.json names idx with the given annotations, e.g.
// org.opencontainers.image.ref.name. Entries are sorted and carry fixed
// times, owners and modes: the same index gives the same bytes.
func WriteLayoutTar(w io.Writer, idx v1.ImageIndex, annotations map[string]string) error {
	dir, err := os.MkdirTemp("", "ociimage-layout-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return fmt.Errorf("ociimage: layout: %w", err)
	}
	if err := p.AppendIndex(idx, layout.WithAnnotations(annotations)); err != nil {
		return fmt.Errorf("ociimage: layout: %w", err)
	}
	return tarDir(w, dir)
}

// tarDir writes the tree under dir to w in lexical order, with the fixed
// metadata of every file of these images (see epoch), so the archive's bytes
// depend on the files' contents only.
func tarDir(w io.Writer, dir string) error {
	tw := tar.NewWriter(w)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		name := filepath.ToSlash(rel)
		if d.IsDir() {
			return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: 0o755, ModTime: epoch})
		}
		return tarFile(tw, p, name)
	})
	if err != nil {
		return fmt.Errorf("ociimage: archive: %w", err)
	}
	return tw.Close()
}

// tarFile appends the regular file p to tw as name, streamed: layers of the
// images are tens of megabytes.
func tarFile(tw *tar.Writer, p, name string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }()
	info, err := f.Stat()
	if err != nil {
		return err
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: info.Size(), ModTime: epoch}); err != nil {
		return err
	}
	_, err = io.Copy(tw, f)
	return err
}
