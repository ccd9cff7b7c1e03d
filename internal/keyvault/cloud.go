package keyvault

import (
	"fmt"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
)

// Cloud is an Azure cloud: it decides where identities sign in, the DNS
// suffix of vaults and the audience of vault tokens. Its value is the name
// AZURE_ENVIRONMENT uses.
type Cloud string

// The clouds latchkey supports. Azure Stack and other private clouds are not
// supported: akv2k8s did not support them either.
const (
	AzurePublicCloud       Cloud = "AzurePublicCloud"
	AzureChinaCloud        Cloud = "AzureChinaCloud"
	AzureUSGovernmentCloud Cloud = "AzureUSGovernmentCloud"
)

// ParseCloud maps the names users write to a Cloud: AZURE_ENVIRONMENT's
// (AzurePublicCloud, AzureChinaCloud, AzureUSGovernmentCloud), azure.json's
// `cloud` (the same names; also AzureCloud, AzureUSGovernment), compared
// case-insensitively. Empty means the public cloud.
func ParseCloud(name string) (Cloud, error) {
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "", "azurepubliccloud", "azurecloud", "azurepublic":
		return AzurePublicCloud, nil
	case "azurechinacloud", "azurechina":
		return AzureChinaCloud, nil
	case "azureusgovernmentcloud", "azureusgovernment":
		return AzureUSGovernmentCloud, nil
	}
	return "", fmt.Errorf("unknown Azure cloud %q (want %s, %s or %s)", name, AzurePublicCloud, AzureChinaCloud, AzureUSGovernmentCloud)
}

// VaultSuffix is the DNS suffix of the cloud's vaults, e.g. vault.azure.net.
func (c Cloud) VaultSuffix() string {
	switch c {
	case AzureChinaCloud:
		return "vault.azure.cn"
	case AzureUSGovernmentCloud:
		return "vault.usgovcloudapi.net"
	}
	return "vault.azure.net"
}

// AuthorityHost is the cloud's Entra ID authority, e.g.
// https://login.microsoftonline.com/.
func (c Cloud) AuthorityHost() string { return c.configuration().ActiveDirectoryAuthorityHost }

// VaultURL is the URL of a vault of this cloud: https://<vault>.<suffix>/.
func (c Cloud) VaultURL(vault string) string {
	return "https://" + vault + "." + c.VaultSuffix() + "/"
}

// configuration is the azcore configuration credentials use to find the authority.
func (c Cloud) configuration() cloud.Configuration {
	switch c {
	case AzureChinaCloud:
		return cloud.AzureChina
	case AzureUSGovernmentCloud:
		return cloud.AzureGovernment
	}
	return cloud.AzurePublic
}
