// Package output renders a Key Vault object into the data of a Kubernetes
// Secret or ConfigMap, and answers the env injector's placeholder queries,
// exactly as akv2k8s 1.8.4 did wherever users depend on it (docs/design:
// product.md §1) and as latchkey defines where akv2k8s was broken (§2).
//
// It is pure: no I/O, no clock, and nothing from k8s.io, because the small
// in-container binary links it. Spec carries the few AzureKeyVaultSecret
// fields that shape the output. Errors name object types, secret types,
// data keys and query keys, never a value or any part of one.
package output
