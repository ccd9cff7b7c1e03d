package akvemu

import (
	"context"
	"fmt"
	"io"
)

// Run starts an emulator, writes the CA to opts.CAOut when set, prints how to
// point a client at it, and serves until ctx is done.
func Run(ctx context.Context, opts Options, out io.Writer) error {
	s, err := New(opts)
	if err != nil {
		return err
	}
	if opts.CAOut != "" {
		if err := writeFileAtomic(opts.CAOut, s.CACertPEM(), 0o644); err != nil {
			_ = s.Close()
			return err
		}
	}
	if err := s.Start(ctx); err != nil {
		_ = s.Close()
		return err
	}
	header := "<identityHeader of the seed>"
	if opts.Seed == nil || opts.Seed.IdentityHeader == "" {
		// Generated for this process only; the user needs it to use the endpoint.
		header = s.IdentityHeader()
	}
	printUsage(out, s, opts.CAOut, header)
	<-ctx.Done()
	return s.Close()
}

// printUsage tells a person how to reach the emulator.
func printUsage(out io.Writer, s *Server, caOut, identityHeader string) {
	ca := caOut
	if ca == "" {
		ca = s.URL() + "/_emulator/ca.pem"
	}
	fmt.Fprintf(out, `Azure Key Vault emulator listening on %s

Clients keep real URLs (https://<vault>.vault.azure.net) and need two things:
  1. trust the emulator CA: %s
  2. send vault and login hosts (*.vault.azure.net, *.vault.azure.cn,
     *.vault.usgovcloudapi.net, login.microsoftonline.com, ...) to %s,
     e.g. with an azcore transport whose dialer redirects them (see
     akvemu.(*Server).HTTPClient), or with /etc/hosts entries when listening on :443.
Managed identity (App Service style):
  IDENTITY_ENDPOINT=%s  IDENTITY_HEADER=%s
Admin: %s/_emulator/counters  %s/_emulator/faults
`, s.Addr(), ca, s.Addr(), s.ManagedIdentityEndpoint(), identityHeader, s.URL(), s.URL())
}
