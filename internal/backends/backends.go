// Package backends is the one registration of the backends the server processes (controller, resolver) read through.
package backends

import (
	"github.com/latchkey-dev/latchkey/internal/backend"
	"github.com/latchkey-dev/latchkey/internal/keyvault"
)

// Open opens every backend for one process and routes each Ref to its
// backend by name. Azure Key Vault is the only one: its credential, reader
// and single-flight cache come from auth and o. It also returns the Key
// Vault identity, which the process logs at start-up.
//
// A second backend registers here, in one line beside Azure's, with the
// settings it needs.
func Open(auth keyvault.AuthConfig, o keyvault.ProcessOptions) (backend.Sources, string, error) {
	kv, identity, err := keyvault.OpenForProcess(auth, o)
	if err != nil {
		return nil, "", err
	}
	return backend.Sources{keyvault.Backend: kv}, identity, nil
}
