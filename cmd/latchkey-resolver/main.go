// Command latchkey-resolver answers injected pods for the values of the
// placeholders in their own stored spec. See internal/resolver.
package main

import (
	_ "golang.org/x/crypto/x509roots/fallback" // CA roots for images without a CA bundle

	"github.com/latchkey-dev/latchkey/internal/resolver"
	"github.com/latchkey-dev/latchkey/internal/runner"
)

func main() { runner.Main("latchkey-resolver", resolver.DefaultConfig(), resolver.Setup) }
