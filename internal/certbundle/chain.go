package certbundle

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"fmt"
)

// maxCertificates bounds the certificates in one bundle; real chains have a
// handful.
const maxCertificates = 256

// assemble picks the private key and the leaf, then orders the chain.
func assemble(certs []*x509.Certificate, keys []any) (*Bundle, error) {
	certs = dedupe(certs)
	if len(certs) == 0 {
		return nil, ErrNoCertificate
	}
	if len(certs) > maxCertificates {
		return nil, fmt.Errorf("%w: more than %d", ErrTooManyCertificates, maxCertificates)
	}
	g := newGraph(certs)
	key, leaf, err := matchKey(g, keys)
	if err != nil {
		return nil, err
	}
	if leaf < 0 {
		leaf = g.endEntity(allIndexes(len(certs)))
	}
	chain := g.order(leaf)
	return &Bundle{Leaf: chain[0], Chain: chain, Key: key}, nil
}

// dedupe drops repeated certificates, keeping the first of each.
func dedupe(certs []*x509.Certificate) []*x509.Certificate {
	seen := make(map[string]bool, len(certs))
	out := certs[:0:0]
	for _, c := range certs {
		if c == nil || seen[string(c.Raw)] {
			continue
		}
		seen[string(c.Raw)] = true
		out = append(out, c)
	}
	return out
}

// matchKey returns the first key that belongs to a certificate and the index
// of that certificate (preferring, among several with the same key, one that
// issues nothing else). With no keys it returns nil and -1.
func matchKey(g *graph, keys []any) (crypto.PrivateKey, int, error) {
	if len(keys) == 0 {
		return nil, -1, nil
	}
	for _, k := range keys {
		signer, ok := k.(crypto.Signer)
		if !ok {
			continue
		}
		pub, ok := signer.Public().(interface{ Equal(crypto.PublicKey) bool })
		if !ok {
			continue
		}
		var owners []int
		for i, c := range g.certs {
			if pub.Equal(c.PublicKey) {
				owners = append(owners, i)
			}
		}
		if len(owners) > 0 {
			return k, g.endEntity(owners), nil
		}
	}
	return nil, -1, ErrKeyMismatch
}

func allIndexes(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// graph records which certificate in a set issued which, by name and, when
// both carry them, by authority/subject key identifier. Signatures are not
// checked: this orders a chain for presentation, it does not verify it.
type graph struct {
	certs []*x509.Certificate
	// issuers[i] lists the certificates that issued certs[i], in input order.
	issuers [][]int
	// issuesOther[i] is true when certs[i] issued another certificate in the set.
	issuesOther []bool
}

func newGraph(certs []*x509.Certificate) *graph {
	bySubject := make(map[string][]int, len(certs))
	for i, c := range certs {
		bySubject[string(c.RawSubject)] = append(bySubject[string(c.RawSubject)], i)
	}
	g := &graph{
		certs:       certs,
		issuers:     make([][]int, len(certs)),
		issuesOther: make([]bool, len(certs)),
	}
	for child, c := range certs {
		for _, parent := range bySubject[string(c.RawIssuer)] {
			if parent == child || !keyIDsAgree(certs[parent], c) {
				continue
			}
			g.issuers[child] = append(g.issuers[child], parent)
			g.issuesOther[parent] = true
		}
	}
	return g
}

func keyIDsAgree(parent, child *x509.Certificate) bool {
	if len(child.AuthorityKeyId) == 0 || len(parent.SubjectKeyId) == 0 {
		return true
	}
	return bytes.Equal(child.AuthorityKeyId, parent.SubjectKeyId)
}

// endEntity picks the leaf among candidates: one that issues nothing else in
// the set, preferring a non-CA certificate, then input order. If every
// candidate issues something (a cycle), the first candidate wins.
func (g *graph) endEntity(candidates []int) int {
	best := -1
	for _, i := range candidates {
		if g.issuesOther[i] {
			continue
		}
		if !g.certs[i].IsCA {
			return i
		}
		if best < 0 {
			best = i
		}
	}
	if best < 0 {
		return candidates[0]
	}
	return best
}

// order walks from the leaf to each next issuer until a self-signed
// certificate or a dead end, then appends the rest in input order.
func (g *graph) order(leaf int) []*x509.Certificate {
	used := make([]bool, len(g.certs))
	chain := make([]*x509.Certificate, 0, len(g.certs))
	for cur := leaf; cur >= 0; {
		used[cur] = true
		chain = append(chain, g.certs[cur])
		if bytes.Equal(g.certs[cur].RawIssuer, g.certs[cur].RawSubject) {
			break
		}
		next := -1
		for _, p := range g.issuers[cur] {
			if !used[p] {
				next = p
				break
			}
		}
		cur = next
	}
	for i, c := range g.certs {
		if !used[i] {
			chain = append(chain, c)
		}
	}
	return chain
}
