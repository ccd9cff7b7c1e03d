package leakcheck

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"runtime"
	"strings"
	"testing"
	"time"

	"software.sslmate.com/src/go-pkcs12"
)

// Plant is a made-up secret and a text that leaks it in one form, to prove
// that a check can fail: give the check Secret as one of its values, put
// Text where it looks, and expect it to report a leak there.
type Plant struct {
	// Form says how Text shows Secret.
	Form string
	// Secret is the value, Text the leak.
	Secret, Text string
}

// Plants are one planted leak for each form that a check for raw values
// alone would miss (and a raw one), each of a fresh secret, so that a check
// given one plant's secret finds only that plant's text. The texts are
// written the way latchkey writes them: slog's JSON and text handlers,
// encoding/json, fmt.
func Plants(t testing.TB) []Plant {
	t.Helper()
	token := func() string { return strings.ToLower(rand.Text()[:10]) }
	var plants []Plant
	plant := func(form, secret, text string) {
		plants = append(plants, Plant{Form: form, Secret: secret, Text: text})
	}

	// Every value of the documents holds what JSON and %q escape, so no
	// value is in the texts raw.
	doc := `{"user": "canary\t` + token() + `", "password": "<canary & \"` + token() + `\">\n"}`
	plant("a JSON-escaped multi-key JSON document (slog JSON)", doc, slogLine(t, jsonHandler, slog.String("document", doc)))
	plant("a JSON-escaped multi-key JSON document (encoding/json)", doc, jsonLine(t, map[string]string{"message": "bad document: " + doc}))
	password := `canary "` + token() + `" <&>`
	plant("a value of a multi-key YAML document, JSON-escaped", "user: canary-"+token()+"\npassword: '"+password+"'\n",
		jsonLine(t, map[string]string{"message": "password " + password}))
	password = `canary-"pass\` + token()
	plant("the password of user:pass, Go-quoted", "canary-user:"+password, fmt.Sprintf("basic auth: password %q", password))

	keyPEM, _ := newKey(t)
	lines := strings.Split(strings.TrimSpace(string(keyPEM)), "\n")
	plant("one line of a PEM private key", string(keyPEM), "key material: "+lines[len(lines)/2])
	plant("a JSON-escaped PEM private key", string(keyPEM), slogLine(t, jsonHandler, slog.String("key", string(keyPEM))))
	pfxKeyPEM, pfx := newKey(t)
	block, _ := pem.Decode(pfxKeyPEM)
	plant("the private key of a PFX, as base64 DER", base64.StdEncoding.EncodeToString(pfx),
		slogLine(t, jsonHandler, slog.Any("key", block.Bytes)))
	plant("one line of the PEM private key of a PFX", base64.StdEncoding.EncodeToString(pfx),
		"-- "+strings.Split(string(pfxKeyPEM), "\n")[1]+" --")

	bytesValue := "canary-bytes-" + token()
	plant("a value as base64 ([]byte in slog JSON)", bytesValue, slogLine(t, jsonHandler, slog.Any("value", []byte(bytesValue))))
	embedded := "canary-embedded-" + token()
	plant("a value as unpadded base64url, inside a longer byte slice", embedded,
		"blob="+base64.RawURLEncoding.EncodeToString([]byte("ab"+embedded+"c")))
	quoted := "canary \"quoted\"\t\\ " + token()
	plant("a Go-quoted value (slog text)", quoted, slogLine(t, textHandler, slog.String("value", quoted)))
	plant("a Go-quoted value in a JSON-escaped error", quoted,
		slogLine(t, jsonHandler, slog.Any("error", fmt.Errorf("parse %q: %w", quoted, errors.ErrUnsupported))))
	hexValue := "canary-hex-" + token()
	plant("a value as hex (%x)", hexValue, fmt.Sprintf("digest mismatch: %x", hexValue))
	raw := "canary-raw-" + token()
	plant("a raw value", raw, "value="+raw)
	return plants
}

// PlantsOf are leaks of value, a check's own value: written by slog's JSON
// handler (JSON-escaped, and as bytes: base64), by its text handler
// (quoted), and, when value holds them, a line and the DER of each private
// key (PKCS #8, base64) and each value of its document, JSON-escaped. A check
// that catches them all looks for value, and what is inside it, in the
// forms that matter.
func PlantsOf(t testing.TB, value string) []Plant {
	t.Helper()
	plants := []Plant{
		{"JSON-escaped (slog JSON)", value, slogLine(t, jsonHandler, slog.String("value", value))},
		{"Go-quoted (slog text)", value, slogLine(t, textHandler, slog.String("value", value))},
		{"base64 ([]byte in slog JSON)", value, slogLine(t, jsonHandler, slog.Any("value", []byte(value)))},
	}
	seen := map[string]bool{}
	for _, p := range parts(part{text: value}, 0) {
		if p.kind == binary && strings.HasPrefix(p.name, "PKCS #8 DER") && !seen[p.text] {
			seen[p.text] = true
			der := []byte(p.text)
			lines := strings.Split(string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})), "\n")
			plants = append(plants,
				Plant{"a line of the PEM of " + p.name, value, "key: " + lines[len(lines)/2]},
				Plant{"base64 of " + p.name + " (slog JSON)", value, slogLine(t, jsonHandler, slog.Any("key", der))})
		}
	}
	for i, v := range documentValues(strings.TrimSpace(value)) {
		if len(v) >= MinLength {
			plants = append(plants, Plant{fmt.Sprintf("document value #%d, JSON-escaped (encoding/json)", i+1), value, jsonLine(t, map[string]string{"v": v})})
		}
	}
	return plants
}

func jsonHandler(w io.Writer) slog.Handler { return slog.NewJSONHandler(w, nil) }
func textHandler(w io.Writer) slog.Handler { return slog.NewTextHandler(w, nil) }

// slogLine is one log line of a handler holding attr.
func slogLine(t testing.TB, handler func(io.Writer) slog.Handler, attr slog.Attr) string {
	t.Helper()
	var b bytes.Buffer
	slog.New(handler(&b)).LogAttrs(context.Background(), slog.LevelInfo, "planted", attr)
	return b.String()
}

func jsonLine(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// newKey is a fresh P-256 private key (PKCS #8 PEM) and a PFX of it and a
// self-signed certificate, without a password, as Key Vault exports it.
func newKey(t testing.TB) (keyPEM, pfx []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "canary.leakcheck.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	certDER, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(certDER)
	if err != nil {
		t.Fatal(err)
	}
	if pfx, err = pkcs12.Modern.Encode(key, cert, nil, ""); err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), pfx
}

// Caught runs check against a stand-in for t and reports whether it
// failed: how a test shows that a check reports a planted leak. What check
// reports goes to t's log, not its result.
func Caught(t testing.TB, check func(testing.TB)) bool {
	t.Helper()
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		check(r)
	}()
	<-done
	return r.failed
}

// recorder is a testing.TB that records failures instead of failing.
type recorder struct {
	testing.TB
	failed bool
}

func (r *recorder) Fail()                     { r.failed = true }
func (r *recorder) Failed() bool              { return r.failed }
func (r *recorder) FailNow()                  { r.failed = true; runtime.Goexit() }
func (r *recorder) Error(args ...any)         { r.Log(args...); r.Fail() }
func (r *recorder) Errorf(f string, a ...any) { r.Logf(f, a...); r.Fail() }
func (r *recorder) Fatal(args ...any)         { r.Log(args...); r.FailNow() }
func (r *recorder) Fatalf(f string, a ...any) { r.Logf(f, a...); r.FailNow() }
