package imageconfig

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// retryBackoff replaces go-containerregistry's (1 s, then 3 s): a lookup
// has a few seconds in all, so a flaky answer is retried soon or not at all.
var retryBackoff = remote.Backoff{Duration: 50 * time.Millisecond, Factor: 2, Jitter: 0.1, Steps: 3}

// maxAttemptsListed bounds how many credentials' attempts a message
// describes one by one (failures are cached, and a pod may list many pull
// secrets).
const maxAttemptsListed = 4

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
	registry := ref.Context().RegistryStr()
	for _, c := range cands {
		res, err := r.fetchWith(ctx, k, ref, c.auth)
		if err == nil {
			r.log.V(1).Info("Looked up image config", "image", k.ref, "platform", k.platform.String(), "digest", res.Digest, "credentials", c.source)
			return res, nil
		}
		v := classify(err, registry)
		if ctx.Err() != nil {
			v = classify(ctx.Err(), registry)
		}
		// The operator's log gets the underlying error (addresses, the
		// parser's complaint); the pod's author gets v.reason.
		r.log.V(1).Info("Image config attempt failed", "image", k.ref, "credentials", c.source, "class", v.class.Error(), "error", err.Error())
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
// lookup. The reason lists the attempts (the first maxAttemptsListed, then
// the last).
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
	for i, a := range tried {
		switch {
		case i < maxAttemptsListed || i == len(tried)-1:
			parts = append(parts, a.source+": "+a.reason)
		case i == maxAttemptsListed:
			parts = append(parts, fmt.Sprintf("%d more credentials: likewise", len(tried)-maxAttemptsListed-1))
		}
	}
	return &LookupError{Platform: plat, Class: class, Reason: strings.Join(parts, "; "), cause: contextCause(last.err)}
}

// fetchWith reads the config with one credential. The manifest request is
// made every time (it is what proves this credential may pull the image);
// the config is read only when no earlier lookup stored it.
func (r *Resolver) fetchWith(ctx context.Context, k lookupKey, ref name.Reference, auth authn.Authenticator) (Result, error) {
	// One puller per attempt: the index's child manifest and the config
	// reuse the attempt's authentication.
	p, err := remote.NewPuller(
		remote.WithAuth(auth),
		remote.WithTransport(r.transport),
		remote.WithRetryBackoff(retryBackoff),
		remote.WithUserAgent(r.userAgent),
	)
	if err != nil {
		return Result{}, err
	}
	desc, err := p.Get(ctx, ref)
	if err != nil {
		return Result{}, err
	}
	ck := configKey{digest: desc.Digest, platform: k.platform}
	r.mu.Lock()
	res, ok := r.configs.get(ck, r.now())
	r.mu.Unlock()
	if !ok {
		if res, err = readConfig(ctx, p, ref.Context(), desc, k.platform); err != nil {
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

// readConfig reads the config of the manifest desc, resolving an index to
// plat's manifest. Every document is parsed by this package's bounded
// parsers (documents.go), and every size a document declares is checked
// before what it describes is fetched.
func readConfig(ctx context.Context, p *remote.Puller, repo name.Repository, desc *remote.Descriptor, plat Platform) (Result, error) {
	raw, digest := desc.Manifest, desc.Digest
	switch documentKind(desc.MediaType, raw) {
	case kindSchema1:
		res, err := parseSchema1(raw)
		res.Digest = digest.String()
		return res, err
	case kindIndex:
		manifests, err := parseIndex(raw)
		if err != nil {
			return Result{}, err
		}
		child, ok := pickManifest(manifests, plat)
		if !ok {
			return Result{}, &platformError{want: plat, available: platformsOf(manifests)}
		}
		if err := checkChild(child); err != nil {
			return Result{}, err
		}
		cdesc, err := p.Get(ctx, repo.Digest(child.Digest.String()))
		if err != nil {
			return Result{}, err
		}
		if int64(len(cdesc.Manifest)) != child.Size {
			return Result{}, &mismatchError{what: "image manifest", how: "size in the index"}
		}
		if documentKind(cdesc.MediaType, cdesc.Manifest) != kindManifest {
			return Result{}, &notImageError{what: "something else than the image manifest its index lists"}
		}
		raw, digest = cdesc.Manifest, child.Digest
	}
	cfg, err := parseManifest(raw)
	if err != nil {
		return Result{}, err
	}
	blob, err := readBlob(ctx, p, repo, cfg)
	if err != nil {
		return Result{}, err
	}
	res, err := parseConfig(blob)
	res.Digest = digest.String()
	return res, err
}

// readBlob reads the blob d describes (embedded in d, or from the
// registry): never more than d.Size bytes (parseManifest bounded it), and
// only if they match d's size and digest.
func readBlob(ctx context.Context, p *remote.Puller, repo name.Repository, d v1.Descriptor) ([]byte, error) {
	b := d.Data
	if b == nil {
		layer, err := p.Layer(ctx, repo.Digest(d.Digest.String()))
		if err != nil {
			return nil, err
		}
		rc, err := layer.Compressed()
		if err != nil {
			return nil, err
		}
		defer func() { _ = rc.Close() }()
		// Exactly d.Size bytes, then a look for one more. (go-containerregistry
		// checks the digest when its reader reaches the end; ReadFull stops
		// before, and the check below says which way the blob is wrong.)
		b = make([]byte, d.Size)
		if _, err := io.ReadFull(rc, b); err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
				return nil, &mismatchError{what: "image config", how: "size"}
			}
			return nil, err
		}
		var one [1]byte
		n, err := rc.Read(one[:])
		if tl, ok := asTooLarge(err); ok {
			return nil, tl
		}
		if n > 0 {
			return nil, &mismatchError{what: "image config", how: "size"}
		}
	}
	if int64(len(b)) != d.Size {
		return nil, &mismatchError{what: "image config", how: "size"}
	}
	h, err := v1.Hasher(d.Digest.Algorithm)
	if err != nil {
		return nil, &invalidDocumentError{what: "image manifest (a config digest of an unknown algorithm)", err: err}
	}
	h.Write(b)
	if got := h.Sum(nil); !bytes.Equal(got, mustHex(d.Digest.Hex)) {
		return nil, &mismatchError{what: "image config", how: "digest"}
	}
	return b, nil
}

// mustHex decodes a digest's hex, which v1.Hash has validated.
func mustHex(s string) []byte {
	b, _ := hex.DecodeString(s)
	return b
}
