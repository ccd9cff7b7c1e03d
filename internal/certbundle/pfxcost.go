package certbundle

import "fmt"

// maxPFXIterations bounds the key-derivation iterations a PFX may ask for,
// summed over its MAC, encrypted safes and shrouded key bags. go-pkcs12
// runs whatever count the file states, so a crafted PFX (a secret a tenant
// writes to their own vault, rendered as kubernetes.io/tls) could otherwise
// occupy a worker for hours. Windows and Key Vault use 2,000 per derivation,
// OpenSSL 2,048; three derivations at 600,000 (OWASP's PBKDF2 advice) fit.
const maxPFXIterations = 3_000_000

// Limits on the ASN.1 walk itself.
const (
	maxASN1Depth = 48
	maxASN1Nodes = 200_000
)

// ASN.1 universal tags the walk recognises.
const (
	tagInteger     = 0x02
	tagOctetString = 0x04
	tagSequence    = 0x10
)

// checkPFXCost sums the iteration counts visible before any decryption and
// refuses the PFX when they exceed maxPFXIterations. An iteration count is
// an INTEGER that directly follows an OCTET STRING (the salt) in a SEQUENCE:
// PBKDF2-params, pkcs-12PbeParams and MacData all have that shape, and
// nothing else in a PFX does. Counts inside encrypted safes are out of
// reach; their derivations run only after the visible ones, which are
// bounded. Input the walk cannot read is left to go-pkcs12 to reject.
func checkPFXCost(der []byte) error {
	w := costWalk{}
	w.elements(der, 0, false)
	if w.total > maxPFXIterations {
		return fmt.Errorf("%w: PFX asks for more than %d key-derivation iterations", ErrMalformed, maxPFXIterations)
	}
	return nil
}

type costWalk struct {
	total int64
	nodes int
}

type element struct {
	class       byte // 0 universal, 1 application, 2 context, 3 private
	constructed bool
	tag         int
	content     []byte    // primitive, or definite-length constructed
	children    []element // constructed
}

// elements parses a run of BER elements and walks each; it reports whether
// the whole run parsed. chunks marks the pieces of a chunked (constructed)
// OCTET STRING, which are walked once joined, not one by one.
func (w *costWalk) elements(data []byte, depth int, chunks bool) ([]element, bool) {
	var out []element
	for len(data) > 0 {
		e, rest, ok := w.element(data, depth, chunks)
		if !ok {
			return out, false
		}
		out = append(out, e)
		data = rest
	}
	return out, true
}

func (w *costWalk) element(data []byte, depth int, chunk bool) (element, []byte, bool) {
	w.nodes++
	if depth > maxASN1Depth || w.nodes > maxASN1Nodes || len(data) < 2 {
		return element{}, nil, false
	}
	e := element{class: data[0] >> 6, constructed: data[0]&0x20 != 0, tag: int(data[0] & 0x1f)}
	data = data[1:]
	if e.tag == 0x1f { // high tag number form
		e.tag = 0
		for {
			if len(data) == 0 || e.tag > 1<<20 {
				return element{}, nil, false
			}
			b := data[0]
			data = data[1:]
			e.tag = e.tag<<7 | int(b&0x7f)
			if b&0x80 == 0 {
				break
			}
		}
	}
	if len(data) == 0 {
		return element{}, nil, false
	}
	lenByte := data[0]
	data = data[1:]
	if lenByte == 0x80 { // indefinite length: children up to end-of-contents
		if !e.constructed {
			return element{}, nil, false
		}
		for {
			if len(data) >= 2 && data[0] == 0 && data[1] == 0 {
				w.visit(&e, depth, chunk)
				return e, data[2:], true
			}
			child, rest, ok := w.element(data, depth+1, e.isOctetString())
			if !ok {
				return element{}, nil, false
			}
			e.children = append(e.children, child)
			data = rest
		}
	}
	n := int(lenByte)
	if lenByte&0x80 != 0 {
		k := int(lenByte & 0x7f)
		if k > 4 || len(data) < k {
			return element{}, nil, false
		}
		n = 0
		for _, b := range data[:k] {
			n = n<<8 | int(b)
		}
		data = data[k:]
	}
	if n < 0 || n > len(data) {
		return element{}, nil, false
	}
	e.content, data = data[:n], data[n:]
	if e.constructed {
		children, ok := w.elements(e.content, depth+1, e.isOctetString())
		if !ok {
			return element{}, nil, false
		}
		e.children = children
	}
	w.visit(&e, depth, chunk)
	return e, data, true
}

func (e *element) isOctetString() bool { return e.class == 0 && e.tag == tagOctetString }

// visit looks inside OCTET STRINGs (a PFX nests DER in them) and counts
// iterations in SEQUENCEs.
func (w *costWalk) visit(e *element, depth int, chunk bool) {
	if e.class != 0 {
		return
	}
	switch e.tag {
	case tagOctetString:
		if chunk {
			return // walked as part of the joined string
		}
		inner := e.content
		if e.constructed { // BER chunked OCTET STRING
			inner = nil
			for _, c := range e.children {
				inner = append(inner, c.content...)
			}
		}
		// Opaque bytes (salts, keys) usually fail to parse; that is fine.
		w.elements(inner, depth+1, false)
	case tagSequence:
		for i := 1; i < len(e.children); i++ {
			prev, cur := e.children[i-1], e.children[i]
			if prev.class == 0 && prev.tag == tagOctetString &&
				cur.class == 0 && cur.tag == tagInteger && !cur.constructed {
				w.total += iterationCount(cur.content)
			}
		}
	}
}

// iterationCount reads a non-negative INTEGER, saturating anything that
// could not be a sane count.
func iterationCount(b []byte) int64 {
	if len(b) == 0 || b[0]&0x80 != 0 {
		return 0 // negative or empty: go-pkcs12 rejects it
	}
	if len(b) > 5 {
		return maxPFXIterations + 1
	}
	var n int64
	for _, x := range b {
		n = n<<8 | int64(x)
	}
	return n
}
