package ociimage

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
)

// GoBinary builds the main package pkg (an import path or a ./relative path
// resolved in moduleDir) as a static linux binary for arch and returns its
// bytes. It shells out to the go command: images are built where the source is.
func GoBinary(ctx context.Context, moduleDir, pkg, arch string) ([]byte, error) {
	bins, err := GoBinaries(ctx, moduleDir, arch, pkg)
	if err != nil {
		return nil, err
	}
	return bins[pkg], nil
}

// GoBinaries builds the main packages pkgs as static linux binaries for arch
// in one go command, which compiles their shared dependencies once, and
// returns each binary's bytes by package.
//
// The binaries are reproducible: the same source and Go toolchain give the
// same bytes on every machine (see reproducibleBuild), so images built from
// them keep their digests from one build to the next.
func GoBinaries(ctx context.Context, moduleDir, arch string, pkgs ...string) (map[string][]byte, error) {
	if len(pkgs) == 0 {
		return nil, fmt.Errorf("ociimage: no package to build")
	}
	// go build -o dir/ names each binary after its package's last element.
	names := map[string]string{}
	for _, p := range pkgs {
		name := path.Base(p)
		if other, dup := names[name]; dup {
			return nil, fmt.Errorf("ociimage: %s and %s would both build %q", other, p, name)
		}
		names[name] = p
	}
	tmp, err := os.MkdirTemp("", "ociimage-build-")
	if err != nil {
		return nil, err
	}
	defer func() { _ = os.RemoveAll(tmp) }()

	cmd := reproducibleBuild(ctx, arch, tmp+string(filepath.Separator), pkgs)
	cmd.Dir = moduleDir
	if msg, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build %v for linux/%s: %w\n%s", pkgs, arch, err, msg)
	}
	bins := make(map[string][]byte, len(pkgs))
	for name, p := range names {
		if bins[p], err = os.ReadFile(filepath.Join(tmp, name)); err != nil {
			return nil, err
		}
	}
	return bins, nil
}

// reproducibleBuild is the go build command whose output depends only on the
// source and the toolchain: no cgo (a static binary that runs FROM scratch),
// no file system paths (-trimpath), no VCS stamp (a dirty tree would change
// it), no build ID, and no symbol tables. The environment pins what the
// caller's environment would otherwise choose: the instruction set levels and
// any GOFLAGS or GOEXPERIMENT set for other purposes.
func reproducibleBuild(ctx context.Context, arch, out string, pkgs []string) *exec.Cmd {
	args := append([]string{"build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w -buildid=", "-o", out}, pkgs...)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Env = append(os.Environ(),
		"CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch,
		"GOAMD64=v1", "GOARM64=v8.0",
		"GOFLAGS=", "GOEXPERIMENT=",
	)
	return cmd
}
