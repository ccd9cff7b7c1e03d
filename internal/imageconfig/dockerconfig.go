package imageconfig

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
)

// SecretType is the type of an image pull secret, as in the Secret's type.
type SecretType string

// The Secret types kubelet reads pull credentials from.
const (
	// SecretTypeDockerConfigJSON holds ~/.docker/config.json under the key
	// .dockerconfigjson: {"auths": {"<registry>": {...}}}.
	SecretTypeDockerConfigJSON SecretType = "kubernetes.io/dockerconfigjson" //nolint:gosec // a Secret type, not a credential
	// SecretTypeDockercfg holds the legacy ~/.dockercfg under the key
	// .dockercfg: {"<registry>": {...}}.
	SecretTypeDockercfg SecretType = "kubernetes.io/dockercfg" //nolint:gosec // a Secret type, not a credential
)

// PullSecret is one image pull secret as the webhook read it.
type PullSecret struct {
	// Name names the secret in error messages and logs, e.g. "regcred". Its
	// content is never shown.
	Name string
	Type SecretType
	// Data is the value of the Secret's .dockerconfigjson or .dockercfg key.
	Data []byte
}

// The keys of pull secrets' data, per type.
const (
	DockerConfigJSONKey = ".dockerconfigjson"
	DockercfgKey        = ".dockercfg"
)

// NewPullSecret makes a PullSecret from a Secret's name, type and data, as
// the webhook reads them: the value under the key its type says.
func NewPullSecret(name, secretType string, data map[string][]byte) PullSecret {
	ps := PullSecret{Name: name, Type: SecretType(secretType)}
	switch ps.Type {
	case SecretTypeDockerConfigJSON:
		ps.Data = data[DockerConfigJSONKey]
	case SecretTypeDockercfg:
		ps.Data = data[DockercfgKey]
	}
	return ps
}

// dockerEntry is one registry's credentials in a docker config.
type dockerEntry struct {
	// key is the registry the entry is for, normalised as kubelet does:
	// host[:port][/path], no scheme, no /v1/ or /v2/.
	key  string
	auth authn.AuthConfig
}

// rawEntry is an entry as docker writes it.
type rawEntry struct {
	Auth          string `json:"auth"`
	Username      string `json:"username"`
	Password      string `json:"password"`
	IdentityToken string `json:"identitytoken"`
	RegistryToken string `json:"registrytoken"`
}

// parseDockerConfig reads the entries of a pull secret, most specific key
// first (reverse lexical order, as kubelet sorts them). An entry that cannot
// be used is left out and described in the returned error, which names the
// registry key but never a credential; err != nil with entries means some
// entries were usable.
func parseDockerConfig(typ SecretType, data []byte) ([]dockerEntry, error) {
	var auths map[string]json.RawMessage
	switch typ {
	case SecretTypeDockerConfigJSON:
		var cfg struct {
			Auths map[string]json.RawMessage `json:"auths"`
		}
		if err := json.Unmarshal(data, &cfg); err != nil {
			return nil, errors.New(".dockerconfigjson is not a JSON docker config")
		}
		auths = cfg.Auths
	case SecretTypeDockercfg:
		if err := json.Unmarshal(data, &auths); err != nil {
			return nil, errors.New(".dockercfg is not a JSON object of registries")
		}
	default:
		return nil, fmt.Errorf("secret type %q holds no registry credentials (want %s or %s)", typ, SecretTypeDockerConfigJSON, SecretTypeDockercfg)
	}

	var entries []dockerEntry
	var problems []error
	for registry, raw := range auths {
		key, ok := normalizeRegistryKey(registry)
		if !ok {
			problems = append(problems, fmt.Errorf("registry key %q is not a host name", registry))
			continue
		}
		auth, err := decodeEntry(raw)
		if err != nil {
			problems = append(problems, fmt.Errorf("entry for %q: %w", key, err))
			continue
		}
		entries = append(entries, dockerEntry{key: key, auth: auth})
	}
	sort.SliceStable(entries, func(i, j int) bool {
		if entries[i].key != entries[j].key {
			return entries[i].key > entries[j].key
		}
		// Keys that normalise alike ("https://h/v1/" and "h"): any fixed order.
		return entryOrder(entries[i].auth) < entryOrder(entries[j].auth)
	})
	return entries, errors.Join(problems...)
}

// entryOrder is a stable order of entries whose keys are equal; it is a
// comparison key, never shown.
func entryOrder(a authn.AuthConfig) string {
	return a.Username + "\x00" + a.Password + "\x00" + a.IdentityToken + "\x00" + a.RegistryToken
}

// decodeEntry turns one entry into credentials. As in docker and kubelet,
// "auth" (base64 of user:password) wins over username and password.
func decodeEntry(raw json.RawMessage) (authn.AuthConfig, error) {
	var e rawEntry
	if err := json.Unmarshal(raw, &e); err != nil {
		return authn.AuthConfig{}, errors.New("not a JSON object of strings")
	}
	a := authn.AuthConfig{
		Username:      e.Username,
		Password:      e.Password,
		IdentityToken: e.IdentityToken,
		RegistryToken: e.RegistryToken,
	}
	if auth := strings.TrimSpace(e.Auth); auth != "" {
		user, pass, err := decodeAuthField(auth)
		if err != nil {
			return authn.AuthConfig{}, err
		}
		a.Username, a.Password = user, pass
	}
	if a.Username == "" && a.Password == "" && a.IdentityToken == "" && a.RegistryToken == "" {
		return authn.AuthConfig{}, errors.New("no credentials in it")
	}
	return a, nil
}

// decodeAuthField splits base64("user:password"), padded or not.
func decodeAuthField(field string) (user, pass string, err error) {
	enc := base64.RawStdEncoding
	if strings.HasSuffix(field, "=") {
		enc = base64.StdEncoding
	}
	decoded, err := enc.DecodeString(field)
	if err != nil {
		return "", "", errors.New(`"auth" is not base64`)
	}
	user, pass, ok := strings.Cut(string(decoded), ":")
	if !ok {
		return "", "", errors.New(`"auth" is not base64 of user:password`)
	}
	return user, pass, nil
}

// normalizeRegistryKey turns a docker config key into kubelet's form:
// "https://index.docker.io/v1/" is "index.docker.io", "quay.io/team" stays.
func normalizeRegistryKey(k string) (string, bool) {
	v := strings.TrimSpace(k)
	if !strings.HasPrefix(v, "https://") && !strings.HasPrefix(v, "http://") {
		v = "https://" + v
	}
	u, err := url.Parse(v)
	if err != nil || u.Host == "" || u.User != nil {
		return "", false
	}
	p := u.Path
	if strings.HasPrefix(p, "/v2/") || strings.HasPrefix(p, "/v1/") {
		p = p[3:]
	}
	host := strings.ToLower(u.Host)
	if p == "" || p == "/" {
		return host, true
	}
	return host + p, true
}

// dockerHubKey is where `docker login` stores Docker Hub credentials
// (https://index.docker.io/v1/, normalised). kubelet uses it for Docker Hub
// images when no key matches docker.io/<repository> itself.
const dockerHubKey = "index.docker.io"

// matchEntries returns the entries of one secret that apply to target
// ("host[:port]/repository"; Docker Hub images as "docker.io/<repository>"),
// in the secret's order. It follows kubelet's keyring: a key matches when
// its host has as many dot-separated parts, each matching as a glob
// ("*.azurecr.io"), the port is equal, and its path is a prefix of target's.
func matchEntries(entries []dockerEntry, target string, dockerHub bool) []dockerEntry {
	var out []dockerEntry
	for _, e := range entries {
		if keyMatches(e.key, target) {
			out = append(out, e)
		}
	}
	if len(out) == 0 && dockerHub {
		for _, e := range entries {
			if e.key == dockerHubKey {
				out = append(out, e)
			}
		}
	}
	return out
}

// keyMatches is kubelet's URLsMatch on schemeless host[:port][/path] strings.
func keyMatches(key, target string) bool {
	kHost, kPath, _ := strings.Cut(key, "/")
	tHost, tPath, _ := strings.Cut(target, "/")
	kParts, kPort := splitHost(kHost)
	tParts, tPort := splitHost(tHost)
	if kPort != tPort || len(kParts) != len(tParts) {
		return false
	}
	if !strings.HasPrefix(tPath, kPath) {
		return false
	}
	for i, glob := range kParts {
		ok, err := filepath.Match(glob, tParts[i])
		if err != nil || !ok {
			return false
		}
	}
	return true
}

// splitHost splits host[:port] into dot-separated parts and the port.
func splitHost(hostport string) ([]string, string) {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		host, port = hostport, ""
	}
	return strings.Split(strings.ToLower(host), "."), port
}
