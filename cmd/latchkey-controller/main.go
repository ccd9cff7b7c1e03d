// Command latchkey-controller syncs AzureKeyVaultSecrets into Secrets and
// ConfigMaps. See internal/controller.
package main

import (
	"os"
	"runtime/debug"

	_ "golang.org/x/crypto/x509roots/fallback" // CA roots for images without a CA bundle

	"github.com/latchkey-dev/latchkey/internal/controller"
	"github.com/latchkey-dev/latchkey/internal/runner"
)

// gcPercent is the controller's GOGC unless the environment sets one. Its
// live heap is mostly its caches: 43–52 MB with 10,000 AzureKeyVaultSecrets
// (BenchmarkMemory's heap profiles), and Go's default of 100 lets garbage
// grow to the live size again before collecting, which with idle heap not
// yet returned put the resident size at three times the live heap. 50 holds
// the garbage to half the live heap, for more frequent collections of a
// heap this small.
const gcPercent = 50

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	runner.Main("latchkey-controller", controller.DefaultConfig(), controller.Setup)
}
