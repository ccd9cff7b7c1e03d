package keyvault

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
)

// azureJSON is the part of the AKS cloud config (/etc/kubernetes/azure.json,
// cloud-provider-azure's AzureAuthConfig) latchkey reads.
type azureJSON struct {
	Cloud                 string `json:"cloud"`
	TenantID              string `json:"tenantId"`
	AADClientID           string `json:"aadClientId"`
	AADClientSecret       string `json:"aadClientSecret"`
	AADClientCertPath     string `json:"aadClientCertPath"`
	AADClientCertPassword string `json:"aadClientCertPassword"`
	// UseManagedIdentityExtension selects the node's managed identity;
	// UserAssignedIdentityID (a client ID or ARM resource ID) picks a
	// user-assigned one, empty the system-assigned one.
	UseManagedIdentityExtension bool   `json:"useManagedIdentityExtension"`
	UserAssignedIdentityID      string `json:"userAssignedIdentityID"`
	// Workload identity, as cloud-provider-azure reads it.
	AADFederatedTokenFile                 string `json:"aadFederatedTokenFile"`
	UseFederatedWorkloadIdentityExtension bool   `json:"useFederatedWorkloadIdentityExtension"`
}

// msiClientID is what AKS writes as aadClientId (and aadClientSecret) on a
// cluster whose nodes use a managed identity.
const msiClientID = "msi"

// readAzureJSON loads an AKS cloud config. Errors name the file, never its
// contents: it holds the client secret.
func readAzureJSON(path string) (azureJSON, error) {
	var cfg azureJSON
	data, err := os.ReadFile(path) //nolint:gosec // the path is the operator's configuration
	if err != nil {
		return cfg, fmt.Errorf("reading cloud config: %w", err)
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		// encoding/json's messages can quote the input; describe instead.
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return cfg, fmt.Errorf("cloud config %s is not valid JSON (at byte %d)", path, syn.Offset)
		}
		var typ *json.UnmarshalTypeError
		if errors.As(err, &typ) {
			return cfg, fmt.Errorf("cloud config %s: field %q has the wrong type", path, typ.Field)
		}
		return cfg, fmt.Errorf("cloud config %s is not valid JSON", path)
	}
	return cfg, nil
}

// spec resolves the cloud config to one credential, in cloud-provider-azure's
// order: workload identity, managed identity (also when aadClientId is
// "msi"), client secret, client certificate.
func (a azureJSON) spec(path string) (credSpec, error) {
	missing := func(what string, pairs ...[2]string) error {
		var errs []error
		for _, p := range pairs {
			if p[1] == "" {
				errs = append(errs, fmt.Errorf("cloud config %s: %s needs %s", path, what, p[0]))
			}
		}
		return errors.Join(errs...)
	}
	switch {
	case a.UseFederatedWorkloadIdentityExtension:
		s := credSpec{kind: credWorkloadIdentity, tenantID: a.TenantID, clientID: a.AADClientID, tokenFile: a.AADFederatedTokenFile}
		return s, missing("useFederatedWorkloadIdentityExtension", [2]string{"tenantId", a.TenantID}, [2]string{"aadClientId", a.AADClientID}, [2]string{"aadFederatedTokenFile", a.AADFederatedTokenFile})
	case a.UseManagedIdentityExtension || strings.EqualFold(a.AADClientID, msiClientID):
		return credSpec{kind: credManagedIdentity, managedID: a.UserAssignedIdentityID}, nil
	case a.AADClientSecret != "":
		s := credSpec{kind: credClientSecret, tenantID: a.TenantID, clientID: a.AADClientID, secret: a.AADClientSecret}
		return s, missing("aadClientSecret", [2]string{"tenantId", a.TenantID}, [2]string{"aadClientId", a.AADClientID})
	case a.AADClientCertPath != "":
		s := credSpec{kind: credClientCertificate, tenantID: a.TenantID, clientID: a.AADClientID, certPath: a.AADClientCertPath, certPassword: a.AADClientCertPassword}
		return s, missing("aadClientCertPath", [2]string{"tenantId", a.TenantID}, [2]string{"aadClientId", a.AADClientID})
	}
	return credSpec{}, fmt.Errorf("cloud config %s names no credential: want useManagedIdentityExtension, aadClientSecret, aadClientCertPath or useFederatedWorkloadIdentityExtension", path)
}
