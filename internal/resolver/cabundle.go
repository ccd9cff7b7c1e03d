package resolver

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// CABundle is the file of the CAs that verify the resolver: the current
// and, during a rotation, the next. It is re-read when it changes (a
// mounted Secret or ConfigMap is swapped atomically by the kubelet); a file
// that does not parse keeps the last good bundle in force.
type CABundle struct {
	path string
	// OnChange is called after a new bundle takes effect.
	OnChange func()
	// OnError reports a file that could not be read or parsed.
	OnError func(error)

	mu      sync.Mutex
	current []byte
}

// LoadCABundle reads the bundle at path; it must hold at least one CA
// certificate.
func LoadCABundle(path string) (*CABundle, error) {
	b := &CABundle{path: path}
	if _, err := b.reload(); err != nil {
		return nil, err
	}
	return b, nil
}

// PEM is the bundle in force.
func (b *CABundle) PEM() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.current
}

// Watch re-reads the file every interval until ctx ends.
func (b *CABundle) Watch(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			changed, err := b.reload()
			switch {
			case err != nil && b.OnError != nil:
				b.OnError(err)
			case changed && b.OnChange != nil:
				b.OnChange()
			}
		}
	}
}

func (b *CABundle) reload() (changed bool, err error) {
	raw, err := os.ReadFile(b.path)
	if err != nil {
		return false, fmt.Errorf("CA bundle: %w", err)
	}
	if err := ValidateCABundle(raw); err != nil {
		return false, fmt.Errorf("CA bundle %s: %w", b.path, err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if bytes.Equal(raw, b.current) {
		return false, nil
	}
	b.current = raw
	return true, nil
}

// ValidateCABundle checks that pem holds only certificates, at least one,
// each a CA.
func ValidateCABundle(data []byte) error {
	n := 0
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			if len(bytes.TrimSpace(rest)) > 0 {
				return errors.New("data that is not PEM")
			}
			break
		}
		if block.Type != "CERTIFICATE" {
			return fmt.Errorf("a PEM block of type %q; want only CERTIFICATE", block.Type)
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return fmt.Errorf("certificate %d: %w", n+1, err)
		}
		if !cert.IsCA {
			return fmt.Errorf("certificate %d (%s) is not a CA", n+1, cert.Subject)
		}
		n++
	}
	if n == 0 {
		return errors.New("no certificate")
	}
	return nil
}
