// Package podcontract is the contract between the webhook, the resolver and the in-container binary.
package podcontract

// The webhook writes these names into the pods it rewrites, the binary reads
// them, and the resolver checks them (docs/design/injection.md). The three
// ship separately, so each name is defined here once; the package imports
// nothing from Kubernetes, so the binary links it without growing.

import (
	"strconv"
	"strings"
)

// The pod: what marks it and what opts its namespace in.
const (
	// InjectedAnnotation holds the webhook's admission mark
	// (internal/injectmark) on every pod it rewrites: what the resolver
	// checks.
	InjectedAnnotation = "latchkey.dev/injected"
	// DefaultNamespaceLabel is akv2k8s's opt-in namespace label; its value
	// must be "enabled".
	DefaultNamespaceLabel = "azure-key-vault-env-injection"
)

// The binary: where the webhook installs it and how it calls it.
const (
	// ImageBinaryPath is the binary in its own image: the install init
	// container runs it from there.
	ImageBinaryPath = "/latchkey-env"
	// BinVolume is the emptyDir the install init container copies the
	// binary into, mounted read-only at BinDir in rewritten containers.
	BinVolume = "latchkey-env"
	BinDir    = "/latchkey/bin"
	// BinaryPath is the command of every container the webhook rewrites.
	BinaryPath = BinDir + "/latchkey-env"
	// InstallContainer is the init container that installs the binary.
	InstallContainer = "latchkey-env-install"
	// CmdInstall is the subcommand that copies the binary
	// (`latchkey-env install <dst>`).
	CmdInstall = "install"
	// CmdRun is the subcommand a rewritten container starts with
	// (`latchkey-env run -- argv…`).
	CmdRun = "run"
)

// Resolver mode: the projected volume that carries the resolver's token and
// CA bundle into a rewritten container.
const (
	// ResolverVolume is mounted read-only at ResolverDir.
	ResolverVolume = "latchkey-resolver"
	ResolverDir    = "/latchkey/resolver"
	// ResolverTokenFile is the projected service-account token, in
	// ResolverDir.
	ResolverTokenFile = "token"
	// ResolverCAFile is the resolver's CA bundle, in ResolverDir.
	ResolverCAFile = "ca.crt"
	// CABundleKey is the key of the ConfigMap the resolver publishes its CA
	// bundle under, in every namespace pods may run in.
	CABundleKey = "ca.crt"
)

// Direct mode with HashiCorp Vault: the projected volume that carries the
// pod's own service-account token, for the audience Vault expects, into a
// rewritten direct-mode container whose placeholders name a Vault-backed
// AzureKeyVaultSecret. The container logs in to Vault with it itself.
const (
	// VaultTokenVolume is mounted read-only at VaultTokenDir.
	VaultTokenVolume = "latchkey-vault-token" //nolint:gosec // a volume's name, not a credential
	VaultTokenDir    = "/latchkey/vault"      //nolint:gosec // a mount path, not a credential
	// VaultTokenFile is the token, in VaultTokenDir.
	VaultTokenFile = "token"
)

// Environment variables the webhook writes and the binary reads. Every name
// but EnvDisableAuthService starts with OwnPrefix, so the binary removes it
// before the exec.
const (
	// OwnPrefix marks latchkey's own variables: never placeholders, removed
	// before the program starts.
	OwnPrefix = "LATCHKEY_"
	// EnvRefs carries, per container, the AzureKeyVaultSecrets its
	// placeholders name, as JSON: what direct mode needs without API access.
	EnvRefs = "LATCHKEY_REFS"
	// EnvResolverURL is the resolver's base URL (https://…). It is set only
	// in containers rewritten in resolver mode; set, it selects resolver
	// mode in the binary unless EnvDisableAuthService says otherwise.
	EnvResolverURL = "LATCHKEY_RESOLVER_URL"
	// EnvResolverToken is the file of the projected service-account token.
	EnvResolverToken = "LATCHKEY_RESOLVER_TOKEN"
	// EnvResolverCA is the file of the CA bundle that verifies the resolver.
	EnvResolverCA = "LATCHKEY_RESOLVER_CA"
	// EnvVaultToken is the file of the token a direct-mode container logs
	// in to HashiCorp Vault with (VaultTokenDir/VaultTokenFile).
	EnvVaultToken = "LATCHKEY_VAULT_TOKEN" //nolint:gosec // a variable's name, not a credential
	// EnvContainer names the container to the resolver, which serves only
	// the placeholders of that container in the stored pod spec.
	EnvContainer = "LATCHKEY_CONTAINER"
	// EnvDisableAuthService is akv2k8s's per-container switch to direct
	// mode, which users hard-code: it stays in the program's environment.
	EnvDisableAuthService = "ENV_INJECTOR_DISABLE_AUTH_SERVICE"
)

// IsDirectMode reads a value of EnvDisableAuthService as the binary does
// (strconv.ParseBool: true, 1, t, TRUE…; anything else is false). The
// webhook and the resolver decide with this same function, so a container
// the binary runs in direct mode is never also handed the resolver's token,
// nor served by the resolver.
func IsDirectMode(value string) bool {
	b, err := strconv.ParseBool(strings.TrimSpace(value))
	return err == nil && b
}
