package leakcheck

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
	"software.sslmate.com/src/go-pkcs12"
)

// needle is one text that shows a value: one form of one part of it.
type needle struct {
	form string // never holds the value
	text string
	// written: the part as text (raw or escaped), not an encoding of its
	// bytes; a Set's Window applies to these.
	written bool
}

// part is a value, or something inside it that is secret on its own.
type part struct {
	name string // "" for the value itself
	text string
	kind partKind
}

type partKind int

const (
	// whole: the value, or a value inside it: every form, and what is
	// inside it in turn.
	whole partKind = iota
	// line: one line of a multi-line value; its text forms only (its bytes
	// are in the whole value's).
	line
	// derived: a text latchkey may write (a key's PEM, a scalar in
	// decimal): every form and its lines, nothing inside it.
	derived
	// binary: bytes latchkey may print (a key's DER, a scalar): byte forms.
	binary
)

// maxDepth bounds how deep values inside values are looked for (a PEM key
// in a JSON document in base64 is depth 3).
const maxDepth = 4

// needles are the texts that would show value, part by part, form by form,
// without repeats. With window > 0 every run of window bytes of each
// written form is one too.
func needles(value string, window int) []needle {
	seen := map[string]bool{}
	var out []needle
	add := func(n needle) {
		if len(n.text) >= MinLength && !seen[n.text] {
			seen[n.text] = true
			out = append(out, n)
		}
	}
	for _, p := range parts(part{text: value}, 0) {
		for _, f := range forms(p) {
			add(f)
		}
	}
	if window > 0 {
		for _, n := range slices.Clone(out) {
			for i := 0; n.written && i+window <= len(n.text); i++ {
				add(needle{form: fmt.Sprintf("a %d-byte run of %s", window, n.form), text: n.text[i : i+window]})
			}
		}
	}
	return out
}

// parts is p and what is inside it.
func parts(p part, depth int) []part {
	out := []part{p}
	if p.kind == line {
		return out
	}
	if p.kind == binary {
		if depth < maxDepth {
			out = append(out, bundleParts(p, []byte(p.text), depth)...)
		}
		return out
	}
	t := strings.TrimSpace(p.text)
	if strings.Contains(t, "\n") {
		for i, l := range strings.Split(t, "\n") {
			if l = strings.TrimSpace(l); !strings.HasPrefix(l, "-----") {
				out = append(out, part{name: of(fmt.Sprintf("line %d", i+1), p.name), text: l, kind: line})
			}
		}
	}
	if p.kind == derived || depth >= maxDepth {
		return out
	}
	inner := func(name, text string, kind partKind) {
		out = append(out, parts(part{name: of(name, p.name), text: text, kind: kind}, depth+1)...)
	}
	if t != p.text {
		out = append(out, part{name: of("the trimmed value", p.name), text: t, kind: derived})
	}
	for i, v := range documentValues(t) {
		inner(fmt.Sprintf("document value #%d", i+1), v, whole)
	}
	if user, password, ok := strings.Cut(t, ":"); ok && !strings.ContainsAny(t, "\n{[") {
		inner("the user", user, whole)
		inner("the password", password, whole)
	}
	if b, ok := decodeBase64(t); ok {
		kind := whole
		if !utf8.Valid(b) {
			kind = binary
		}
		inner("what it decodes to (base64)", string(b), kind)
	}
	return append(out, bundleParts(p, []byte(t), depth)...)
}

// bundleParts are the parts of each private key in b (see bundleContents)
// and, for a PFX, of each certificate as PEM (tls.crt; a PEM bundle's are
// its own lines), inside p.
func bundleParts(p part, b []byte, depth int) []part {
	keys, certs := bundleContents(b)
	var out []part
	for i, k := range keys {
		for _, kp := range keyParts(k) {
			kp.name = of(fmt.Sprintf("%s of private key #%d", kp.name, i+1), p.name)
			out = append(out, parts(kp, depth+1)...)
		}
	}
	for i, c := range certs {
		out = append(out, parts(part{name: of(fmt.Sprintf("certificate #%d (PEM)", i+1), p.name),
			text: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})), kind: derived}, depth+1)...)
	}
	return out
}

// of names a part inside another: "line 3 of document value #1".
func of(name, outer string) string {
	if outer == "" {
		return name
	}
	return name + " of " + outer
}

// forms are the texts that show p.
func forms(p part) []needle {
	var out []needle
	add := func(form, text string) { out = append(out, needle{form: of(form, p.name), text: text}) }
	if p.kind != binary {
		for _, e := range escapes(p.text) {
			out = append(out, needle{form: of(e.form, p.name), text: e.text, written: true})
		}
	} else {
		add("raw", p.text)
	}
	if p.kind == line {
		return out
	}
	b := []byte(p.text)
	for _, enc := range []struct {
		name string
		enc  *base64.Encoding
	}{{"base64", base64.StdEncoding}, {"base64url", base64.URLEncoding}} {
		for offset := range 3 {
			add(fmt.Sprintf("%s (at offset %d mod 3)", enc.name, offset), base64Core(enc.enc, b, offset))
		}
	}
	add("hex", hex.EncodeToString(b))
	add("hex (upper case)", strings.ToUpper(hex.EncodeToString(b)))
	if len(b) > 0 {
		add("byte list (%v)", byteList(b))
	}
	return out
}

// escapers write a string into another text: into a JSON string
// (encoding/json, HTML-safe; slog's JSON handler, not), as a Go-quoted
// string (%q, strconv.Quote, slog's text handler; %+q).
var escapers = []struct {
	name   string
	escape func(string) string
}{
	{"JSON-escaped", func(s string) string { return jsonEscape(s, true) }},
	{"JSON-escaped (no HTML escaping)", func(s string) string { return jsonEscape(s, false) }},
	{"Go-quoted", func(s string) string { return unquote(strconv.Quote(s)) }},
	{"Go-quoted (ASCII)", func(s string) string { return unquote(strconv.QuoteToASCII(s)) }},
}

// escapes are s raw, escaped once, and escaped twice (a quoted error in a
// JSON log, a JSON document in a JSON field).
func escapes(s string) []needle {
	out := []needle{{form: "raw", text: s}}
	for _, inner := range escapers {
		once := inner.escape(s)
		out = append(out, needle{form: inner.name, text: once})
		for _, outer := range escapers {
			out = append(out, needle{form: outer.name + " " + inner.name, text: outer.escape(once)})
		}
	}
	return out
}

func jsonEscape(s string, html bool) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(html)
	_ = enc.Encode(s) // a string always encodes
	return unquote(strings.TrimSuffix(b.String(), "\n"))
}

func unquote(q string) string { return q[1 : len(q)-1] }

// base64Core is the part of the base64 of b that is the same wherever b
// starts in a longer byte slice, offset bytes past a multiple of 3: the
// characters of the groups b fills alone.
func base64Core(enc *base64.Encoding, b []byte, offset int) string {
	buf := append(make([]byte, offset), b...)
	s := enc.EncodeToString(buf)
	start := 0
	if offset > 0 {
		start = 4
	}
	end := len(buf) / 3 * 4
	if end <= start {
		return ""
	}
	return s[start:end]
}

// decodeBase64 decodes s if it is base64 (standard or URL, padded or not),
// as a base64decode transform or a PFX backing secret is.
func decodeBase64(s string) ([]byte, bool) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) > 0 {
			return b, true
		}
	}
	return nil, false
}

// documentValues are the scalar values, at any depth, of a JSON or YAML
// mapping (a multi-key-value secret) or list (a document latchkey refuses,
// whose values are as secret); keys are names, not values.
func documentValues(s string) []string {
	var out []string
	if json.Valid([]byte(s)) {
		var doc any
		dec := json.NewDecoder(strings.NewReader(s))
		dec.UseNumber() // numbers as written
		if dec.Decode(&doc) != nil {
			return nil
		}
		switch doc.(type) {
		case map[string]any, []any:
		default:
			return nil
		}
		var walk func(v any)
		walk = func(v any) {
			switch v := v.(type) {
			case map[string]any:
				for _, k := range sortedKeys(v) {
					walk(v[k])
				}
			case []any:
				for _, e := range v {
					walk(e)
				}
			case string:
				out = append(out, v)
			case nil:
			default:
				out = append(out, fmt.Sprint(v))
			}
		}
		walk(doc)
		return out
	}
	var root yaml.Node
	if yaml.Unmarshal([]byte(s), &root) != nil || len(root.Content) == 0 ||
		root.Content[0].Kind != yaml.MappingNode && root.Content[0].Kind != yaml.SequenceNode {
		return nil
	}
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		switch n.Kind {
		case yaml.MappingNode:
			for i := 1; i < len(n.Content); i += 2 {
				walk(n.Content[i])
			}
		case yaml.SequenceNode:
			for _, c := range n.Content {
				walk(c)
			}
		case yaml.ScalarNode:
			out = append(out, n.Value)
		}
	}
	walk(root.Content[0])
	return out
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// bundleContents are the private keys in b: PEM blocks (PKCS #8, PKCS #1,
// SEC 1) and a PKCS #12 file without a password, as Key Vault exports it,
// with the PKCS #12 file's certificates.
func bundleContents(b []byte) ([]crypto.PrivateKey, []*x509.Certificate) {
	var keys []crypto.PrivateKey
	for rest := b; ; {
		var block *pem.Block
		if block, rest = pem.Decode(rest); block == nil {
			break
		}
		if !strings.Contains(block.Type, "PRIVATE KEY") {
			continue
		}
		if k, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
			keys = append(keys, k)
		} else if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
			keys = append(keys, k)
		} else if k, err := x509.ParseECPrivateKey(block.Bytes); err == nil {
			keys = append(keys, k)
		}
	}
	if len(keys) > 0 || utf8.Valid(b) {
		return keys, nil
	}
	k, leaf, chain, err := pkcs12.DecodeChain(b, "")
	if err != nil {
		return nil, nil
	}
	return []crypto.PrivateKey{k}, append([]*x509.Certificate{leaf}, chain...)
}

// keyParts are the forms latchkey could write a private key in: PKCS #8
// and its algorithm's own encoding (PKCS #1, SEC 1), as DER and PEM, and its
// secret scalar as bytes and in decimal (%v of the key).
func keyParts(key crypto.PrivateKey) []part {
	var out []part
	encoded := func(name, pemType string, der []byte) {
		out = append(out,
			part{name: name + " DER", text: string(der), kind: binary},
			part{name: name + " PEM", text: string(pem.EncodeToMemory(&pem.Block{Type: pemType, Bytes: der})), kind: derived})
	}
	scalar := func(name string, n *big.Int) {
		out = append(out, part{name: name, text: string(n.Bytes()), kind: binary}, part{name: name + " in decimal", text: n.String(), kind: derived})
	}
	if der, err := x509.MarshalPKCS8PrivateKey(key); err == nil {
		encoded("PKCS #8", "PRIVATE KEY", der)
	}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		encoded("PKCS #1", "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(k))
		scalar("the private exponent", k.D)
		for i, p := range k.Primes {
			scalar(fmt.Sprintf("prime #%d", i+1), p)
		}
	case *ecdsa.PrivateKey:
		if der, err := x509.MarshalECPrivateKey(k); err == nil {
			encoded("SEC 1", "EC PRIVATE KEY", der)
		}
		if d, err := k.Bytes(); err == nil {
			scalar("the private scalar", new(big.Int).SetBytes(d))
		}
	case ed25519.PrivateKey:
		out = append(out, part{name: "the seed", text: string(k.Seed()), kind: binary})
	}
	return out
}

// byteList is b as %v prints a []byte, without the brackets.
func byteList(b []byte) string {
	out := make([]byte, 0, 4*len(b))
	for i, c := range b {
		if i > 0 {
			out = append(out, ' ')
		}
		out = strconv.AppendUint(out, uint64(c), 10)
	}
	return string(out)
}
