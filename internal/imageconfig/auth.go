package imageconfig

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
)

// candidate is one way to authenticate to the registry, tried in order.
type candidate struct {
	// source names it in messages and logs: `pull secret "regcred"`, never
	// the credential.
	source string
	auth   authn.Authenticator
	// kind and cfg feed the cache identity (see identity).
	kind string
	cfg  authn.AuthConfig
}

const (
	sourceACR       = "the ACR token exchange with the webhook's Azure identity"
	sourceAnonymous = "anonymous access"
)

// candidates lists, in the order they are tried, the credentials that
// apply to ref: every matching entry of the pull secrets in the order given
// (the pod's imagePullSecrets, then its ServiceAccount's; within a secret
// the most specific registry key first, as kubelet does), each credential
// once; then, for Azure Container Registry hosts when the webhook has an
// Azure identity, the ACR token exchange; then anonymous access. notes
// describe pull secrets (or entries) that could not be used.
func (r *Client) candidates(ref name.Reference, secrets []PullSecret) (cands []candidate, notes []string) {
	host := strings.ToLower(ref.Context().RegistryStr())
	dockerHub := host == name.DefaultRegistry
	targetHost := host
	if dockerHub {
		targetHost = "docker.io" // kubelet matches Docker Hub images as docker.io/<repo>
	}
	target := targetHost + "/" + ref.Context().RepositoryStr()

	seen := map[authn.AuthConfig]bool{}
	for i, s := range secrets {
		secretName := s.Name
		if secretName == "" {
			secretName = fmt.Sprintf("#%d", i+1)
		}
		entries, err := parseDockerConfig(s.Type, s.Data)
		if err != nil {
			notes = append(notes, fmt.Sprintf("pull secret %q: %v", secretName, err))
		}
		for _, e := range matchEntries(entries, target, dockerHub) {
			if seen[e.auth] {
				continue
			}
			seen[e.auth] = true
			cands = append(cands, candidate{
				source: fmt.Sprintf("pull secret %q", secretName),
				auth:   authn.FromConfig(e.auth),
				kind:   "secret",
				cfg:    e.auth,
			})
		}
	}
	if r.acr != nil {
		if _, ok := acrScope(host); ok {
			cands = append(cands, candidate{source: sourceACR, auth: r.acr.authenticator(host), kind: "acr"})
		}
	}
	cands = append(cands, candidate{source: sourceAnonymous, auth: authn.Anonymous, kind: "anonymous"})
	return cands, notes
}

// identity is the cache identity of a list of candidates: an HMAC, under a
// key drawn when the Client was made, of every credential in it. Two
// lookups share cached answers only when they would try exactly the same
// credentials; the HMAC keeps passwords out of the cache keys even in a
// memory dump.
func (r *Client) identity(cands []candidate) string {
	m := hmac.New(sha256.New, r.identityKey)
	for _, c := range cands {
		writeField(m, c.kind)
		writeField(m, c.cfg.Username)
		writeField(m, c.cfg.Password)
		writeField(m, c.cfg.IdentityToken)
		writeField(m, c.cfg.RegistryToken)
	}
	return string(m.Sum(nil))
}

// writeField writes s length-prefixed, so fields cannot run into each other.
func writeField(h hash.Hash, s string) {
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(s)))
	h.Write(n[:])
	h.Write([]byte(s))
}
