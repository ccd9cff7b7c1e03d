package output

import (
	"bytes"
	"encoding/base64"
	"fmt"

	"go.yaml.in/yaml/v3"
)

// firstYAMLDocument is doc up to the end of its first document: the line
// before the next document marker ("---" or "..." at the start of a line,
// then a space, a tab or the line's end). Such a line ends a document
// wherever it stands, inside a scalar too (YAML 1.2, c-forbidden). The
// marker that opens the first document, after nothing but comments,
// directives and blank lines, belongs to it.
func firstYAMLDocument(doc []byte) []byte {
	opened := false
	for off := 0; off < len(doc); {
		line := doc[off:]
		if i := bytes.IndexByte(line, '\n'); i >= 0 {
			line = line[:i+1]
		}
		switch trimmed := bytes.TrimRight(line, "\r\n"); {
		case isDocumentMarker(trimmed, "---") && !opened:
			opened = true
		case isDocumentMarker(trimmed, "---") || isDocumentMarker(trimmed, "..."):
			return doc[:off]
		case len(bytes.TrimSpace(trimmed)) > 0 && trimmed[0] != '#' && trimmed[0] != '%':
			opened = true // content: the next marker ends the document
		}
		off += len(line)
	}
	return doc
}

// isDocumentMarker reports whether line starts with marker followed by
// whitespace or nothing.
func isDocumentMarker(line []byte, marker string) bool {
	rest, ok := bytes.CutPrefix(line, []byte(marker))
	return ok && (len(rest) == 0 || rest[0] == ' ' || rest[0] == '\t')
}

// maxMergeDepth bounds nested YAML merge keys ("<<"), which can otherwise
// refer to themselves.
const maxMergeDepth = 16

// parseYAMLDocument reads the document as a node tree so that scalars keep
// the text they were written with, the way akv2k8s's yaml.v2 decoding into
// map[string]string did ("0800" and "1.10" stay as written).
//
// Only the first document of a stream is read, as yaml.v2 did: what follows
// its end is not looked at (yaml.v3 alone would refuse "a: 1\n--- \"x" for
// the second document's unterminated string).
func parseYAMLDocument(doc []byte) (map[string][]byte, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(firstYAMLDocument(doc), &root); err != nil {
		// yaml errors quote the input: describe, never wrap.
		return nil, fmt.Errorf("%w: not a YAML document", ErrInvalidDocument)
	}
	out := map[string][]byte{}
	n := &root
	if n.Kind == 0 {
		return out, nil // empty document
	}
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return out, nil
		}
		n = n.Content[0]
	}
	n = deref(n)
	if n == nil || (n.Kind == yaml.ScalarNode && n.Tag == "!!null") {
		return out, nil
	}
	if n.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%w: top level is not a YAML mapping", ErrInvalidDocument)
	}
	if err := collectMapping(n, out, 0); err != nil {
		return nil, err
	}
	return out, nil
}

// collectMapping adds a mapping's pairs to out; explicit keys override
// merged ones, and earlier merge sources override later ones (YAML's merge
// key rules).
func collectMapping(n *yaml.Node, out map[string][]byte, depth int) error {
	if depth > maxMergeDepth {
		return fmt.Errorf("%w: YAML merge keys nested too deep", ErrInvalidDocument)
	}
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), n.Content[i+1]
		if k == nil || k.Kind != yaml.ScalarNode {
			return fmt.Errorf("%w: a top-level YAML key is not a scalar", ErrInvalidDocument)
		}
		if k.Tag == "!!merge" {
			merges = append(merges, v)
			continue
		}
		// A key reads as a value does (akv2k8s's yaml.v2 decoding into
		// map[string]string did): "~: v" has the key "", a !!binary key is
		// decoded.
		key, err := yamlValueText(k)
		if err != nil {
			return err
		}
		text, err := yamlValueText(v)
		if err != nil {
			return err
		}
		out[string(key)] = text
	}
	for _, m := range merges {
		if err := merge(m, out, depth); err != nil {
			return err
		}
	}
	return nil
}

func merge(src *yaml.Node, out map[string][]byte, depth int) error {
	src = deref(src)
	var sources []*yaml.Node
	switch {
	case src == nil:
		return fmt.Errorf("%w: bad YAML merge key", ErrInvalidDocument)
	case src.Kind == yaml.MappingNode:
		sources = []*yaml.Node{src}
	case src.Kind == yaml.SequenceNode:
		sources = src.Content
	default:
		return fmt.Errorf("%w: YAML merge key needs a mapping", ErrInvalidDocument)
	}
	for _, s := range sources {
		s = deref(s)
		if s == nil || s.Kind != yaml.MappingNode {
			return fmt.Errorf("%w: YAML merge key needs a mapping", ErrInvalidDocument)
		}
		merged := map[string][]byte{}
		if err := collectMapping(s, merged, depth+1); err != nil {
			return err
		}
		for k, v := range merged {
			if _, ok := out[k]; !ok {
				out[k] = v
			}
		}
	}
	return nil
}

func yamlValueText(v *yaml.Node) ([]byte, error) {
	v = deref(v)
	if v == nil {
		return nil, fmt.Errorf("%w: bad YAML alias", ErrInvalidDocument)
	}
	if v.Kind != yaml.ScalarNode {
		return yamlNestedJSON(v)
	}
	switch v.Tag {
	case "!!null":
		return []byte{}, nil
	case "!!binary":
		b, err := base64.StdEncoding.DecodeString(v.Value)
		if err != nil {
			return nil, fmt.Errorf("%w: bad !!binary value", ErrInvalidDocument)
		}
		return b, nil
	}
	return []byte(v.Value), nil
}

// yamlNestedJSON writes a nested mapping or sequence as compact JSON. The
// yaml decoder refuses alias cycles and alias bombs.
func yamlNestedJSON(v *yaml.Node) ([]byte, error) {
	var x any
	if err := v.Decode(&x); err != nil {
		return nil, fmt.Errorf("%w: nested YAML value does not decode", ErrInvalidDocument)
	}
	j, err := jsonable(x, 0)
	if err != nil {
		return nil, err
	}
	return marshalJSON(j)
}

// maxNesting bounds recursion over decoded YAML values.
const maxNesting = 1000

// jsonable turns maps with non-string keys (which YAML allows) into maps
// with string keys, which JSON needs.
func jsonable(x any, depth int) (any, error) {
	if depth > maxNesting {
		return nil, fmt.Errorf("%w: YAML nested too deep", ErrInvalidDocument)
	}
	switch t := x.(type) {
	case map[string]any:
		for k, v := range t {
			j, err := jsonable(v, depth+1)
			if err != nil {
				return nil, err
			}
			t[k] = j
		}
		return t, nil
	case map[any]any:
		m := make(map[string]any, len(t))
		for k, v := range t {
			j, err := jsonable(v, depth+1)
			if err != nil {
				return nil, err
			}
			m[fmt.Sprint(k)] = j
		}
		return m, nil
	case []any:
		for i, v := range t {
			j, err := jsonable(v, depth+1)
			if err != nil {
				return nil, err
			}
			t[i] = j
		}
		return t, nil
	}
	return x, nil
}

// deref follows aliases; nil for a dangling or overlong alias chain.
func deref(n *yaml.Node) *yaml.Node {
	for range maxMergeDepth {
		if n == nil || n.Kind != yaml.AliasNode {
			return n
		}
		n = n.Alias
	}
	return nil
}
