package keyvault

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// ProcessOptions configure OpenForProcess. The zero value is production's.
type ProcessOptions struct {
	// Transport carries every Key Vault and Entra ID request; nil means the
	// SDK's default HTTP client (tests pass the emulator's).
	Transport policy.Transporter
	// Metrics receives the reader's and the cache's figures; nil discards.
	Metrics Metrics
	// Logger gets the reader's throttling and client creation; nil discards.
	Logger *slog.Logger
	// Now is the cache's clock; nil means time.Now.
	Now func() time.Time
}

// OpenForProcess is the Key Vault access one process shares between all its
// work (the controller's objects, the resolver's pods): the credential auth
// names, one Reader, and the single-flight Cache over it. It also returns
// the credential's identity, which the process logs at start-up.
func OpenForProcess(auth AuthConfig, o ProcessOptions) (*Cache, string, error) {
	cred, err := NewCredential(auth, o.Transport)
	if err != nil {
		return nil, "", fmt.Errorf("credential for Key Vault: %w", err)
	}
	reader := NewReader(cred, ReaderOptions{Transport: o.Transport, Metrics: o.Metrics, Logger: o.Logger})
	return NewCache(reader, CacheOptions{Metrics: o.Metrics, Now: o.Now}), cred.Identity(), nil
}
