package akvemu

import (
	"fmt"
	"io"
	"os"
	"time"
)

// Bounds on the emulator's own admin inputs: the seed (and the files it
// names) and the fault configuration. The emulator serves tests and
// benchmarks, but a bound is what keeps a wrong file or a script gone
// astray from exhausting the machine the tests run on; each is far above
// what the repository's seeds and benchmarks use, and each is checked
// before the input is parsed.
const (
	// maxSeedBytes bounds a seed file.
	maxSeedBytes = 16 << 20
	// maxSeedFileBytes bounds each file a seed names (PFX, PEM, JWKS).
	maxSeedFileBytes = 1 << 20
	// maxSeedObjects bounds the secret versions, certificates and keys of a
	// seed, all vaults together.
	maxSeedObjects = 100_000
	// maxSeedGenerated bounds the keys and certificates a seed generates: an
	// RSA-4096 key takes up to seconds.
	maxSeedGenerated = 256
	// maxSeedValueBytes bounds a seeded secret value, as the vault's own
	// request bodies are.
	maxSeedValueBytes = maxBodyBytes
	// maxAdminBodyBytes bounds the body of an admin request.
	maxAdminBodyBytes = 1 << 20
	// maxFaultRules bounds the rules of one fault configuration.
	maxFaultRules = 1000
	// maxFaultVaults bounds the vaults with a fault configuration of their
	// own.
	maxFaultVaults = 1000
	// maxFaultLatency bounds the latency a request gets from faults (a
	// request meant to hang longer should be dropped).
	maxFaultLatency = 10 * time.Minute
	// maxThrottleRate and maxThrottleBurst bound a throttle; minThrottleRate
	// keeps the wait it computes finite.
	maxThrottleRate  = 1e6
	minThrottleRate  = 1e-3
	maxThrottleBurst = 1_000_000
)

// readBounded reads the file at path, refusing one larger than limit
// before reading it whole.
func readBounded(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path) // #nosec G304 -- the admin names the file
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	return b, nil
}
