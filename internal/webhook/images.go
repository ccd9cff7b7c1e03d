package webhook

import (
	"context"

	"github.com/latchkey-dev/latchkey/internal/imageconfig"
)

// RegistryLookup looks image configs up in their registries with
// internal/imageconfig, on the platform the pod's node selector pins (else
// the install's default).
type RegistryLookup struct {
	Client          *imageconfig.Client
	DefaultPlatform imageconfig.Platform
}

// Lookup implements ImageLookup.
func (l RegistryLookup) Lookup(ctx context.Context, req ImageRequest) (ImageConfig, error) {
	secrets := make([]imageconfig.PullSecret, 0, len(req.PullSecrets))
	for _, s := range req.PullSecrets {
		secrets = append(secrets, imageconfig.NewPullSecret(s.Name, string(s.Type), s.Data))
	}
	res, err := l.Client.Lookup(ctx, imageconfig.Request{
		Image:       req.Image,
		Platform:    imageconfig.PlatformFromNodeSelector(req.NodeSelector, l.DefaultPlatform),
		PullSecrets: secrets,
	})
	if err != nil {
		return ImageConfig{}, err
	}
	return ImageConfig{Entrypoint: res.Entrypoint, Cmd: res.Cmd}, nil
}
