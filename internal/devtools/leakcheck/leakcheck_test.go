package leakcheck_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"strings"
	"testing"
	"time"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/latchkey-dev/latchkey/internal/devtools/leakcheck"
)

// TestPlantsAreCaught: each planted leak is found by a set holding its
// secret, and by no set holding another plant's; none but the raw one is
// found by looking for the value itself, as the checks before this kit did.
func TestPlantsAreCaught(t *testing.T) {
	plants := leakcheck.Plants(t)
	for i, p := range plants {
		set := leakcheck.NewSet(p.Secret)
		if leaks := set.Find("haystack", p.Text); len(leaks) != 1 {
			t.Errorf("%s: %d leaks, want 1", p.Form, len(leaks))
		}
		if raw := strings.Contains(p.Text, p.Secret); raw != (p.Form == "a raw value") {
			t.Errorf("%s: the raw value is in the text: %v", p.Form, raw)
		}
		for j, other := range plants {
			if i != j && other.Secret != p.Secret {
				if leaks := set.Find("other", other.Text); len(leaks) > 0 {
					t.Errorf("the secret of %q is found in the text of %q: %v", p.Form, other.Form, leaks)
				}
			}
		}
	}
}

// TestPlantsOf: the leaks of a check's own value, a PEM bundle in a JSON
// document here, are each found, and none holds the value raw.
func TestPlantsOf(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8 := pemOf("PRIVATE KEY", must(x509.MarshalPKCS8PrivateKey(key)))
	sec1 := pemOf("EC PRIVATE KEY", must(x509.MarshalECPrivateKey(key)))
	value := `{"tls.key": ` + jsonString(sec1, false) + `, "pin": "<1234-5678>"}`
	plants := leakcheck.PlantsOf(t, value)
	forms := map[string]bool{}
	for _, p := range plants {
		forms[p.Form] = true
		if p.Secret != value || strings.Contains(p.Text, value) {
			t.Errorf("%s: the secret is not the value, or the text holds it raw", p.Form)
		}
		if len(leakcheck.NewSet(value).Find("text", p.Text)) != 1 {
			t.Errorf("%s: not found", p.Form)
		}
	}
	if !forms["a line of the PEM of PKCS #8 DER of private key #1 of document value #2"] || len(plants) != 7 {
		t.Errorf("plants %v, want 3 of the value, 2 of its key, 2 of its document values", forms)
	}
	for _, p := range plants {
		if strings.HasPrefix(p.Form, "a line of") && !strings.Contains(pkcs8, strings.TrimPrefix(p.Text, "key: ")) {
			t.Errorf("%s: not a line of the key's PKCS #8 PEM", p.Form)
		}
	}
}

func TestForms(t *testing.T) {
	const value = `s3cr3t <value> & "quoted"` + "\n\tsecond line-value"
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pkcs1 := pemOf("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey))
	pkcs8RSA := pemOf("PRIVATE KEY", must(x509.MarshalPKCS8PrivateKey(rsaKey)))
	sec1 := pemOf("EC PRIVATE KEY", must(x509.MarshalECPrivateKey(ecKey)))
	pkcs8EC := pemOf("PRIVATE KEY", must(x509.MarshalPKCS8PrivateKey(ecKey)))
	pkcs8Ed := pemOf("PRIVATE KEY", must(x509.MarshalPKCS8PrivateKey(edKey)))
	pfx := pfxOf(t, rsaKey)
	ecD, err := ecKey.Bytes()
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name, value, haystack string
	}{
		{"raw", value, "x" + value + "x"},
		{"encoding/json", value, jsonString(value, true)},
		{"slog JSON", value, slogLine(value)},
		{"%q", value, fmt.Sprintf("%q", value)},
		{"%+q", value + "é", fmt.Sprintf("%+q", value+"é")},
		{"%q in a JSON log", value, jsonString(fmt.Sprintf("error: %q", value), true)},
		{"a JSON document in a JSON field", value, jsonString(jsonString(value, true), false)},
		{"base64", value, base64.StdEncoding.EncodeToString([]byte(value))},
		{"base64url unpadded", value, base64.RawURLEncoding.EncodeToString([]byte(value))},
		{"base64 at offset 1", value, base64.StdEncoding.EncodeToString([]byte("a" + value + "z"))},
		{"base64 at offset 2", value, base64.URLEncoding.EncodeToString([]byte("ab" + value))},
		{"base64 of a []byte in JSON", value, jsonOf(map[string][]byte{"v": []byte("prefix" + value)})},
		{"hex", value, fmt.Sprintf("%x", "pre"+value)},
		{"upper-case hex", value, fmt.Sprintf("%X", value)},
		{"%v of bytes", value, fmt.Sprintf("%v", []byte("a"+value))},
		{"one line", value, "second line-value"},
		{"the trimmed value", "  padded-value-123\n", jsonString("padded-value-123", true)},
		{"a JSON document's value", `{"a": "json-one-value", "b": {"c": ["nested-value-1"]}}`, "nested-value-1"},
		{"a JSON document's number", `{"pin": 12345678901}`, "pin 12345678901"},
		{"a YAML document's value", "a: yaml-one-value\nb: |\n  block <value>\n", jsonString("block <value>\n", true)},
		{"the password of user:pass", "someone:p4ssw0rd-value", "pw=p4ssw0rd-value"},
		{"the password of base64 user:pass", base64.StdEncoding.EncodeToString([]byte("someone:p4ssw0rd-value")), "pw=p4ssw0rd-value"},
		{"what a base64 value decodes to", base64.StdEncoding.EncodeToString([]byte("decoded-s3cr3t")), `"decoded-s3cr3t"`},
		{"a PEM key line", pkcs1, lineOf(pkcs1, 5)},
		{"a PEM key, JSON-escaped", pkcs1, jsonString(pkcs1, true)},
		{"PKCS #1 written as PKCS #8", pkcs1, lineOf(pkcs8RSA, 7)},
		{"PKCS #8 written as PKCS #1", pkcs8RSA, lineOf(pkcs1, 7)},
		{"PKCS #8 DER base64 on one line", pkcs1, base64.StdEncoding.EncodeToString(must(x509.MarshalPKCS8PrivateKey(rsaKey)))},
		{"the RSA private exponent", pkcs1, rsaKey.D.String()},
		{"SEC 1 written as PKCS #8", sec1, lineOf(pkcs8EC, 2)},
		{"the EC private scalar as hex", sec1, fmt.Sprintf("%x", ecD)},
		{"an Ed25519 seed", pkcs8Ed, base64.StdEncoding.EncodeToString(edKey.Seed())},
		{"the key of a PFX", base64.StdEncoding.EncodeToString(pfx), lineOf(pkcs1, 3)},
		{"the certificate of a PFX, as PEM (tls.crt)", base64.StdEncoding.EncodeToString(pfx), lineOf(certPEM(t, pfx), 4)},
		{"the key of a PEM bundle in a JSON document", `{"tls.key": ` + jsonString(pkcs1, false) + `}`, lineOf(pkcs8RSA, 4)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			leaks := leakcheck.NewSet(tt.value).Find("haystack", tt.haystack)
			if len(leaks) != 1 {
				t.Fatalf("%d leaks, want 1", len(leaks))
			}
			t.Log(leaks[0])
		})
	}
}

// TestNoFalsePositives: names, short values and what a value is not.
func TestNoFalsePositives(t *testing.T) {
	set := leakcheck.NewSet(`{"api-key": "json-one-value", "region": "westeurope"}`, "short", "alice:pw", "  \n")
	if n := set.Len(); n != 2 {
		t.Errorf("Len = %d, want 2 (values shorter than MinLength are not looked for)", n)
	}
	for _, clean := range []string{
		`{"msg":"synced","keys":["api-key","region"],"akvs":"default/settings"}`,
		`variable X: AzureKeyVaultSecret settings has no key "other" (keys: api-key, region)`,
		"alice short pw",
	} {
		if leaks := set.Find("clean", clean); len(leaks) > 0 {
			t.Errorf("%q: %v", clean, leaks)
		}
	}
}

// TestOfRefusesShortValues: a test naming a value too short to look for
// is told, not left with a check that cannot fail.
func TestOfRefusesShortValues(t *testing.T) {
	if !leakcheck.Caught(t, func(tb testing.TB) { leakcheck.Of(tb, "long-enough-value", "short") }) {
		t.Error("a short value was accepted")
	}
	if leakcheck.Caught(t, func(tb testing.TB) { leakcheck.Of(tb, "long-enough-value") }) {
		t.Error("a long value was refused")
	}
}

// TestLeakNeverHoldsTheValue: a report says where and how, not what.
func TestLeakNeverHoldsTheValue(t *testing.T) {
	const value = "never-print-me-Zq9"
	set := &leakcheck.Set{}
	set.Add("db-password", value)
	leaks := set.Find("the log", "a\n"+jsonString(value, true)+"\n")
	if len(leaks) != 1 {
		t.Fatalf("leaks: %v", leaks)
	}
	s := leaks[0].String()
	if strings.Contains(s, value) || strings.Contains(s, "print-me") {
		t.Errorf("the report holds the value: %s", s)
	}
	for _, want := range []string{"db-password", "the log", "byte 3"} {
		if !strings.Contains(s, want) {
			t.Errorf("the report lacks %q: %s", want, s)
		}
	}
}

// TestWindow: with a window, a piece of a value is a leak too, as an error
// quoting the token a parser stopped at.
func TestWindow(t *testing.T) {
	const value = `{"k": "twelve-bytes-of-this-value"}`
	haystack := `invalid character 'x' after "bytes-of-thi"`
	if leaks := leakcheck.NewSet(value).Find("error", haystack); len(leaks) != 0 {
		t.Errorf("without a window: %v", leaks)
	}
	set := &leakcheck.Set{Window: 12}
	set.AddValues(value)
	if leaks := set.Find("error", haystack); len(leaks) != 1 {
		t.Errorf("with a window of 12: %v", leaks)
	}
}

// TestCheckError: an error quoting a piece of its input, or a short
// marker, fails; one that names no part of it passes.
func TestCheckError(t *testing.T) {
	const input = `{"key": "s3cr3t-document-value"`
	for _, tt := range []struct {
		msg, secret string
		caught      bool
	}{
		{`unexpected end of JSON input after "3t-document-va"`, input, true},
		{"bad document: " + jsonString(input, true), input, true},
		{"invalid character in s3cr3t", "s3cr3t", true},
		{"not a JSON object", input, false},
		{"not a JSON object", "s3cr3t", false},
	} {
		err := errors.New(tt.msg)
		if got := leakcheck.Caught(t, func(tb testing.TB) { leakcheck.CheckError(tb, err, tt.secret) }); got != tt.caught {
			t.Errorf("%q: caught %v, want %v", tt.msg, got, tt.caught)
		}
	}
}

func TestFindAll(t *testing.T) {
	set := &leakcheck.Set{}
	set.Add("b", "value-b-123456")
	set.Add("a", "value-a-123456")
	leaks := set.FindAll(map[string]string{"log 2": "value-a-123456", "log 1": "value-b-123456 value-a-123456", "log 3": "clean"})
	var got []string
	for _, l := range leaks {
		got = append(got, l.Where+":"+l.Secret)
	}
	if want := "log 1:a log 1:b log 2:a"; strings.Join(got, " ") != want {
		t.Errorf("leaks %v, want %s", got, want)
	}
}

func TestCaught(t *testing.T) {
	set := leakcheck.NewSet("caught-value-1")
	if !leakcheck.Caught(t, func(tb testing.TB) { set.Check(tb, "log", "caught-value-1") }) {
		t.Error("Check with a leak: not caught")
	}
	if leakcheck.Caught(t, func(tb testing.TB) { set.Check(tb, "log", "clean") }) {
		t.Error("Check without a leak: caught")
	}
	after := false
	if !leakcheck.Caught(t, func(tb testing.TB) { tb.Fatal("stop"); after = true }) || after {
		t.Errorf("Fatal: not caught, or the check went on (%v)", after)
	}
}

func jsonString(s string, html bool) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(html)
	if err := enc.Encode(s); err != nil {
		panic(err)
	}
	return strings.TrimSpace(b.String())
}

func jsonOf(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func slogLine(value string) string {
	var b bytes.Buffer
	slog.New(slog.NewJSONHandler(&b, nil)).Info("m", "value", value)
	return b.String()
}

func pemOf(typ string, der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
}

// lineOf is line n (from 1, the BEGIN line being 0) of a PEM text.
func lineOf(p string, n int) string { return strings.Split(p, "\n")[n] }

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func pfxOf(t *testing.T, key *rsa.PrivateKey) []byte {
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "pfx.leakcheck.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	pfx, err := pkcs12.Modern.Encode(key, must(x509.ParseCertificate(der)), nil, "")
	if err != nil {
		t.Fatal(err)
	}
	return pfx
}

// BenchmarkFind: a suite's sweep, many values (keys among them) in a
// large log.
func BenchmarkFind(b *testing.B) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	set := leakcheck.NewSet(pemOf("PRIVATE KEY", must(x509.MarshalPKCS8PrivateKey(key))))
	for i := range 100 {
		set.Add("", fmt.Sprintf(`{"k%d": "value-%d-<s3cr3t>"}`, i, i))
	}
	var log strings.Builder
	for log.Len() < 4<<20 {
		log.WriteString(`{"time":"2025-01-01T00:00:00Z","level":"DEBUG","msg":"synced","akvs":"ns/name","keys":["a","b"]}` + "\n")
	}
	haystack := log.String()
	b.SetBytes(int64(len(haystack)))
	for b.Loop() {
		if leaks := set.Find("log", haystack); len(leaks) > 0 {
			b.Fatal(leaks)
		}
	}
}

// BenchmarkAdd: deriving the forms of a PEM bundle's key, with and without
// a window.
func BenchmarkAdd(b *testing.B) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	value := pemOf("PRIVATE KEY", must(x509.MarshalPKCS8PrivateKey(key)))
	for _, window := range []int{0, 12} {
		b.Run(fmt.Sprintf("window=%d", window), func(b *testing.B) {
			for b.Loop() {
				set := &leakcheck.Set{Window: window}
				set.Add("key", value)
			}
		})
	}
}

// certPEM is the leaf certificate of a PFX as PEM.
func certPEM(t *testing.T, pfx []byte) string {
	_, leaf, _, err := pkcs12.DecodeChain(pfx, "")
	if err != nil {
		t.Fatal(err)
	}
	return pemOf("CERTIFICATE", leaf.Raw)
}
