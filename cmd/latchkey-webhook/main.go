// Command latchkey-webhook is the env injector's mutating admission webhook.
// See internal/webhook. It holds no Key Vault credential.
package main

import (
	_ "golang.org/x/crypto/x509roots/fallback" // CA roots for registries, in images without a CA bundle

	"github.com/latchkey-dev/latchkey/internal/runner"
	"github.com/latchkey-dev/latchkey/internal/webhook"
)

func main() { runner.Main("latchkey-webhook", webhook.DefaultConfig(), webhook.Setup) }
