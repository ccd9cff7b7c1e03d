// Package resolver is latchkey's pod-facing value service: it answers one
// pod, over HTTPS, for exactly the `<akvs>@azurekeyvault` placeholders its
// stored spec gives the container asking, and nothing else. It replaces
// akv2k8s's auth service, which handed every injected pod the webhook's own
// Key Vault token.
//
// A request (protocol.Request) carries the pod's projected service-account
// token. The resolver checks, in order, each step a small pure function:
//
//  1. the token, without calling the API server (TokenVerifier): a JWS of
//     an asymmetric algorithm, the install's audience in aud, exp in the
//     future, nbf and iat not (CheckClaims on the unverified claims), the
//     cluster's issuer in iss, then its signature against the issuer's
//     published keys (IssuerKeys: OIDC discovery from the API server, read
//     every minute and, for a key id it does not know, at most every 10
//     seconds), and the same claims again as signed; a forged token costs
//     nothing more. TokenReview (Reviewer) only while the keys have never
//     been read, bounded;
//  2. the pod from the kubernetes.io claim (IdentityOfClaims), which must
//     agree with the subject;
//  3. the namespace's token bucket, a slot among the requests in flight,
//     and the body: at most protocol.MaxRequestBytes and
//     protocol.MaxVariables, within a timeout (protocol.DecodeRequest);
//  4. the stored pod, from PodCache: one watch per labelled namespace,
//     each pod stripped to what these checks read (StripPod: no value is
//     ever in a pod, and no other field is kept), so a request costs no
//     API call; a pod the watch has not brought yet is waited for (up to
//     a second) and then read once. Same UID and ServiceAccount, not
//     terminating, the namespace still labelled (the namespace informer),
//     the webhook's admission mark verifies (internal/injectmark), the
//     container named rewritten in resolver mode (Authorize); optionally
//     the caller at the pod's IP;
//  5. the placeholders: each variable with that very value in that
//     container's env in the stored spec, no more variables than that env
//     holds, in O(variables + env) (MatchPlaceholders);
//  6. the values: the AzureKeyVaultSecrets of the pod's namespace (from an
//     informer), the tenancy guard, the shared single-flight Key Vault cache,
//     output.Query.
//
// A per-namespace token bucket answers 429 with Retry-After. Denials are
// logged with names and reasons, never a value. The resolver also keeps the
// CA bundle that verifies it in a ConfigMap of every labelled namespace
// (Publisher), which the webhook projects into rewritten containers.
package resolver
