// Command latchkey-controller syncs AzureKeyVaultSecrets into Secrets and
// ConfigMaps. See internal/controller.
package main

import (
	_ "golang.org/x/crypto/x509roots/fallback" // CA roots for images without a CA bundle

	"github.com/latchkey-dev/latchkey/internal/controller"
	"github.com/latchkey-dev/latchkey/internal/runner"
)

func main() { runner.Main("latchkey-controller", controller.DefaultConfig(), controller.Setup) }
