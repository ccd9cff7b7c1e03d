package output

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	yamlv2 "sigs.k8s.io/yaml/goyaml.v2"
)

// FuzzParseMultiKey holds parseMultiKey to its promise: every document
// akv2k8s accepted gives the same bytes here. akv2k8s decoded a
// multi-key-value-secret into map[string]string with encoding/json or
// gopkg.in/yaml.v2 (sigs.k8s.io/yaml/goyaml.v2 is that code); whenever that
// decoding succeeds, parseMultiKey must succeed with the same keys and
// values. Whatever the document, an error never quotes it. Seed corpus in
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
			if theirErr == nil {
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
