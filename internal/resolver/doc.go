// Package resolver is latchkey's pod-facing value service: it answers one
// pod, over HTTPS, for exactly the `<akvs>@azurekeyvault` placeholders its
// stored spec gives the container asking, and nothing else. It replaces
// akv2k8s's auth service, which handed every injected pod the webhook's own
// Key Vault token.
//
// A request (protocol.Request) carries the pod's projected service-account
// token. The resolver checks, in order, each step a small pure function:
//
//  1. the token locally: the install's audience in aud, exp in the future
//     (CheckToken), without calling the API server;
//  2. TokenReview with spec.audiences, the audience back in
//     status.audiences (Reviewer; cached by the token's SHA-256 for at most
//     a minute and never past its exp);
//  3. the pod's name and UID from the review's pod extras only, namespace and
//     ServiceAccount from the username (IdentityOf);
//  4. the stored pod (a GET, cached by UID for a few seconds): same UID and
//     ServiceAccount, not terminating, the namespace still labelled, admitted
//     by the webhook, the container named rewritten in resolver mode
//     (Authorize); optionally the caller at the pod's IP;
//  5. the placeholders: each variable with that very value in that
//     container's env in the stored spec (MatchPlaceholders);
//  6. the values: the AzureKeyVaultSecrets of the pod's namespace (from an
//     informer), the tenancy guard, the shared single-flight Key Vault cache,
//     output.Query.
//
// A per-namespace token bucket answers 429 with Retry-After. Denials are
// logged with names and reasons, never a value. The resolver also keeps the
// CA bundle that verifies it in a ConfigMap of every labelled namespace
// (Publisher), which the webhook projects into rewritten containers.
package resolver
