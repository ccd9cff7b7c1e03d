package imageconfig

import (
	"bytes"
	"errors"
	"net/http"
	"net/url"
	"testing"

	"github.com/go-logr/logr/funcr"
)

func TestACRScope(t *testing.T) {
	tests := []struct {
		host  string
		scope string
	}{
		{"myregistry.azurecr.io", "https://containerregistry.azure.net/.default"},
		{"MyRegistry.AzureCR.io", "https://containerregistry.azure.net/.default"},
		{"myregistry.azurecr.cn", "https://containerregistry.azure.net/.default"},
		{"myregistry.azurecr.us", "https://containerregistry.azure.net/.default"},
		{"azurecr.io", ""},
		{".azurecr.io", ""},
		{"myregistry.azurecr.io:443", ""},
		{"myregistry.azurecr.io.example.com", ""},
		{"ghcr.io", ""},
	}
	for _, tt := range tests {
		scope, ok := acrScope(tt.host)
		if scope != tt.scope || ok != (tt.scope != "") {
			t.Errorf("acrScope(%q) = %q, %v; want %q", tt.host, scope, ok, tt.scope)
		}
	}
}

func TestACRTenant(t *testing.T) {
	token := fakeJWT(map[string]any{"tid": "from-token"})
	if got := (&acrExchanger{}).tenantOf(token); got != "from-token" {
		t.Errorf("tenant = %q, want the token's", got)
	}
	if got := (&acrExchanger{tenant: "configured"}).tenantOf(token); got != "configured" {
		t.Errorf("tenant = %q, want the configured one", got)
	}
	if got := (&acrExchanger{}).tenantOf("not-a-jwt"); got != "" {
		t.Errorf("tenant = %q, want none", got)
	}
}

// TestLogsHoldNoCredentials runs failing and succeeding lookups with a
// verbose logger and looks for the credentials in what was logged.
func TestLogsHoldNoCredentials(t *testing.T) {
	cred := newFakeCredential("tenant-1234")
	tr, _ := acrRegistry(t, cred)
	tr.front.users["sp-client"] = "sp-secret-value"
	tr.front.exchange = func(url.Values) (int, string) {
		return http.StatusForbidden, `{"errors":[{"code":"DENIED","message":"echo ` + cred.token + `"}]}`
	}
	var logs bytes.Buffer
	logger := funcr.New(func(prefix, args string) { logs.WriteString(prefix + args + "\n") }, funcr.Options{Verbosity: 10})
	r := newClient(t, tr, Options{AzureCredential: cred, Logger: logger})

	_, err := r.Lookup(t.Context(), Request{Image: "myregistry.azurecr.io/app:v1", PullSecrets: []PullSecret{
		{Name: "wrong", Type: SecretTypeDockerConfigJSON, Data: dockerConfigJSON("myregistry.azurecr.io", "sp-client", "guessed-secret-value")},
	}})
	if !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("err = %v, want ErrUnauthorized", err)
	}
	if _, err := r.Lookup(t.Context(), Request{Image: "myregistry.azurecr.io/app:v1", PullSecrets: []PullSecret{
		{Name: "right", Type: SecretTypeDockerConfigJSON, Data: dockerConfigJSON("myregistry.azurecr.io", "sp-client", "sp-secret-value")},
	}}); err != nil {
		t.Fatal(err)
	}
	if logs.Len() == 0 {
		t.Fatal("nothing was logged")
	}
	for what, s := range map[string]string{"the logs": logs.String(), "the error": err.Error()} {
		noCredentials(t, what, s, nil, "sp-secret-value", "guessed-secret-value", cred.token, "acr-refresh-token")
	}
}
