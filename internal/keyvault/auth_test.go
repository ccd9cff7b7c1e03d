package keyvault_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/latchkey-dev/latchkey/internal/keyvault"
)

// mapEnv is a getenv over a map.
func mapEnv(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// readPlain reads the vault's plain secret with cred and checks the value.
func readPlain(t *testing.T, e *env, cred *keyvault.Credential) {
	t.Helper()
	obj, err := e.reader(t, cred, keyvault.ReaderOptions{}).Read(testCtx(t), keyvault.Ref{Store: vault, Kind: keyvault.KindSecret, Name: "plain"})
	if err != nil {
		t.Fatalf("Read as %s: %v", cred.Identity(), err)
	}
	if string(obj.Value) != "plain-value" {
		t.Fatalf("value = %q", obj.Value)
	}
}

// TestAuthModes signs in with every mode and reads a secret through the
// real SDK, checking the identity and that the expected token endpoint
// issued exactly one token.
func TestAuthModes(t *testing.T) {
	e := newEnv(t)
	e.useManagedIdentityEndpoint(t)
	// The only system-assigned identity of this package's tests: MSAL caches
	// managed-identity tokens per process.
	e.addManagedIdentity(t, true)
	tokenFile := federatedToken(t, e.dir)
	sp, certSP, wi := "sp:"+tenant+"/"+spApp, "sp:"+tenant+"/"+certApp, "wi:"+tenant+"/"+wiApp
	envConfig := func(mode keyvault.Mode, kv ...string) keyvault.AuthConfig {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return keyvault.AuthConfigFromEnv(mode, mapEnv(m))
	}
	azureJSON := func(t *testing.T, cfg map[string]any) keyvault.AuthConfig {
		return keyvault.AuthConfig{AzureJSONPath: writeAzureJSON(t, e.dir, cfg)}
	}

	tests := []struct {
		name string
		// cfg returns the configuration and the identity it must have; it
		// may seed identities and set process variables.
		cfg     func(t *testing.T) (keyvault.AuthConfig, string)
		tokenOp string
	}{
		{"azure.json client secret", func(t *testing.T) (keyvault.AuthConfig, string) {
			return azureJSON(t, map[string]any{"cloud": "AzurePublicCloud", "tenantId": tenant, "aadClientId": spApp, "aadClientSecret": spSecret, "subscriptionId": "sub", "resourceGroup": "rg"}), sp
		}, "Token"},
		{"azure.json client certificate (PKCS#12 with password)", func(t *testing.T) (keyvault.AuthConfig, string) {
			return azureJSON(t, map[string]any{"tenantId": tenant, "aadClientId": certApp, "aadClientCertPath": e.certPFXFile, "aadClientCertPassword": pfxPassword}), certSP
		}, "Token"},
		{"azure.json client certificate (PEM)", func(t *testing.T) (keyvault.AuthConfig, string) {
			return azureJSON(t, map[string]any{"tenantId": tenant, "aadClientId": certApp, "aadClientCertPath": e.certPEMFile}), certSP
		}, "Token"},
		{"azure.json system-assigned managed identity (aadClientId msi)", func(t *testing.T) (keyvault.AuthConfig, string) {
			return azureJSON(t, map[string]any{"tenantId": tenant, "aadClientId": "msi", "aadClientSecret": "msi", "useManagedIdentityExtension": true}), "mi:system"
		}, "ManagedIdentityToken"},
		{"azure.json user-assigned managed identity", func(t *testing.T) (keyvault.AuthConfig, string) {
			id := e.addManagedIdentity(t, false)
			return azureJSON(t, map[string]any{"tenantId": tenant, "aadClientId": "msi", "aadClientSecret": "msi", "useManagedIdentityExtension": true, "userAssignedIdentityID": id}), "mi:" + id
		}, "ManagedIdentityToken"},
		{"azure.json workload identity", func(t *testing.T) (keyvault.AuthConfig, string) {
			return azureJSON(t, map[string]any{"tenantId": tenant, "aadClientId": wiApp, "useFederatedWorkloadIdentityExtension": true, "aadFederatedTokenFile": tokenFile}), wi
		}, "Token"},
		{"environment: client secret", func(*testing.T) (keyvault.AuthConfig, string) {
			return envConfig(keyvault.ModeEnvironment, "AZURE_TENANT_ID", tenant, "AZURE_CLIENT_ID", spApp, "AZURE_CLIENT_SECRET", spSecret), sp
		}, "Token"},
		{"environment: certificate (akv2k8s's AZURE_CERTIFICATE_PATH, PKCS#12)", func(*testing.T) (keyvault.AuthConfig, string) {
			return envConfig(keyvault.ModeEnvironment, "AZURE_TENANT_ID", tenant, "AZURE_CLIENT_ID", certApp, "AZURE_CERTIFICATE_PATH", e.certPFXFile, "AZURE_CERTIFICATE_PASSWORD", pfxPassword), certSP
		}, "Token"},
		{"environment: certificate (azidentity's AZURE_CLIENT_CERTIFICATE_PATH, PEM)", func(*testing.T) (keyvault.AuthConfig, string) {
			return envConfig(keyvault.ModeEnvironment, "AZURE_TENANT_ID", tenant, "AZURE_CLIENT_ID", certApp, "AZURE_CLIENT_CERTIFICATE_PATH", e.certPEMFile), certSP
		}, "Token"},
		{"environment: username and password", func(*testing.T) (keyvault.AuthConfig, string) {
			return envConfig(keyvault.ModeEnvironment, "AZURE_TENANT_ID", tenant, "AZURE_CLIENT_ID", publicApp, "AZURE_USERNAME", user, "AZURE_PASSWORD", userPassword), "user:" + tenant + "/" + publicApp + "/" + user
		}, "Token"},
		{"environment: workload identity", func(*testing.T) (keyvault.AuthConfig, string) {
			return envConfig(keyvault.ModeEnvironment, "AZURE_TENANT_ID", tenant, "AZURE_CLIENT_ID", wiApp, "AZURE_FEDERATED_TOKEN_FILE", tokenFile), wi
		}, "Token"},
		{"environment: managed identity named by AZURE_CLIENT_ID", func(t *testing.T) (keyvault.AuthConfig, string) {
			id := e.addManagedIdentity(t, false)
			return envConfig(keyvault.ModeEnvironment, "AZURE_CLIENT_ID", id), "mi:" + id
		}, "ManagedIdentityToken"},
		{"workload-identity", func(*testing.T) (keyvault.AuthConfig, string) {
			return envConfig(keyvault.ModeWorkloadIdentity, "AZURE_TENANT_ID", tenant, "AZURE_CLIENT_ID", wiApp, "AZURE_FEDERATED_TOKEN_FILE", tokenFile), wi
		}, "Token"},
		{"managed-identity, user-assigned", func(t *testing.T) (keyvault.AuthConfig, string) {
			id := e.addManagedIdentity(t, false)
			return envConfig(keyvault.ModeManagedIdentity, "AZURE_CLIENT_ID", id), "mi:" + id
		}, "ManagedIdentityToken"},
		{"environment-azidentity: client secret", func(t *testing.T) (keyvault.AuthConfig, string) {
			t.Setenv("AZURE_TENANT_ID", tenant)
			t.Setenv("AZURE_CLIENT_ID", spApp)
			t.Setenv("AZURE_CLIENT_SECRET", spSecret)
			return keyvault.AuthConfig{Mode: keyvault.ModeEnvironmentAzidentity}, "chain(" + sp + ",mi:" + spApp + ")"
		}, "Token"},
		{"environment-azidentity: workload identity", func(t *testing.T) (keyvault.AuthConfig, string) {
			t.Setenv("AZURE_TENANT_ID", tenant)
			t.Setenv("AZURE_CLIENT_ID", wiApp)
			t.Setenv("AZURE_FEDERATED_TOKEN_FILE", tokenFile)
			return keyvault.AuthConfig{Mode: keyvault.ModeEnvironmentAzidentity}, "chain(" + wi + ",mi:" + wiApp + ")"
		}, "Token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, wantIdentity := tt.cfg(t)
			cred := e.credential(t, cfg)
			if cred.Identity() != wantIdentity {
				t.Errorf("identity = %q, want %q", cred.Identity(), wantIdentity)
			}
			before := e.count("", tt.tokenOp, http.StatusOK)
			readPlain(t, e, cred)
			if n := e.count("", tt.tokenOp, http.StatusOK) - before; n != 1 {
				t.Errorf("%s requests answered 200: %d, want 1", tt.tokenOp, n)
			}
		})
	}
}

// TestWrongCredentials: a refused sign-in is ErrAuthentication with Entra
// ID's status and AADSTS code, and the message holds no secret and no body.
func TestWrongCredentials(t *testing.T) {
	e := newEnv(t)
	e.useManagedIdentityEndpoint(t)
	const wrongSecret = "wrong-secret-Hx8cQ1"
	const wrongPassword = "wrong-password-Lm4nB6"
	tests := []struct {
		name       string
		cfg        func(t *testing.T) keyvault.AuthConfig
		wantStatus int
		wantCode   string
		secrets    []string
	}{
		{
			name: "environment: wrong client secret",
			cfg: func(*testing.T) keyvault.AuthConfig {
				return keyvault.AuthConfig{Mode: keyvault.ModeEnvironment, TenantID: tenant, ClientID: spApp, ClientSecret: wrongSecret}
			},
			wantStatus: http.StatusUnauthorized, wantCode: "AADSTS7000215", secrets: []string{wrongSecret, spSecret},
		},
		{
			name: "azure.json: wrong client secret",
			cfg: func(t *testing.T) keyvault.AuthConfig {
				return keyvault.AuthConfig{AzureJSONPath: writeAzureJSON(t, e.dir, map[string]any{"tenantId": tenant, "aadClientId": spApp, "aadClientSecret": wrongSecret})}
			},
			wantStatus: http.StatusUnauthorized, wantCode: "AADSTS7000215", secrets: []string{wrongSecret},
		},
		{
			name: "environment: unknown client",
			cfg: func(*testing.T) keyvault.AuthConfig {
				return keyvault.AuthConfig{Mode: keyvault.ModeEnvironment, TenantID: tenant, ClientID: randomID(), ClientSecret: spSecret}
			},
			wantStatus: http.StatusBadRequest, wantCode: "AADSTS700016", secrets: []string{spSecret},
		},
		{
			name: "environment: wrong password",
			cfg: func(*testing.T) keyvault.AuthConfig {
				return keyvault.AuthConfig{Mode: keyvault.ModeEnvironment, TenantID: tenant, ClientID: publicApp, Username: user, Password: wrongPassword}
			},
			wantStatus: http.StatusBadRequest, wantCode: "AADSTS50126", secrets: []string{wrongPassword, userPassword},
		},
		{
			name: "managed identity not assigned",
			cfg: func(*testing.T) keyvault.AuthConfig {
				return keyvault.AuthConfig{Mode: keyvault.ModeManagedIdentity, ManagedIdentityID: randomID()}
			},
			wantStatus: http.StatusBadRequest, secrets: []string{e.IdentityHeader()},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cred := e.credential(t, tt.cfg(t))
			_, err := e.reader(t, cred, keyvault.ReaderOptions{}).Read(testCtx(t), keyvault.Ref{Store: vault, Kind: keyvault.KindSecret, Name: "plain"})
			ke := wantClass(t, err, keyvault.ErrAuthentication)
			if ke.Status != tt.wantStatus || (tt.wantCode != "" && ke.Code != tt.wantCode) {
				t.Errorf("status, code = %d, %q; want %d, %q", ke.Status, ke.Code, tt.wantStatus, tt.wantCode)
			}
			msg := err.Error()
			noneOf(t, msg, tt.secrets...)
			noResponse(t, msg)
			if !strings.Contains(msg, cred.Identity()) {
				t.Errorf("message does not name the identity: %s", msg)
			}
			if n := e.count(vault, "GetSecret", http.StatusOK); n != 0 {
				t.Errorf("secret served %d times without a token", n)
			}
		})
	}
}

// TestSovereignCloud: AZURE_ENVIRONMENT (or azure.json's cloud) moves the
// authority, the vault suffix and the token audience.
func TestSovereignCloud(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name  string
		cfg   keyvault.AuthConfig
		cloud keyvault.Cloud
		vault string
		want  string
	}{
		{"AZURE_ENVIRONMENT=AzureChinaCloud", keyvault.AuthConfigFromEnv(keyvault.ModeEnvironment, mapEnv(map[string]string{
			"AZURE_ENVIRONMENT": "AzureChinaCloud", "AZURE_TENANT_ID": tenant, "AZURE_CLIENT_ID": spApp, "AZURE_CLIENT_SECRET": spSecret,
		})), keyvault.AzureChinaCloud, chinaVault, "ni-hao"},
		{"azure.json cloud AzureChinaCloud", keyvault.AuthConfig{AzureJSONPath: writeAzureJSON(t, e.dir, map[string]any{
			"cloud": "AzureChinaCloud", "tenantId": tenant, "aadClientId": spApp, "aadClientSecret": spSecret,
		})}, keyvault.AzureChinaCloud, chinaVault, "ni-hao"},
		{"AZURE_ENVIRONMENT=AzureUSGovernment", keyvault.AuthConfigFromEnv(keyvault.ModeEnvironment, mapEnv(map[string]string{
			"AZURE_ENVIRONMENT": "azureusgovernment", "AZURE_TENANT_ID": tenant, "AZURE_CLIENT_ID": spApp, "AZURE_CLIENT_SECRET": spSecret,
		})), keyvault.AzureUSGovernmentCloud, govVault, "howdy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cred := e.credential(t, tt.cfg)
			if cred.Cloud() != tt.cloud || cred.Identity() != "sp:"+tenant+"/"+spApp+"@"+string(tt.cloud) {
				t.Fatalf("cloud %q, identity %q", cred.Cloud(), cred.Identity())
			}
			before := e.count(tt.vault, "GetSecret", http.StatusOK)
			obj, err := e.reader(t, cred, keyvault.ReaderOptions{}).Read(testCtx(t), keyvault.Ref{Store: tt.vault, Kind: keyvault.KindSecret, Name: "greeting"})
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			if string(obj.Value) != tt.want || e.count(tt.vault, "GetSecret", http.StatusOK)-before != 1 {
				t.Fatalf("value %q, counters %+v", obj.Value, e.Counters().Snapshot())
			}
		})
	}
	t.Run("public cloud does not reach it", func(t *testing.T) {
		_, err := e.reader(t, e.spCredential(t), keyvault.ReaderOptions{}).Read(testCtx(t), keyvault.Ref{Store: chinaVault, Kind: keyvault.KindSecret, Name: "greeting"})
		if ke := wantClass(t, err, keyvault.ErrNotFound); ke.Code != "VaultNotFound" {
			t.Fatalf("code %q: %v", ke.Code, err)
		}
	})
}

// TestNewCredentialErrors: configuration problems fail NewCredential with
// the file or variable named and no secret shown.
func TestNewCredentialErrors(t *testing.T) {
	e := newEnv(t)
	const secret = "file-secret-Qw3eR5"
	tests := []struct {
		name    string
		cfg     keyvault.AuthConfig
		want    string
		secrets []string
	}{
		{"missing azure.json", keyvault.AuthConfig{AzureJSONPath: e.dir + "/absent.json"}, "absent.json", nil},
		{"truncated azure.json", keyvault.AuthConfig{AzureJSONPath: writeFile(t, e.dir, "bad.json", []byte(`{"aadClientSecret": "`+secret+`", "tenantId": `))}, "not valid JSON", []string{secret}},
		{"azure.json of the wrong type", keyvault.AuthConfig{AzureJSONPath: writeFile(t, e.dir, "typed.json", []byte(`{"aadClientSecret": "`+secret+`", "useManagedIdentityExtension": "`+secret+`"}`))}, "useManagedIdentityExtension", []string{secret}},
		{"azure.json without credentials", keyvault.AuthConfig{AzureJSONPath: writeAzureJSON(t, e.dir, map[string]any{"tenantId": tenant})}, "names no credential", nil},
		{"azure.json secret without client", keyvault.AuthConfig{AzureJSONPath: writeAzureJSON(t, e.dir, map[string]any{"tenantId": tenant, "aadClientSecret": secret})}, "aadClientId", []string{secret}},
		{"azure.json unknown cloud", keyvault.AuthConfig{AzureJSONPath: writeAzureJSON(t, e.dir, map[string]any{"cloud": "AzureStackCloud", "aadClientId": "msi"})}, "AzureStackCloud", nil},
		{"wrong PKCS#12 password", keyvault.AuthConfig{Mode: keyvault.ModeEnvironment, TenantID: tenant, ClientID: certApp, CertificatePath: e.certPFXFile, CertificatePassword: secret}, "wrong PKCS#12 password", []string{secret, pfxPassword}},
		{"not a certificate", keyvault.AuthConfig{Mode: keyvault.ModeEnvironment, TenantID: tenant, ClientID: certApp, CertificatePath: writeFile(t, e.dir, "junk", []byte(secret))}, "not a PEM file", []string{secret}},
		{"client secret without tenant", keyvault.AuthConfig{Mode: keyvault.ModeEnvironment, ClientID: spApp, ClientSecret: secret}, "AZURE_TENANT_ID", []string{secret}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := keyvault.NewCredential(tt.cfg, e.HTTPClient())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
			noneOf(t, err.Error(), tt.secrets...)
		})
	}
}
