package imageconfig

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
)

func TestParseDockerConfig(t *testing.T) {
	tests := []struct {
		name     string
		typ      SecretType
		data     string
		want     []dockerEntry
		wantErr  string
		noErrors bool
	}{
		{
			name: "auth field, padded",
			typ:  SecretTypeDockerConfigJSON,
			data: `{"auths":{"reg.example.com":{"auth":"dTpwYXNzd29yZA=="}}}`,
			want: []dockerEntry{{key: "reg.example.com", auth: authn.AuthConfig{Username: "u", Password: "password"}}},
		},
		{
			name: "auth field, unpadded, password with colon",
			typ:  SecretTypeDockerConfigJSON,
			data: `{"auths":{"reg.example.com":{"auth":"dTpwOnc"}}}`,
			want: []dockerEntry{{key: "reg.example.com", auth: authn.AuthConfig{Username: "u", Password: "p:w"}}},
		},
		{
			name: "auth wins over username and password",
			typ:  SecretTypeDockerConfigJSON,
			data: `{"auths":{"reg.example.com":{"auth":"dTpwYXNzd29yZA==","username":"other","password":"other"}}}`,
			want: []dockerEntry{{key: "reg.example.com", auth: authn.AuthConfig{Username: "u", Password: "password"}}},
		},
		{
			name: "identity token",
			typ:  SecretTypeDockerConfigJSON,
			data: `{"auths":{"reg.example.com":{"username":"<token>","identitytoken":"rt"}}}`,
			want: []dockerEntry{{key: "reg.example.com", auth: authn.AuthConfig{Username: "<token>", IdentityToken: "rt"}}},
		},
		{
			name: "Docker Hub key, scheme and path normalised, most specific first",
			typ:  SecretTypeDockerConfigJSON,
			data: `{"auths":{"https://index.docker.io/v1/":{"username":"a","password":"b"},"quay.io/team":{"username":"c","password":"d"},"http://Quay.io":{"username":"e","password":"f"}}}`,
			want: []dockerEntry{
				{key: "quay.io/team", auth: authn.AuthConfig{Username: "c", Password: "d"}},
				{key: "quay.io", auth: authn.AuthConfig{Username: "e", Password: "f"}},
				{key: "index.docker.io", auth: authn.AuthConfig{Username: "a", Password: "b"}},
			},
		},
		{
			name: "legacy dockercfg",
			typ:  SecretTypeDockercfg,
			data: `{"reg.example.com:5000":{"auth":"dTpw","email":"x@example.com"}}`,
			want: []dockerEntry{{key: "reg.example.com:5000", auth: authn.AuthConfig{Username: "u", Password: "p"}}},
		},
		{
			name:    "bad entries are left out, good ones kept",
			typ:     SecretTypeDockerConfigJSON,
			data:    `{"auths":{"good.example.com":{"auth":"dTpw"},"bad.example.com":{"auth":"not base64!"},"empty.example.com":{},"nocolon.example.com":{"auth":"dXNlcg=="}}}`,
			want:    []dockerEntry{{key: "good.example.com", auth: authn.AuthConfig{Username: "u", Password: "p"}}},
			wantErr: `entry for "bad.example.com": "auth" is not base64`,
		},
		{name: "not JSON", typ: SecretTypeDockerConfigJSON, data: `{`, wantErr: "not a JSON docker config"},
		{name: "dockercfg given as dockerconfigjson has no auths", typ: SecretTypeDockerConfigJSON, data: `{"reg.example.com":{"auth":"dTpw"}}`},
		{name: "wrong type", typ: "Opaque", data: `{}`, wantErr: `secret type "Opaque" holds no registry credentials`},
		{name: "credential helpers only", typ: SecretTypeDockerConfigJSON, data: `{"credsStore":"desktop"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseDockerConfig(tt.typ, []byte(tt.data))
			if tt.wantErr == "" && err != nil {
				t.Fatalf("err = %v", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("entries = %+v, want %+v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("entry %d = %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestMatchEntries(t *testing.T) {
	entry := func(key string) dockerEntry {
		return dockerEntry{key: key, auth: authn.AuthConfig{Username: key, Password: "p"}}
	}
	tests := []struct {
		name      string
		keys      []string
		target    string
		dockerHub bool
		want      []string
	}{
		{"exact host", []string{"reg.example.com"}, "reg.example.com/app", false, []string{"reg.example.com"}},
		{"other host", []string{"reg.example.com"}, "other.example.com/app", false, nil},
		{"port must match", []string{"reg.example.com:5000"}, "reg.example.com/app", false, nil},
		{"port matches", []string{"reg.example.com:5000"}, "reg.example.com:5000/app", false, []string{"reg.example.com:5000"}},
		{"glob host", []string{"*.azurecr.io"}, "myregistry.azurecr.io/app", false, []string{"*.azurecr.io"}},
		{"glob does not cross dots", []string{"*.azurecr.io"}, "a.b.azurecr.io/app", false, nil},
		{"path prefix, most specific first", []string{"quay.io/team", "quay.io"}, "quay.io/team/app", false, []string{"quay.io/team", "quay.io"}},
		{"path prefix mismatch", []string{"quay.io/other"}, "quay.io/team/app", false, nil},
		{"docker.io key for Docker Hub", []string{"docker.io"}, "docker.io/library/nginx", true, []string{"docker.io"}},
		{"docker login key for Docker Hub", []string{"index.docker.io"}, "docker.io/library/nginx", true, []string{"index.docker.io"}},
		{"docker login key only when nothing else matches", []string{"index.docker.io", "docker.io/library"}, "docker.io/library/nginx", true, []string{"docker.io/library"}},
		{"docker login key is not for other registries", []string{"index.docker.io"}, "quay.io/app", false, nil},
		{"host case folded", []string{"reg.example.com"}, "REG.example.com/app", false, []string{"reg.example.com"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var entries []dockerEntry
			for _, k := range tt.keys {
				entries = append(entries, entry(k))
			}
			var got []string
			for _, e := range matchEntries(entries, tt.target, tt.dockerHub) {
				got = append(got, e.key)
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("matched %q, want %q", got, tt.want)
			}
		})
	}
}

func TestCandidatesOrder(t *testing.T) {
	r, err := New(Options{AzureCredential: newFakeCredential("t")})
	if err != nil {
		t.Fatal(err)
	}
	ref, err := r.parseImage("myregistry.azurecr.io/team/app:v1")
	if err != nil {
		t.Fatal(err)
	}
	secrets := []PullSecret{
		{Name: "pod-secret", Type: SecretTypeDockerConfigJSON, Data: dockerConfigJSON("myregistry.azurecr.io", "a", "1")},
		{Name: "sa-secret", Type: SecretTypeDockerConfigJSON, Data: dockerConfigJSON("*.azurecr.io", "b", "2")},
		{Name: "duplicate", Type: SecretTypeDockerConfigJSON, Data: dockerConfigJSON("myregistry.azurecr.io", "a", "1")},
		{Name: "unrelated", Type: SecretTypeDockerConfigJSON, Data: dockerConfigJSON("quay.io", "c", "3")},
	}
	cands, notes := r.candidates(ref, secrets)
	var got []string
	for _, c := range cands {
		got = append(got, c.source)
	}
	want := []string{`pull secret "pod-secret"`, `pull secret "sa-secret"`, sourceACR, sourceAnonymous}
	if strings.Join(got, "|") != strings.Join(want, "|") || len(notes) != 0 {
		t.Errorf("candidates = %q (notes %q), want %q", got, notes, want)
	}

	// The identity depends on the credentials, not on secret names or
	// unrelated entries.
	renamed := append([]PullSecret(nil), secrets...)
	renamed[0].Name = "renamed"
	renamed = renamed[:3]
	c2, _ := r.candidates(ref, renamed)
	if r.identity(cands) != r.identity(c2) {
		t.Error("renaming a secret or dropping an unrelated one changed the identity")
	}
	c3, _ := r.candidates(ref, secrets[1:])
	if r.identity(cands) == r.identity(c3) {
		t.Error("different credentials gave the same identity")
	}
}

// FuzzParseDockerConfig checks that any secret content parses without
// panicking, that keys come out normalised, and that an error never
// repeats a credential from the input.
func FuzzParseDockerConfig(f *testing.F) {
	f.Add(true, []byte(`{"auths":{"https://index.docker.io/v1/":{"auth":"dXNlcjpzZWNyZXRwYXNzd29yZA=="}}}`))
	f.Add(true, []byte(`{"auths":{"reg:5000/path":{"username":"u","password":"secretpassword","identitytoken":"tokentokentoken"}}}`))
	f.Add(false, []byte(`{"reg.example.com":{"auth":"bm9jb2xvbnNlY3JldA=="}}`))
	f.Add(true, []byte(`{"auths":{"http://[::1]:80/v2/x":{"auth":"!!!!"}, "":{}}}`))
	f.Add(false, []byte(`[1,2,3]`))
	f.Fuzz(func(t *testing.T, modern bool, data []byte) {
		typ := SecretTypeDockercfg
		if modern {
			typ = SecretTypeDockerConfigJSON
		}
		entries, err := parseDockerConfig(typ, data)
		for i, e := range entries {
			if e.key == "" {
				t.Errorf("entry %d has an empty key", i)
			}
			if again, ok := normalizeRegistryKey(e.key); !ok || again != e.key {
				t.Errorf("key %q normalises again to %q, %v", e.key, again, ok)
			}
			if i > 0 && entries[i-1].key < e.key {
				t.Errorf("keys out of order: %q before %q", entries[i-1].key, e.key)
			}
		}
		if err == nil {
			return
		}
		for _, secret := range credentialsIn(data, modern) {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error %q repeats the credential %q", err, secret)
			}
		}
	})
}

// credentialsIn lists the credential strings of a docker config (long
// enough not to occur in error text by chance, and not also a registry
// key, which errors may name).
func credentialsIn(data []byte, modern bool) []string {
	var auths map[string]map[string]any
	if modern {
		var cfg struct {
			Auths map[string]map[string]any `json:"auths"`
		}
		if json.Unmarshal(data, &cfg) != nil {
			return nil
		}
		auths = cfg.Auths
	} else if json.Unmarshal(data, &auths) != nil {
		return nil
	}
	// Our own wording, which a fuzzed "credential" may happen to be part of.
	ownWords := "not base64 of user:password no credentials in it"
	var out []string
	for key, e := range auths {
		for _, field := range []string{"auth", "password", "identitytoken", "registrytoken"} {
			if s, ok := e[field].(string); ok && len(s) >= 8 && !strings.Contains(key, s) && !strings.Contains(ownWords, s) {
				out = append(out, s)
			}
		}
	}
	return out
}

func TestNewPullSecret(t *testing.T) {
	data := map[string][]byte{DockerConfigJSONKey: []byte("json"), DockercfgKey: []byte("cfg")}
	tests := []struct {
		typ  string
		want string
	}{
		{"kubernetes.io/dockerconfigjson", "json"},
		{"kubernetes.io/dockercfg", "cfg"},
		{"Opaque", ""},
	}
	for _, tt := range tests {
		ps := NewPullSecret("regcred", tt.typ, data)
		if ps.Name != "regcred" || string(ps.Type) != tt.typ || string(ps.Data) != tt.want {
			t.Errorf("NewPullSecret(%q) = %+v, want data %q", tt.typ, ps, tt.want)
		}
	}
}
