package akvemu

import (
	"fmt"
	"strings"
)

// cloud is one Azure cloud as the emulator presents it: where its vaults live,
// where its users sign in, and what audience its vault tokens carry.
type cloud struct {
	// name is the canonical name used in seeds and logs.
	name string
	// vaultSuffix is the DNS suffix of vaults, without a leading dot.
	vaultSuffix string
	// loginHost is the Entra authority host the vault challenge points to.
	loginHost string
	// loginAliases are other authority hosts of the same cloud that MSAL knows.
	loginAliases []string
	// stsHost is the host of the v1 token issuer (https://<stsHost>/<tenant>/).
	stsHost string
}

// keyVaultAppID is the application ID of Azure Key Vault, which Key Vault also
// accepts as a token audience in every cloud.
const keyVaultAppID = "cfa8b339-82a2-471a-a3c9-0fc0be7a4093"

// clouds returns the clouds the emulator knows. A function, not a variable, so
// nothing can change the table at run time.
func clouds() []cloud {
	return []cloud{
		{
			name:         "AzurePublic",
			vaultSuffix:  "vault.azure.net",
			loginHost:    "login.microsoftonline.com",
			loginAliases: []string{"login.microsoft.com", "login.windows.net", "sts.windows.net"},
			stsHost:      "sts.windows.net",
		},
		{
			name:         "AzureChina",
			vaultSuffix:  "vault.azure.cn",
			loginHost:    "login.chinacloudapi.cn",
			loginAliases: []string{"login.partner.microsoftonline.cn"},
			stsHost:      "sts.chinacloudapi.cn",
		},
		{
			name:         "AzureUSGovernment",
			vaultSuffix:  "vault.usgovcloudapi.net",
			loginHost:    "login.microsoftonline.us",
			loginAliases: []string{"login.usgovcloudapi.net"},
			stsHost:      "login.microsoftonline.us",
		},
	}
}

// resource is the vault audience of the cloud, e.g. https://vault.azure.net.
func (c cloud) resource() string { return "https://" + c.vaultSuffix }

// authority is the URL the vault challenge names for a tenant.
func (c cloud) authority(tenantID string) string {
	return "https://" + c.loginHost + "/" + tenantID
}

// issuer is the v1 issuer of access tokens for a tenant, as Key Vault expects it.
func (c cloud) issuer(tenantID string) string {
	return "https://" + c.stsHost + "/" + tenantID + "/"
}

// parseCloud maps the names users write (ours, akv2k8s's AZURE_ENVIRONMENT
// spellings, or a vault DNS suffix) to a cloud. Empty means the public cloud.
func parseCloud(name string) (cloud, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	switch n {
	case "", "azurepublic", "azurepubliccloud", "azurecloud", "public", "vault.azure.net":
		return clouds()[0], nil
	case "azurechina", "azurechinacloud", "china", "vault.azure.cn":
		return clouds()[1], nil
	case "azureusgovernment", "azureusgovernmentcloud", "usgovernment", "usgov", "vault.usgovcloudapi.net":
		return clouds()[2], nil
	}
	return cloud{}, fmt.Errorf("unknown cloud %q (want AzurePublic, AzureChina or AzureUSGovernment)", name)
}

// cloudForResource finds the cloud whose vault audience a token resource names;
// tokens for any other resource are issued as public-cloud tokens.
func cloudForResource(resource string) cloud {
	r := strings.TrimSuffix(strings.ToLower(resource), "/")
	for _, c := range clouds() {
		if r == c.resource() {
			return c
		}
	}
	return clouds()[0]
}

// hostKind says which part of the emulator a host name addresses.
type hostKind int

const (
	// hostLocal is the emulator's own name (localhost, 127.0.0.1, extra names):
	// admin endpoints, the managed-identity endpoint, and Entra as a fallback.
	hostLocal hostKind = iota
	// hostVault is <vault>.<vault suffix>.
	hostVault
	// hostLogin is an Entra authority host.
	hostLogin
)

// classifyHost decides, from the Host header alone, what a request addresses.
// For a vault host it also returns the vault name; for vault and login hosts
// the cloud. It is pure so routing can be table-tested.
func classifyHost(hostport string) (kind hostKind, vaultName string, c cloud) {
	host := strings.ToLower(stripPort(hostport))
	host = strings.TrimSuffix(host, ".")
	for _, cl := range clouds() {
		if name, ok := strings.CutSuffix(host, "."+cl.vaultSuffix); ok && name != "" && !strings.Contains(name, ".") {
			return hostVault, name, cl
		}
		if host == cl.loginHost {
			return hostLogin, "", cl
		}
		for _, a := range cl.loginAliases {
			if host == a {
				return hostLogin, "", cl
			}
		}
	}
	return hostLocal, "", clouds()[0]
}

// stripPort removes a :port from a host (IPv6 literals keep their brackets off).
func stripPort(hostport string) string {
	if strings.HasPrefix(hostport, "[") {
		if i := strings.Index(hostport, "]"); i > 0 {
			return hostport[1:i]
		}
		return hostport
	}
	if i := strings.LastIndexByte(hostport, ':'); i >= 0 && !strings.Contains(hostport[:i], ":") {
		return hostport[:i]
	}
	return hostport
}

// redirectedHost reports whether the emulator's HTTP client sends a dial for
// host to the emulator: every vault and login host of every cloud, and the
// extra names the server was started with.
func redirectedHost(host string, extra []string) bool {
	h := strings.TrimSuffix(strings.ToLower(stripPort(host)), ".")
	for _, cl := range clouds() {
		if strings.HasSuffix(h, "."+cl.vaultSuffix) || h == cl.loginHost {
			return true
		}
		for _, a := range cl.loginAliases {
			if h == a {
				return true
			}
		}
	}
	for _, e := range extra {
		if strings.EqualFold(h, e) {
			return true
		}
	}
	return false
}
