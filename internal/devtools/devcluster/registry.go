package devcluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"runtime"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/latchkey-dev/latchkey/internal/devtools/ociimage"
)

// Registry is an OCI distribution registry in this process (go-containerregistry's
// in-memory implementation), served over plain HTTP on the node's address.
// The node's containerd pulls from it like from any registry, so image pulls
// in tests are real, and pods reach it too.
type Registry struct {
	// Host is host:port, the prefix of every image reference pushed here.
	Host string
	srv  *http.Server
}

// StartRegistry serves a registry on addr (e.g. "127.0.0.1:0").
func StartRegistry(addr string) (*Registry, error) {
	l, err := new(net.ListenConfig).Listen(context.Background(), "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("devcluster: registry: %w", err)
	}
	srv := &http.Server{
		Handler:           registry.New(registry.Logger(log.New(io.Discard, "", 0))),
		ReadHeaderTimeout: 10 * time.Second,
	}
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Printf("devcluster: registry stopped: %v", err)
		}
	}()
	return &Registry{Host: l.Addr().String(), srv: srv}, nil
}

// Push uploads img as <Host>/<repoTag> and returns the full reference.
func (r *Registry) Push(ctx context.Context, repoTag string, img v1.Image) (string, error) {
	ref, err := name.ParseReference(r.Host+"/"+repoTag, name.Insecure)
	if err != nil {
		return "", err
	}
	if err := remote.Write(ref, img, remote.WithContext(ctx)); err != nil {
		return "", fmt.Errorf("devcluster: push %s: %w", ref, err)
	}
	return ref.String(), nil
}

// PushProgram pushes an image holding one static program at /<base of
// entrypoint[0]> for this machine's architecture.
func (r *Registry) PushProgram(ctx context.Context, repoTag string, program []byte, entrypoint []string) (string, error) {
	img, err := ociimage.Build(ociimage.Spec{
		Files:        []ociimage.File{{Path: entrypoint[0], Mode: 0o755, Data: program}},
		Entrypoint:   entrypoint,
		OS:           "linux",
		Architecture: runtime.GOARCH,
	})
	if err != nil {
		return "", err
	}
	return r.Push(ctx, repoTag, img)
}

// Close stops serving.
func (r *Registry) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = r.srv.Shutdown(ctx)
}
