// Package envexec is what latchkey's in-container binary, latchkey-env, does
// (docs/design/injection.md): it finds the `<akvs>@azurekeyvault[?query]`
// placeholders in its environment, reads each Key Vault object they name
// once, answers their queries, removes its own LATCHKEY_* variables and
// execs the original program with the values, so the program keeps the
// container's PID and receives its signals directly.
//
// The steps are small pure functions (FindPlaceholders, ParseRefs,
// PlanReads, Rewrite, LookPath, RetryPolicy.Delay) under a thin Run. It
// links nothing from Kubernetes: direct mode reads Key Vault through
// internal/keyvault with the container's own credentials, and resolver mode
// asks latchkey's resolver (ResolverClient, internal/resolver/protocol)
// with the pod's projected token, never through a proxy.
//
// No value is ever logged or put in an error: logs and errors name
// variables, AzureKeyVaultSecrets, queries and Key Vault objects only.
package envexec
