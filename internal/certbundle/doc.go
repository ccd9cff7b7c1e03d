// Package certbundle turns a Key Vault certificate's backing secret (a
// base64 PFX or a PEM file) into an ordered chain and a private key, and
// encodes them as the PEM that Kubernetes TLS Secrets and akv2k8s users
// expect.
//
// It exists so that the controller, the resolver and the in-container binary
// order chains and encode keys the same way; it imports nothing from
// Kubernetes. Errors never quote the input: parser errors from the standard
// library and go-pkcs12 can contain input bytes, so they are replaced by
// fixed descriptions rather than wrapped.
package certbundle
