package imageconfig

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/latchkey-dev/latchkey/internal/devtools/akvemu"
	"github.com/latchkey-dev/latchkey/internal/keyvault"
)

// TestLookupACRWithCloudConfig: the webhook's default ACR identity on AKS
// (the chart's env_injector.acrAuth follows keyVaultAuth=azureCloudConfig)
// is the credential the node's azure.json names, built by the same code as
// the controller's (keyvault.NewCredential). Its Entra ID token for ACR's
// audience (from the emulator's Entra ID, through the Azure SDK) is what the
// registry's ACR token exchange receives; the registry stands in for one
// whose ARM-audience tokens are disabled (authentication-as-arm), which
// refuses any other audience. Both shapes AKS writes
// are covered: a managed-identity cluster (the kubelet identity, which has
// AcrPull on an attached registry) and a service-principal cluster.
func TestLookupACRWithCloudConfig(t *testing.T) {
	const (
		tenant    = "22222222-2222-4222-8222-222222222222"
		kubeletID = "bbbbbbbb-0000-4000-8000-000000000001"
		clusterSP = "bbbbbbbb-0000-4000-8000-000000000002"
		spSecret  = "cluster-sp-secret-Hk4pQ1"
		acrHost   = "myregistry.azurecr.io"
	)
	emu := akvemu.StartForTest(t, &akvemu.Seed{
		IdentityHeader:    "identity-header-acr",
		Tenants:           []akvemu.TenantSeed{{ID: tenant}},
		Apps:              []akvemu.AppSeed{{ClientID: clusterSP, TenantID: tenant, Secrets: []string{spSecret}}},
		ManagedIdentities: []akvemu.ManagedIdentitySeed{{ClientID: kubeletID, TenantID: tenant}},
	})
	// The node's instance metadata endpoint, as the emulator serves it.
	t.Setenv("IDENTITY_ENDPOINT", emu.ManagedIdentityEndpoint())
	t.Setenv("IDENTITY_HEADER", emu.IdentityHeader())

	cases := []struct {
		name      string
		azureJSON map[string]any
		appID     string // the identity the exchanged token must be of
	}{
		{"managed-identity cluster: the kubelet identity", map[string]any{
			"cloud": "AzurePublicCloud", "tenantId": tenant, "subscriptionId": "sub", "resourceGroup": "mc_rg",
			"aadClientId": "msi", "aadClientSecret": "msi",
			"useManagedIdentityExtension": true, "userAssignedIdentityID": kubeletID,
		}, kubeletID},
		{"service-principal cluster", map[string]any{
			"cloud": "AzurePublicCloud", "tenantId": tenant, "subscriptionId": "sub", "resourceGroup": "mc_rg",
			"aadClientId": clusterSP, "aadClientSecret": spSecret,
		}, clusterSP},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, err := json.Marshal(tc.azureJSON)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "azure.json")
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
			// What the webhook's --acr-auth=azureCloudConfig builds, with
			// the emulator's transport instead of the real endpoints.
			cfg := keyvault.AuthConfigFromEnv(keyvault.ModeAzureCloudConfig, func(string) string { return "" })
			cfg.AzureJSONPath = path
			cred, err := keyvault.NewCredential(cfg, emu.HTTPClient())
			if err != nil {
				t.Fatal(err)
			}

			tr := newTestRegistry(t, registryOpts{mode: authBearer, host: acrHost})
			var mu sync.Mutex
			var forms []url.Values
			tr.front.refreshTokens["acr-refresh-token"] = true
			tr.front.exchange = func(form url.Values) (int, string) {
				mu.Lock()
				forms = append(forms, form)
				mu.Unlock()
				c := unverifiedClaims(form.Get("access_token"))
				if form.Get("grant_type") != "access_token" || form.Get("service") != acrHost ||
					c.Tid != tenant || c.AppID != tc.appID || c.Aud != "https://containerregistry.azure.net" {
					return http.StatusUnauthorized, `{"errors":[{"code":"UNAUTHORIZED","message":"not an ACR-audience token of the identity"}]}`
				}
				return http.StatusOK, `{"refresh_token":"acr-refresh-token"}`
			}
			tr.push("app:v1", image(t, "linux/amd64", []string{"/bin/app"}, []string{"serve"}))

			r := newClient(t, tr, Options{AzureCredential: cred})
			res, err := r.Lookup(t.Context(), Request{Image: acrHost + "/app:v1", Platform: linuxAMD64})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(res.Entrypoint, []string{"/bin/app"}) || !slices.Equal(res.Cmd, []string{"serve"}) {
				t.Errorf("Entrypoint %q, Cmd %q", res.Entrypoint, res.Cmd)
			}
			if len(forms) != 1 || forms[0].Get("tenant") != tenant {
				t.Errorf("exchanges %v: want one, for tenant %s", forms, tenant)
			}
		})
	}
}

// tokenClaims are the claims of an Entra ID access token the test checks.
type tokenClaims struct {
	Aud   string `json:"aud"`
	Tid   string `json:"tid"`
	AppID string `json:"appid"`
}

// unverifiedClaims reads a JWT's payload without checking its signature
// (the registry under test stands in for ACR, which does).
func unverifiedClaims(token string) tokenClaims {
	var c tokenClaims
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return c
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err == nil {
		_ = json.Unmarshal(b, &c)
	}
	return c
}
