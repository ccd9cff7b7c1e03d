package imageconfig

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestLookupAnonymous(t *testing.T) {
	tr := newTestRegistry(t, registryOpts{})
	digest := tr.push("team/app:v1", image(t, "linux/amd64", []string{"/bin/app"}, []string{"serve", "--port=80"}))
	r := newClient(t, tr, Options{})

	res, err := r.Lookup(t.Context(), Request{Image: tr.ref("team/app:v1"), Platform: linuxAMD64})
	if err != nil {
		t.Fatal(err)
	}
	want := Result{Entrypoint: []string{"/bin/app"}, Cmd: []string{"serve", "--port=80"}, User: "65532:65532", WorkingDir: "/work", Digest: digest}
	if !equalResult(res, want) {
		t.Errorf("Lookup = %+v, want %+v", res, want)
	}
}

func TestLookupBasicAuth(t *testing.T) {
	tr := newTestRegistry(t, registryOpts{mode: authBasic})
	tr.front.users["alice"] = "s3cret-pass"
	tr.push("private/app:v1", image(t, "linux/amd64", []string{"/bin/app"}, nil))
	ref := tr.ref("private/app:v1")

	usernamePassword := fmt.Appendf(nil, `{"auths":{%q:{"username":"alice","password":"s3cret-pass"}}}`, tr.host)
	legacy := fmt.Appendf(nil, `{%q:{"auth":"YWxpY2U6czNjcmV0LXBhc3M="}}`, "https://"+tr.host+"/v1/")
	tests := []struct {
		name    string
		secrets []PullSecret
		want    error
	}{
		{"auth field", []PullSecret{{Name: "regcred", Type: SecretTypeDockerConfigJSON, Data: dockerConfigJSON(tr.host, "alice", "s3cret-pass")}}, nil},
		{"username and password", []PullSecret{{Name: "regcred", Type: SecretTypeDockerConfigJSON, Data: usernamePassword}}, nil},
		{"legacy dockercfg with scheme and /v1/", []PullSecret{{Name: "old", Type: SecretTypeDockercfg, Data: legacy}}, nil},
		{"wrong secret first, right one second", []PullSecret{
			{Name: "stale", Type: SecretTypeDockerConfigJSON, Data: dockerConfigJSON(tr.host, "alice", "old-pass")},
			{Name: "regcred", Type: SecretTypeDockerConfigJSON, Data: dockerConfigJSON(tr.host, "alice", "s3cret-pass")},
		}, nil},
		{"secret for another registry", []PullSecret{{Name: "other", Type: SecretTypeDockerConfigJSON, Data: dockerConfigJSON("other.example.com", "alice", "s3cret-pass")}}, ErrUnauthorized},
		{"wrong password", []PullSecret{{Name: "regcred", Type: SecretTypeDockerConfigJSON, Data: dockerConfigJSON(tr.host, "alice", "wrong-pass")}}, ErrUnauthorized},
		{"no secret", nil, ErrUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newClient(t, tr, Options{})
			res, err := r.Lookup(t.Context(), Request{Image: ref, Platform: linuxAMD64, PullSecrets: tt.secrets})
			if tt.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(res.Entrypoint, []string{"/bin/app"}) {
					t.Errorf("Entrypoint = %q", res.Entrypoint)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			msg := err.Error()
			for _, s := range []string{ref, "set command"} {
				if !strings.Contains(msg, s) {
					t.Errorf("message %q does not contain %q", msg, s)
				}
			}
			noCredentials(t, "the message", msg, tt.secrets)
		})
	}
}

func TestLookupBasicAuthMessageNamesEachAttempt(t *testing.T) {
	tr := newTestRegistry(t, registryOpts{mode: authBasic})
	tr.front.users["alice"] = "s3cret-pass"
	tr.push("private/app:v1", image(t, "linux/amd64", []string{"/bin/app"}, nil))
	r := newClient(t, tr, Options{})

	_, err := r.Lookup(t.Context(), Request{Image: tr.ref("private/app:v1"), PullSecrets: []PullSecret{
		{Name: "regcred", Type: SecretTypeDockerConfigJSON, Data: dockerConfigJSON(tr.host, "alice", "wrong-pass")},
		{Name: "broken", Type: SecretTypeDockerConfigJSON, Data: []byte("{not json")},
	}})
	if !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("err = %v, want ErrUnauthorized", err)
	}
	for _, s := range []string{`pull secret "regcred": the registry refused access (HTTP 401 UNAUTHORIZED)`, "anonymous access: the registry refused access", `pull secret "broken": .dockerconfigjson is not a JSON docker config`} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("message %q does not contain %q", err, s)
		}
	}
}

func TestLookupTokenAuth(t *testing.T) {
	tr := newTestRegistry(t, registryOpts{mode: authBearer})
	tr.front.users["bob"] = "hunter2-long"
	tr.front.refreshTokens["refresh-abc"] = true
	tr.push("private/app:v1", image(t, "linux/amd64", []string{"/bin/app"}, []string{"run"}))
	ref := tr.ref("private/app:v1")

	identityToken := fmt.Appendf(nil, `{"auths":{%q:{"username":"<token>","identitytoken":"refresh-abc"}}}`, tr.host)
	tests := []struct {
		name    string
		secrets []PullSecret
		want    error
	}{
		{"basic credentials at the token endpoint", []PullSecret{{Name: "regcred", Type: SecretTypeDockerConfigJSON, Data: dockerConfigJSON(tr.host, "bob", "hunter2-long")}}, nil},
		{"identity token (OAuth2 refresh token)", []PullSecret{{Name: "oauth", Type: SecretTypeDockerConfigJSON, Data: identityToken}}, nil},
		{"wrong credentials", []PullSecret{{Name: "regcred", Type: SecretTypeDockerConfigJSON, Data: dockerConfigJSON(tr.host, "bob", "nope-nope")}}, ErrUnauthorized},
		{"anonymous", nil, ErrUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newClient(t, tr, Options{})
			res, err := r.Lookup(t.Context(), Request{Image: ref, Platform: linuxAMD64, PullSecrets: tt.secrets})
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if tt.want == nil && !slices.Equal(res.Cmd, []string{"run"}) {
				t.Errorf("Cmd = %q", res.Cmd)
			}
			if err != nil && (strings.Contains(err.Error(), "nope-nope") || strings.Contains(err.Error(), "refresh-abc")) {
				t.Errorf("message %q contains a credential", err)
			}
		})
	}
}

// acrRegistry is a registry answering as myregistry.azurecr.io, with an ACR
// token exchange that accepts cred's access token.
func acrRegistry(t *testing.T, cred *fakeCredential) (*testRegistry, *[]url.Values) {
	t.Helper()
	const host = "myregistry.azurecr.io"
	tr := newTestRegistry(t, registryOpts{mode: authBearer, host: host})
	var mu sync.Mutex
	var forms []url.Values
	tr.front.refreshTokens["acr-refresh-token"] = true
	tr.front.exchange = func(form url.Values) (int, string) {
		mu.Lock()
		forms = append(forms, form)
		mu.Unlock()
		if form.Get("grant_type") != "access_token" || form.Get("service") != host || form.Get("access_token") != cred.token {
			return http.StatusUnauthorized, `{"errors":[{"code":"UNAUTHORIZED","message":"bad token ` + form.Get("access_token") + `"}]}`
		}
		return http.StatusOK, `{"refresh_token":"acr-refresh-token"}`
	}
	tr.push("app:v1", image(t, "linux/amd64", []string{"/bin/app"}, []string{"acr"}))
	return tr, &forms
}

func TestLookupACRTokenExchange(t *testing.T) {
	cred := newFakeCredential("tenant-1234")
	tr, forms := acrRegistry(t, cred)
	r := newClient(t, tr, Options{AzureCredential: cred})

	res, err := r.Lookup(t.Context(), Request{Image: "myregistry.azurecr.io/app:v1", Platform: linuxAMD64})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Cmd, []string{"acr"}) {
		t.Errorf("Cmd = %q", res.Cmd)
	}
	if len(*forms) != 1 {
		t.Fatalf("%d exchanges, want 1", len(*forms))
	}
	form := (*forms)[0]
	if form.Get("tenant") != "tenant-1234" || form.Get("grant_type") != "access_token" || form.Get("service") != "myregistry.azurecr.io" {
		t.Errorf("exchange form = %v", form)
	}
	if !slices.Equal(cred.scopes, []string{"https://containerregistry.azure.net/.default"}) {
		t.Errorf("token scopes = %q", cred.scopes)
	}

	// Another image of the registry reuses the ACR refresh token.
	tr.push("other:v1", image(t, "linux/amd64", []string{"/bin/other"}, nil))
	if _, err := r.Lookup(t.Context(), Request{Image: "myregistry.azurecr.io/other:v1", Platform: linuxAMD64}); err != nil {
		t.Fatal(err)
	}
	if len(*forms) != 1 || cred.calls.Load() != 1 {
		t.Errorf("%d exchanges and %d token requests, want 1 and 1", len(*forms), cred.calls.Load())
	}
}

func TestLookupACRTokenExchangeOrderAndFailures(t *testing.T) {
	t.Run("a pull secret is tried before the exchange", func(t *testing.T) {
		cred := newFakeCredential("tenant-1234")
		tr, forms := acrRegistry(t, cred)
		tr.front.users["sp-client"] = "sp-secret-value"
		r := newClient(t, tr, Options{AzureCredential: cred})
		_, err := r.Lookup(t.Context(), Request{Image: "myregistry.azurecr.io/app:v1", PullSecrets: []PullSecret{
			{Name: "acr", Type: SecretTypeDockerConfigJSON, Data: dockerConfigJSON("*.azurecr.io", "sp-client", "sp-secret-value")},
		}})
		if err != nil {
			t.Fatal(err)
		}
		if len(*forms) != 0 || cred.calls.Load() != 0 {
			t.Errorf("%d exchanges, %d token requests; want none", len(*forms), cred.calls.Load())
		}
	})
	t.Run("the exchange refuses the identity", func(t *testing.T) {
		cred := newFakeCredential("tenant-1234")
		tr, _ := acrRegistry(t, cred)
		wrong := newFakeCredential("tenant-1234")
		wrong.token = fakeJWT(map[string]any{"tid": "tenant-1234", "sub": "someone-else"})
		r := newClient(t, tr, Options{AzureCredential: wrong})
		_, err := r.Lookup(t.Context(), Request{Image: "myregistry.azurecr.io/app:v1"})
		if !errors.Is(err, ErrUnauthorized) {
			t.Fatalf("err = %v, want ErrUnauthorized", err)
		}
		if !strings.Contains(err.Error(), "refused the webhook's Azure identity in the ACR token exchange (HTTP 401)") {
			t.Errorf("message %q does not explain the exchange", err)
		}
		if strings.Contains(err.Error(), wrong.token) {
			t.Errorf("message %q contains the access token", err)
		}
	})
	t.Run("the identity cannot get a token", func(t *testing.T) {
		cred := newFakeCredential("tenant-1234")
		tr, _ := acrRegistry(t, cred)
		broken := newFakeCredential("")
		broken.err = errors.New("AADSTS700016: application not found; client_secret=do-not-show")
		r := newClient(t, tr, Options{AzureCredential: broken})
		_, err := r.Lookup(t.Context(), Request{Image: "myregistry.azurecr.io/app:v1"})
		if !errors.Is(err, ErrUnauthorized) {
			t.Fatalf("err = %v, want ErrUnauthorized", err)
		}
		if strings.Contains(err.Error(), "do-not-show") {
			t.Errorf("message %q repeats the credential's error", err)
		}
	})
	t.Run("without an Azure identity only anonymous access is tried", func(t *testing.T) {
		cred := newFakeCredential("tenant-1234")
		tr, forms := acrRegistry(t, cred)
		r := newClient(t, tr, Options{})
		_, err := r.Lookup(t.Context(), Request{Image: "myregistry.azurecr.io/app:v1"})
		if !errors.Is(err, ErrUnauthorized) || len(*forms) != 0 {
			t.Fatalf("err = %v, exchanges = %d; want ErrUnauthorized and none", err, len(*forms))
		}
	})
}

func TestLookupMultiPlatform(t *testing.T) {
	tr := newTestRegistry(t, registryOpts{})
	tr.pushIndex("multi:v1",
		image(t, "linux/amd64", []string{"/amd64"}, nil),
		image(t, "linux/arm64/v8", []string{"/arm64"}, nil),
		image(t, "linux/arm/v6", []string{"/armv6"}, nil),
	)
	r := newClient(t, tr, Options{})
	tests := []struct {
		platform Platform
		want     string
		err      error
	}{
		{Platform{OS: "linux", Architecture: "amd64"}, "/amd64", nil},
		{Platform{OS: "linux", Architecture: "arm64"}, "/arm64", nil},
		{Platform{OS: "linux", Architecture: "arm"}, "/armv6", nil}, // a v7 CPU runs v6
		{Platform{OS: "linux", Architecture: "s390x"}, "", ErrNoMatchingPlatform},
		{Platform{OS: "windows", Architecture: "amd64"}, "", ErrNoMatchingPlatform},
	}
	for _, tt := range tests {
		t.Run(tt.platform.String(), func(t *testing.T) {
			res, err := r.Lookup(t.Context(), Request{Image: tr.ref("multi:v1"), Platform: tt.platform})
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err = %v, want %v", err, tt.err)
				}
				if !strings.Contains(err.Error(), "linux/amd64, linux/arm64/v8, linux/arm/v6") {
					t.Errorf("message %q does not list the platforms the image has", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(res.Entrypoint, []string{tt.want}) {
				t.Errorf("Entrypoint = %q, want %q", res.Entrypoint, tt.want)
			}
		})
	}
}

func TestLookupDefaultPlatform(t *testing.T) {
	tr := newTestRegistry(t, registryOpts{})
	tr.pushIndex("multi:v1",
		image(t, "linux/amd64", []string{"/amd64"}, nil),
		image(t, "linux/arm64", []string{"/arm64"}, nil),
	)
	r := newClient(t, tr, Options{DefaultPlatform: Platform{OS: "linux", Architecture: "arm64"}})
	res, err := r.Lookup(t.Context(), Request{Image: tr.ref("multi:v1")})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Entrypoint, []string{"/arm64"}) {
		t.Errorf("Entrypoint = %q, want the default platform's", res.Entrypoint)
	}
}

func TestLookupNotFoundAndInvalid(t *testing.T) {
	tr := newTestRegistry(t, registryOpts{})
	tr.push("app:v1", image(t, "linux/amd64", []string{"/bin/app"}, nil))
	r := newClient(t, tr, Options{})
	tests := []struct {
		image string
		want  error
	}{
		{tr.ref("app:v2"), ErrNotFound},
		{tr.ref("nothing:v1"), ErrNotFound},
		{tr.ref("Bad Name!"), ErrInvalidImage},
		{"", ErrInvalidImage},
		{tr.ref("app/" + strings.Repeat("a", 2000) + ":v1"), ErrInvalidImage},
	}
	for _, tt := range tests {
		t.Run(tt.image, func(t *testing.T) {
			_, err := r.Lookup(t.Context(), Request{Image: tt.image})
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			var lerr *LookupError
			if !errors.As(err, &lerr) || lerr.Image != tt.image {
				t.Errorf("err = %#v, want a *LookupError naming %q", err, tt.image)
			}
			if !strings.Contains(err.Error(), "set command (and args)") {
				t.Errorf("message %q does not tell the user to set command", err)
			}
			if len(err.Error()) > 1000 {
				t.Errorf("message of %d bytes", len(err.Error()))
			}
		})
	}
}

func TestLookupPlainHTTP(t *testing.T) {
	tr := newTestRegistry(t, registryOpts{plainHTTP: true})
	tr.push("app:v1", image(t, "linux/amd64", []string{"/bin/app"}, nil))

	r := newClient(t, tr, Options{})
	_, err := r.Lookup(t.Context(), Request{Image: tr.ref("app:v1")})
	if !errors.Is(err, ErrRegistry) || !strings.Contains(err.Error(), "plain HTTP") {
		t.Fatalf("err = %v, want ErrRegistry about plain HTTP", err)
	}

	r = newClient(t, tr, Options{InsecureRegistries: []string{tr.host}})
	res, err := r.Lookup(t.Context(), Request{Image: tr.ref("app:v1")})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Entrypoint, []string{"/bin/app"}) {
		t.Errorf("Entrypoint = %q", res.Entrypoint)
	}
}

func TestLookupDeadline(t *testing.T) {
	tr := newTestRegistry(t, registryOpts{})
	tr.front.hang.Store(true)
	r := newClient(t, tr, Options{})

	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	_, err := r.Lookup(ctx, Request{Image: tr.ref("app:v1")})
	if !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
	if !strings.Contains(err.Error(), tr.ref("app:v1")) || !strings.Contains(err.Error(), "set command") {
		t.Errorf("message %q does not name the image and the remedy", err)
	}
}

func TestLookupOptionsTimeout(t *testing.T) {
	tr := newTestRegistry(t, registryOpts{})
	tr.front.hang.Store(true)
	r := newClient(t, tr, Options{Timeout: 100 * time.Millisecond})
	_, err := r.Lookup(t.Context(), Request{Image: tr.ref("app:v1")})
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
}

func TestNewRejectsBadInsecureRegistry(t *testing.T) {
	for _, h := range []string{"http://reg.local", "reg.local/path", ""} {
		if _, err := New(Options{InsecureRegistries: []string{h}}); err == nil {
			t.Errorf("New accepted insecure registry %q", h)
		}
	}
}

func equalResult(a, b Result) bool {
	return slices.Equal(a.Entrypoint, b.Entrypoint) && slices.Equal(a.Cmd, b.Cmd) &&
		a.User == b.User && a.WorkingDir == b.WorkingDir && a.Digest == b.Digest
}

func TestLookupACRRefreshTokenExpiry(t *testing.T) {
	cred := newFakeCredential("tenant-1234")
	tr, _ := acrRegistry(t, cred)
	clock := newFakeClock()
	exp := clock.Now().Add(3 * time.Hour)
	refresh := fakeJWT(map[string]any{"exp": exp.Unix()})
	tr.front.refreshTokens[refresh] = true
	tr.front.exchange = func(url.Values) (int, string) {
		return http.StatusOK, `{"refresh_token":"` + refresh + `"}`
	}
	// Tags expire quickly so every lookup below asks the registry.
	r := newClient(t, tr, Options{AzureCredential: cred, Now: clock.Now, TagTTL: time.Second})
	calls := func() int64 { return cred.calls.Load() }
	lookup := func() {
		t.Helper()
		if _, err := r.Lookup(t.Context(), Request{Image: "myregistry.azurecr.io/app:v1"}); err != nil {
			t.Fatal(err)
		}
	}
	lookup()
	clock.Advance(2 * time.Hour)
	lookup()
	if calls() != 1 {
		t.Errorf("within the refresh token's life: %d exchanges, want 1", calls())
	}
	clock.Advance(56 * time.Minute) // 4 minutes before exp: inside the margin
	lookup()
	if calls() != 2 {
		t.Errorf("near the refresh token's expiry: %d exchanges, want 2", calls())
	}
}

func TestLookupUnreachable(t *testing.T) {
	tr := newTestRegistry(t, registryOpts{})
	tr.push("app:v1", image(t, "linux/amd64", []string{"/bin/app"}, nil))

	t.Run("untrusted certificate", func(t *testing.T) {
		r := newClient(t, nil, Options{Transport: &http.Transport{}})
		_, err := r.Lookup(t.Context(), Request{Image: tr.ref("app:v1")})
		if !errors.Is(err, ErrRegistry) || !strings.Contains(err.Error(), "TLS certificate of the registry is not trusted") {
			t.Fatalf("err = %v, want ErrRegistry about the certificate", err)
		}
	})
	t.Run("nothing listening", func(t *testing.T) {
		closed := newTestRegistry(t, registryOpts{})
		closed.srv.Close()
		r := newClient(t, closed, Options{})
		_, err := r.Lookup(t.Context(), Request{Image: closed.ref("app:v1")})
		if !errors.Is(err, ErrRegistry) || !strings.Contains(err.Error(), "the registry refused the connection") {
			t.Fatalf("err = %v, want ErrRegistry saying the registry refused the connection", err)
		}
	})
	t.Run("server errors", func(t *testing.T) {
		broken := newTestRegistry(t, registryOpts{})
		r := newClient(t, broken, Options{})
		broken.front.inner = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusBadGateway)
		})
		_, err := r.Lookup(t.Context(), Request{Image: broken.ref("app:v1")})
		if !errors.Is(err, ErrRegistry) || !strings.Contains(err.Error(), "HTTP 502") {
			t.Fatalf("err = %v, want ErrRegistry with HTTP 502", err)
		}
	})
}
