// Package akvemu emulates Azure Key Vault, and the parts of Microsoft Entra ID
// that Key Vault clients need, well enough for the official Azure SDK for Go
// (azsecrets, azcertificates, azkeys, azidentity) to run against it unchanged.
//
// Machines that build and test latchkey have no Azure, so every test that
// talks to Key Vault talks to this emulator instead, through real vault URLs
// such as https://myvault.vault.azure.net: the emulator serves HTTPS with its
// own CA, and the *http.Client returned by (*Server).HTTPClient trusts that CA
// and redirects the dial of vault, login and extra host names to the
// emulator's listener. The SDK's challenge-resource verification therefore
// stays on, exactly as in production.
//
// What it serves:
//   - vaults, routed by the Host header (<vault>.vault.azure.net, .vault.azure.cn,
//     .vault.usgovcloudapi.net), with secrets, certificates and keys;
//   - a fake Entra ID on login.microsoftonline.com (and the sovereign login hosts):
//     OpenID discovery, instance discovery, user realm, and the v2.0 token endpoint
//     for client secrets, client certificates, workload-identity federation and the
//     password grant;
//   - an App Service style managed-identity endpoint (IDENTITY_ENDPOINT/IDENTITY_HEADER);
//   - admin endpoints under /_emulator/ on localhost for request counters and
//     fault injection.
//
// Choices where Azure gives no answer to copy:
//   - A vault that was not seeded answers 404 {"error":{"code":"VaultNotFound"}}
//     without a challenge (in Azure its DNS name would not resolve), unless
//     Options.AutoCreateVaults is on. A vault is only found under its own cloud's suffix.
//   - Faults are applied after authentication, so the challenge round trip a
//     client makes first never uses up a counted fault.
//   - A token signed by a key the emulator does not know (an earlier emulator's)
//     is answered with a claims challenge, which makes the SDK fetch a new
//     token instead of replaying a cached one until it expires.
//   - The managed-identity endpoint is HTTPS like everything else: azidentity
//     accepts an https IDENTITY_ENDPOINT and sends it through the caller's
//     transport, so (*Server).ManagedIdentityEndpoint works with HTTPClient.
//
// State lives in memory and is safe for concurrent use. See Seed for the data
// model and cmd/akv-emulator for the stand-alone command.
package akvemu
