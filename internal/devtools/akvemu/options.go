package akvemu

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"
)

// Defaults of Options.
const (
	// DefaultListen is the listener address when Options.Listen is empty:
	// a free loopback port, which suits tests. The command defaults to 127.0.0.1:8443.
	DefaultListen = "127.0.0.1:0"
	// DefaultPageSize is Key Vault's page size when a list has no maxresults.
	DefaultPageSize = 25
	// MaxPageSize is the largest maxresults Key Vault accepts.
	MaxPageSize = 25
	// DefaultTokenLifetime is how long issued access tokens stay valid.
	DefaultTokenLifetime = time.Hour
)

// Options configure a Server. The zero value is valid: an empty emulator with
// a fresh CA on a free loopback port.
type Options struct {
	// Listen is the TCP address of the HTTPS listener (default DefaultListen).
	Listen string
	// Seed is the initial data: tenants, apps, identities and vaults. Nil starts empty.
	Seed *Seed
	// ExtraNames are DNS names or IP addresses added to the serving certificate;
	// HTTPClient also redirects dials for these names to the emulator.
	ExtraNames []string
	// CACertFile and CAKeyFile name a PEM CA that signs the serving certificate,
	// so clients can keep trusting one CA across restarts. Empty: a fresh CA.
	CACertFile, CAKeyFile string
	// TLSCertFile and TLSKeyFile name a PEM serving certificate (and chain) used
	// as is; the CA reported by CACertPEM is then the file's last certificate.
	TLSCertFile, TLSKeyFile string
	// CAOut, when set, is where Run writes the CA certificate PEM.
	CAOut string
	// AutoCreateVaults creates an unknown vault on its first request, in
	// DefaultTenantID and the cloud of the requested host. Off by default, so a
	// typo in a vault name fails like it would in Azure.
	AutoCreateVaults bool
	// DefaultTenantID is the tenant of auto-created vaults.
	DefaultTenantID string
	// PageSize is the page size of lists without maxresults (default 25, at most 25).
	PageSize int
	// TokenLifetime is the lifetime of issued access tokens (default one hour).
	TokenLifetime time.Duration
	// Logger receives structured logs; nil discards them. Values and tokens are never logged.
	Logger *slog.Logger
	// Now is the clock for timestamps and token validity; nil means time.Now.
	Now func() time.Time
}

// Validate reports the first problem with the options, if any.
func (o *Options) Validate() error {
	if o.Listen != "" {
		if _, _, err := net.SplitHostPort(o.Listen); err != nil {
			return fmt.Errorf("listen address %q: %w", o.Listen, err)
		}
	}
	if (o.CACertFile == "") != (o.CAKeyFile == "") {
		return errors.New("CA certificate and CA key must be given together")
	}
	if (o.TLSCertFile == "") != (o.TLSKeyFile == "") {
		return errors.New("TLS certificate and TLS key must be given together")
	}
	if o.TLSCertFile != "" && o.CACertFile != "" {
		return errors.New("give either a serving certificate or a CA to sign one, not both")
	}
	if o.PageSize < 0 || o.PageSize > MaxPageSize {
		return fmt.Errorf("page size %d is outside 0..%d", o.PageSize, MaxPageSize)
	}
	if o.TokenLifetime < 0 {
		return fmt.Errorf("token lifetime %s is negative", o.TokenLifetime)
	}
	if o.AutoCreateVaults && o.DefaultTenantID == "" {
		return errors.New("auto-created vaults need a default tenant ID")
	}
	if o.Seed != nil {
		if err := o.Seed.Validate(); err != nil {
			return fmt.Errorf("seed: %w", err)
		}
	}
	return nil
}

// withDefaults returns a copy with every unset field at its default.
func (o Options) withDefaults() Options {
	if o.Listen == "" {
		o.Listen = DefaultListen
	}
	if o.PageSize == 0 {
		o.PageSize = DefaultPageSize
	}
	if o.TokenLifetime == 0 {
		o.TokenLifetime = DefaultTokenLifetime
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}
