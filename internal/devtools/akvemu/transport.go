package akvemu

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// newEmulatorClient builds the HTTP client that reaches the emulator through
// real Azure host names: it trusts only the emulator's CA and dials the
// emulator for every vault and login host and the extra names. Other hosts
// are dialled as usual, so one client can also reach other local test servers.
func newEmulatorClient(caPEM []byte, dialAddr string, extra []string) *http.Client {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	names := append([]string(nil), extra...)
	tr := &http.Transport{
		Proxy: nil, // never send emulator traffic to a proxy
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if redirectedHost(addr, names) {
				addr = dialAddr
			}
			return dialer.DialContext(ctx, network, addr)
		},
		TLSClientConfig:       &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	return &http.Client{Transport: tr}
}

// HTTPClient returns the client to give the Azure SDK as its Transport (on
// credentials and Key Vault clients alike): it trusts the emulator's CA and
// dials the emulator for https://<vault>.vault.azure.net (and the sovereign
// suffixes), the login hosts and the extra names. The same client is
// returned every time, so connections are reused.
func (s *Server) HTTPClient() *http.Client { return s.client }

// ClientOptions returns SDK client options for tests: the emulator transport
// and short retry delays (10 ms, at most 3 retries). MaxRetryDelay stays long
// enough (5 s) that a Retry-After of a few seconds is still honoured rather
// than turned into an immediate failure. Set Cloud for sovereign-cloud vaults.
func (s *Server) ClientOptions() azcore.ClientOptions {
	return azcore.ClientOptions{
		Transport: s.client,
		Retry: policy.RetryOptions{
			MaxRetries:    3,
			RetryDelay:    10 * time.Millisecond,
			MaxRetryDelay: 5 * time.Second,
		},
	}
}
