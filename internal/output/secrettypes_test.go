package output_test

import (
	"encoding/base64"
	"encoding/json"
	"testing"

	"github.com/latchkey-dev/latchkey/internal/output"
)

func TestBasicAuth(t *testing.T) {
	b64 := base64.StdEncoding.EncodeToString
	tests := []struct {
		name       string
		value      string
		user, pass string
		wantErr    error
	}{
		{name: "user:pass", value: "alice:s3cr3t-pw", user: "alice", pass: "s3cr3t-pw"},
		{name: "base64 of user:pass", value: b64([]byte("alice:s3cr3t-pw")), user: "alice", pass: "s3cr3t-pw"},
		{name: "base64 with trailing newline", value: b64([]byte("alice:s3cr3t-pw")) + "\n", user: "alice", pass: "s3cr3t-pw"},
		{name: "seed example", value: "dXNlcm5hbWU6cGFzc3dvcmQ=", user: "username", pass: "password"},
		{name: "split on first colon", value: "alice:s3:cr:3t", user: "alice", pass: "s3:cr:3t"},
		{name: "empty password", value: "alice:", user: "alice", pass: ""},
		{name: "trailing newline kept", value: "alice:s3cr3t-pw\n", user: "alice", pass: "s3cr3t-pw\n"},
		{name: "no colon", value: "s3cr3t-without-colon", wantErr: output.ErrInvalidBasicAuth},
		{name: "base64 without colon", value: b64([]byte("s3cr3t-without-colon")), wantErr: output.ErrInvalidBasicAuth},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := newSpec(output.ObjectSecret, secretType(output.SecretTypeBasicAuth))
			got, err := output.Render(spec, secretObject(tt.value))
			if tt.wantErr != nil {
				assertErr(t, err, tt.wantErr)
				assertNoLeak(t, err, []byte(tt.value))
				_, err = output.Query(spec, secretObject(tt.value), "password")
				assertErr(t, err, tt.wantErr)
				assertNoLeak(t, err, []byte(tt.value))
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			assertData(t, got, data("username", tt.user, "password", tt.pass))
			for q, want := range map[string]string{"username": tt.user, "password": tt.pass} {
				v, err := output.Query(spec, secretObject(tt.value), q)
				if err != nil || string(v) != want {
					t.Fatalf("Query(%s) = %q, %v; want %q", q, v, err, want)
				}
			}
		})
	}
}

func TestDockerConfigJSON(t *testing.T) {
	auth := func(u, p string) string { return base64.StdEncoding.EncodeToString([]byte(u + ":" + p)) }
	tests := []struct {
		name    string
		value   string
		want    string // exact bytes; "" means check auths only
		auths   map[string]string
		wantErr error
	}{
		{
			name:  "complete document kept byte for byte",
			value: "{\n  \"auths\": {\"r.io\": {\"username\": \"u\", \"password\": \"s3cr3t\", \"auth\": \"" + auth("u", "s3cr3t") + "\"}}\n}\n",
			want:  "{\n  \"auths\": {\"r.io\": {\"username\": \"u\", \"password\": \"s3cr3t\", \"auth\": \"" + auth("u", "s3cr3t") + "\"}}\n}\n",
		},
		{
			name:  "seed example: missing auth generated, other fields kept",
			value: `{"auths":{"some.azurecr.io":{"username":"someuser","password":"somepassword","email":"someuser@spv.no"}}}`,
			want:  `{"auths":{"some.azurecr.io":{"auth":"` + auth("someuser", "somepassword") + `","email":"someuser@spv.no","password":"somepassword","username":"someuser"}}}`,
		},
		{
			name:  "only missing entries change; unknown top-level fields kept",
			value: `{"credHelpers":{"x.io":"helper"},"auths":{"a.io":{"auth":"cHJlc2V0"},"b.io":{"username":"b","password":"p<&>"},"c.io":{"identitytoken":"tok"}}}`,
			want:  `{"auths":{"a.io":{"auth":"cHJlc2V0"},"b.io":{"auth":"` + auth("b", "p<&>") + `","password":"p<&>","username":"b"},"c.io":{"identitytoken":"tok"}},"credHelpers":{"x.io":"helper"}}`,
		},
		{
			name:  "empty auth counts as missing",
			value: `{"auths":{"r.io":{"username":"u","password":"p","auth":""}}}`,
			auths: map[string]string{"r.io": auth("u", "p")},
		},
		{
			name:  "no auths kept byte for byte",
			value: `{ "credsStore": "desktop" }`,
			want:  `{ "credsStore": "desktop" }`,
		},
		{name: "not json", value: "s3cr3t-not-json", wantErr: output.ErrInvalidDocument},
		{name: "json array", value: `["s3cr3t-in-array"]`, wantErr: output.ErrInvalidDocument},
		{name: "auths not an object", value: `{"auths":"s3cr3t-string"}`, wantErr: output.ErrInvalidDocument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := output.Render(newSpec(output.ObjectSecret, secretType(output.SecretTypeDockerConfigJSON)), secretObject(tt.value))
			if tt.wantErr != nil {
				assertErr(t, err, tt.wantErr)
				assertNoLeak(t, err, []byte(tt.value))
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || got[".dockerconfigjson"] == nil {
				t.Fatalf("keys = %v, want only .dockerconfigjson", got)
			}
			out := got[".dockerconfigjson"]
			if tt.want != "" && string(out) != tt.want {
				t.Fatalf("got  %s\nwant %s", out, tt.want)
			}
			var doc struct {
				Auths map[string]struct {
					Auth string `json:"auth"`
				} `json:"auths"`
			}
			if err := json.Unmarshal(out, &doc); err != nil {
				t.Fatalf("output is not JSON: %v", err)
			}
			for reg, want := range tt.auths {
				if doc.Auths[reg].Auth != want {
					t.Fatalf("auths[%s].auth = %q, want %q", reg, doc.Auths[reg].Auth, want)
				}
			}
		})
	}
}
