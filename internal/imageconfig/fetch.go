package imageconfig

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// retryBackoff replaces go-containerregistry's (1 s, then 3 s): a lookup
// has a few seconds in all, so a flaky answer is retried soon or not at all.
var retryBackoff = remote.Backoff{Duration: 50 * time.Millisecond, Factor: 2, Jitter: 0.1, Steps: 3}

// attempt is one candidate's failed try.
type attempt struct {
	source string
	class  error
	reason string
	err    error
}

// fetch tries the candidates in order until one reads the config. It
// moves on to the next only when the registry refused a credential or
// claimed not to know the image (registries hide private images that way).
func (r *Resolver) fetch(ctx context.Context, k lookupKey, ref name.Reference, cands []candidate) (Result, *LookupError) {
	var tried []attempt
	for _, c := range cands {
		res, err := r.fetchWith(ctx, k, ref, c.auth)
		if err == nil {
			r.log.V(1).Info("Looked up image config", "image", k.ref, "platform", k.platform.String(), "digest", res.Digest, "credentials", c.source)
			return res, nil
		}
		v := classify(err)
		if ctx.Err() != nil {
			v = classify(ctx.Err())
		}
		tried = append(tried, attempt{source: c.source, class: v.class, reason: v.reason, err: err})
		if !movesOn(v.class) {
			break
		}
	}
	lerr := summarize(k.platform, tried)
	r.log.V(1).Info("Image config lookup failed", "image", k.ref, "platform", k.platform.String(), "class", lerr.Class.Error(), "reason", lerr.Reason)
	return Result{}, lerr
}

// summarize turns the failed attempts into one error. When every attempt
// was refused or told "not found", the class is "not found" if any said so
// (a credential that may see the image says so truthfully), else
// "unauthorized"; otherwise it is the class of the attempt that stopped the
// lookup. The reason lists every attempt.
func summarize(plat Platform, tried []attempt) *LookupError {
	last := tried[len(tried)-1]
	class := last.class
	if movesOn(class) {
		for _, a := range tried {
			if errors.Is(a.class, ErrNotFound) {
				class = ErrNotFound
			}
		}
	}
	var parts []string
	for _, a := range tried {
		parts = append(parts, a.source+": "+a.reason)
	}
	return &LookupError{Platform: plat, Class: class, Reason: strings.Join(parts, "; "), cause: last.err}
}

// fetchWith reads the config with one credential. The manifest request is
// made every time (it is what proves this credential may pull the image);
// the config is read only when no earlier lookup stored it.
func (r *Resolver) fetchWith(ctx context.Context, k lookupKey, ref name.Reference, auth authn.Authenticator) (Result, error) {
	desc, err := remote.Get(ref,
		remote.WithContext(ctx),
		remote.WithAuth(auth),
		remote.WithTransport(r.transport),
		remote.WithPlatform(v1.Platform{OS: k.platform.OS, Architecture: k.platform.Architecture, Variant: k.platform.Variant}),
		remote.WithRetryBackoff(retryBackoff),
		remote.WithUserAgent(r.userAgent),
	)
	if err != nil {
		return Result{}, err
	}
	ck := configKey{digest: desc.Digest, platform: k.platform}
	r.mu.Lock()
	res, ok := r.configs.get(ck, r.now())
	r.mu.Unlock()
	if !ok {
		if res, err = readConfig(desc, k.platform); err != nil {
			return Result{}, err
		}
	}

	ttl := r.tagTTL
	if _, pinned := ref.(name.Digest); pinned {
		ttl = r.digestTTL
	}
	r.mu.Lock()
	now := r.now()
	if !ok {
		r.configs.add(ck, res, now.Add(r.digestTTL))
	}
	r.tags.add(tagKey{identity: k.identity, ref: k.ref}, desc.Digest, now.Add(ttl))
	r.mu.Unlock()
	return res, nil
}

// platformError: an index without a manifest for the platform.
type platformError struct {
	want      Platform
	available string
}

func (e *platformError) Error() string {
	return fmt.Sprintf("the image index has no manifest for %s; it has %s", e.want, e.available)
}

// notImageError: the reference names something other than a container
// image (a Helm chart, a signature, ...).
type notImageError struct{ mediaType string }

func (e *notImageError) Error() string {
	return fmt.Sprintf("the reference is not a container image (media type %q)", e.mediaType)
}

// readConfig reads the config of desc, resolving an index to plat's
// manifest.
func readConfig(desc *remote.Descriptor, plat Platform) (Result, error) {
	var (
		img    v1.Image
		digest = desc.Digest
		err    error
	)
	switch desc.MediaType {
	case types.OCIImageIndex, types.DockerManifestList:
		idx, err := desc.ImageIndex()
		if err != nil {
			return Result{}, err
		}
		im, err := idx.IndexManifest()
		if err != nil {
			return Result{}, err
		}
		child, ok := pickManifest(im.Manifests, plat)
		if !ok {
			return Result{}, &platformError{want: plat, available: platformsOf(im.Manifests)}
		}
		if child.MediaType.IsIndex() {
			return Result{}, &notImageError{mediaType: string(child.MediaType) + " inside an index"}
		}
		digest = child.Digest
		if img, err = idx.Image(child.Digest); err != nil {
			return Result{}, err
		}
	case types.DockerManifestSchema1, types.DockerManifestSchema1Signed:
		if img, err = desc.Schema1(); err != nil {
			return Result{}, err
		}
	default:
		// Registries that serve a wrong Content-Type get the benefit of the
		// doubt; the config's media type is checked below.
		if img, err = desc.Image(); err != nil {
			return Result{}, err
		}
	}
	if m, err := img.Manifest(); err == nil && m.Config.MediaType != "" && !m.Config.MediaType.IsConfig() {
		return Result{}, &notImageError{mediaType: string(m.Config.MediaType)}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return Result{}, fmt.Errorf("reading the image config: %w", err)
	}
	return Result{
		Entrypoint: cf.Config.Entrypoint,
		Cmd:        cf.Config.Cmd,
		User:       cf.Config.User,
		WorkingDir: cf.Config.WorkingDir,
		Digest:     digest.String(),
	}, nil
}

// asOwn classifies the package's own failure types.
func asOwn(err error) (verdict, bool) {
	var pe *platformError
	var ne *notImageError
	switch {
	case errors.As(err, &pe):
		return verdict{ErrNoMatchingPlatform, pe.Error()}, true
	case errors.As(err, &ne):
		return verdict{ErrRegistry, ne.Error()}, true
	}
	return verdict{}, false
}
