package ociimage

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// GoBinary builds the main package pkg (an import path or a ./relative path
// resolved in moduleDir) as a static linux binary for arch and returns its
// bytes. It shells out to the go command: images are built where the source is.
func GoBinary(ctx context.Context, moduleDir, pkg, arch string) ([]byte, error) {
	tmp, err := os.MkdirTemp("", "ociimage-build-")
	if err != nil {
		return nil, err
	}
	defer func() { _ = os.RemoveAll(tmp) }()
	out := filepath.Join(tmp, "bin")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, pkg)
	cmd.Dir = moduleDir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
	if msg, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build %s for linux/%s: %w\n%s", pkg, arch, err, msg)
	}
	return os.ReadFile(out)
}
