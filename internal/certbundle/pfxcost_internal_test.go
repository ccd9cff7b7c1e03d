package certbundle

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/latchkey-dev/latchkey/internal/devtools/certtest"
)

func TestPFXCostCountsEveryVisibleDerivation(t *testing.T) {
	chain := certtest.Chain(t, certtest.ECDSA, 1)
	certs := certtest.Certs(chain...)
	tests := []struct {
		name    string
		encoder *pkcs12.Encoder
		want    int64
	}{
		// MAC, certificate safe, shrouded key bag.
		{"modern", pkcs12.Modern2023.WithIterations(1000), 3000},
		{"legacy des", pkcs12.LegacyDES.WithIterations(1000), 3000},
		{"legacy rc2", pkcs12.LegacyRC2.WithIterations(1000), 3000},
		{"passwordless", pkcs12.Passwordless, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			der, err := tt.encoder.Encode(chain[0].Key, certs[0], certs[1:], "")
			if err != nil {
				t.Fatal(err)
			}
			w := costWalk{}
			if _, ok := w.elements(der, 0, false); !ok {
				t.Fatal("walk did not parse the PFX")
			}
			if w.total != tt.want {
				t.Fatalf("total iterations = %d, want %d", w.total, tt.want)
			}
			if _, err := parsePFX(der); err != nil {
				t.Fatalf("parsePFX: %v", err)
			}
		})
	}
}

func TestPFXCostRefusesHugeIterationCounts(t *testing.T) {
	chain := certtest.Chain(t, certtest.ECDSA, 0)
	der, err := pkcs12.Modern2023.WithIterations(65536).Encode(chain[0].Key, chain[0].Cert, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	// INTEGER 65536 -> INTEGER 8388607, same length: about 25 million
	// PBKDF2 rounds in all, which go-pkcs12 would run.
	patched := bytes.ReplaceAll(der, []byte{0x02, 0x03, 0x01, 0x00, 0x00}, []byte{0x02, 0x03, 0x7f, 0xff, 0xff})
	if bytes.Equal(patched, der) {
		t.Fatal("iteration count not found in the encoding")
	}
	start := time.Now()
	_, err = Parse(ContentTypePKCS12, certtest.Base64(patched))
	if !errors.Is(err, ErrMalformed) {
		t.Fatalf("error = %v, want ErrMalformed", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("refusing took %v; the check must run before key derivation", d)
	}
}

func TestPFXCostReadsBER(t *testing.T) {
	// SEQUENCE (indefinite) { OCTET STRING (constructed, indefinite) {
	//   OCTET STRING { SEQUENCE { OCTET STRING salt, INTEGER 0x7fffff } } } }
	inner := []byte{0x30, 0x08, 0x04, 0x01, 0xaa, 0x02, 0x03, 0x7f, 0xff, 0xff}
	ber := append([]byte{0x30, 0x80, 0x24, 0x80, 0x04, byte(len(inner))}, inner...)
	ber = append(ber, 0x00, 0x00, 0x00, 0x00)
	w := costWalk{}
	if _, ok := w.elements(ber, 0, false); !ok {
		t.Fatal("walk did not parse BER")
	}
	if w.total != 0x7fffff {
		t.Fatalf("total = %d, want %d", w.total, 0x7fffff)
	}
	if err := checkPFXCost(ber); !errors.Is(err, ErrMalformed) {
		t.Fatalf("error = %v, want ErrMalformed", err)
	}
}
