package output

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
	yamlv2 "sigs.k8s.io/yaml/goyaml.v2"
)

// FuzzParseMultiKey holds parseMultiKey to its promise: every document
// akv2k8s accepted gives the same bytes here. akv2k8s decoded a
// multi-key-value-secret into map[string]string with encoding/json or
// gopkg.in/yaml.v2 (sigs.k8s.io/yaml/goyaml.v2 is that code); whenever that
// decoding succeeds, parseMultiKey must succeed with the same keys and
// values (unless yaml.v3 refuses the syntax itself, see yamlSyntaxError,
// or a key is not a scalar, see nonScalarKey). Whatever the document, an error never quotes it. Seed corpus in
// testdata/fuzz/FuzzParseMultiKey.
func FuzzParseMultiKey(f *testing.F) {
	f.Add(false, []byte(`{"key1":"my key 1 value","key2":null,"k":"first","k":"second"}`))
	f.Add(true, []byte("version: 1.10\nzip: 0800\non: yes\nbin: !!binary czNjcjN0\nbase: &b {x: \"1\"}\n<<: *b\n"))
	f.Fuzz(func(t *testing.T, isYAML bool, doc []byte) {
		ct := ContentTypeJSON
		var theirs map[string]string
		var theirErr error
		if isYAML {
			ct = ContentTypeYAML
			theirErr = yamlv2.Unmarshal(doc, &theirs)
		} else {
			theirErr = json.Unmarshal(doc, &theirs)
		}
		got, err := parseMultiKey(ct, bytes.Clone(doc))
		if err != nil {
			for _, w := range quotable(doc) {
				if strings.Contains(err.Error(), w) {
					t.Fatalf("error %q quotes the document (%q)", err, w)
				}
			}
			outside := isYAML && (yamlSyntaxError(doc) || nonScalarKey(doc)) // see the doc comment
			if theirErr == nil && !outside {
				t.Fatalf("refused a %s document akv2k8s read as %q: %v", ct, theirs, err)
			}
			return
		}
		if theirErr != nil {
			return // a superset: numbers, nested values, ... that akv2k8s refused
		}
		if len(got) != len(theirs) {
			t.Fatalf("%d keys, akv2k8s read %d: %q vs %q", len(got), len(theirs), got, theirs)
		}
		for k, v := range theirs {
			if g, ok := got[k]; !ok || string(g) != v {
				t.Fatalf("key %q = %q (present %v), akv2k8s read %q", k, g, ok, v)
			}
		}
	})
}

// yamlSyntaxError reports whether yaml.v3 refuses the first document's
// syntax: the two parsers disagree on corners of the grammar ("{0: ,\n&0}&0%"
// is a mapping to yaml.v2), which is theirs, not parseMultiKey's, to settle.
func yamlSyntaxError(doc []byte) bool {
	var n yaml.Node
	return yaml.Unmarshal(firstYAMLDocument(doc), &n) != nil
}

// nonScalarKey reports whether the first document is a mapping with a
// key that is not a scalar ("{}: v"): yaml.v2 dropped such an entry
// without a word, parseMultiKey refuses the document and says why.
func nonScalarKey(doc []byte) bool {
	var root yaml.Node
	if yaml.Unmarshal(firstYAMLDocument(doc), &root) != nil || len(root.Content) == 0 {
		return false
	}
	m := deref(root.Content[0])
	if m == nil || m.Kind != yaml.MappingNode {
		return false
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if k := deref(m.Content[i]); k == nil || k.Kind != yaml.ScalarNode {
			return true
		}
	}
	return false
}

// ownWords are the words errors say of their own accord.
const ownWords = "application/json application/x-yaml JSON object YAML document mapping scalar"

// quotable are the runs of a document an error must not repeat: its
// fields of 8 bytes or more, split at the characters documents use as
// syntax.
func quotable(doc []byte) []string {
	var out []string
	for _, w := range strings.FieldsFunc(string(doc), func(r rune) bool { return strings.ContainsRune(" \t\r\n\"'{}[],:&*!#|>-?%@`", r) }) {
		if len(w) >= 8 && !strings.Contains(ownWords, w) {
			out = append(out, w)
		}
	}
	return out
}
