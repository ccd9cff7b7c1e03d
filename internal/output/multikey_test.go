package output_test

import (
	"testing"

	"github.com/latchkey-dev/latchkey/internal/output"
)

func TestMultiKeyJSON(t *testing.T) {
	tests := []struct {
		name    string
		doc     string
		want    map[string][]byte
		wantErr error
	}{
		{name: "seed example", doc: `{"key1": "my key 1 value", "key2": "my key 2 value"}`, want: data("key1", "my key 1 value", "key2", "my key 2 value")},
		{name: "escapes decoded", doc: `{"k": "line\nnext \u00e9 \"q\""}`, want: data("k", "line\nnext é \"q\"")},
		{name: "numbers and booleans as written", doc: `{"port": 0.10, "n": 1e3, "big": 12345678901234567890, "on": true, "off": false}`, want: data("port", "0.10", "n", "1e3", "big", "12345678901234567890", "on", "true", "off", "false")},
		{name: "null is empty", doc: `{"k": null}`, want: data("k", "")},
		{name: "nested as compact JSON", doc: `{"obj": {"b": 1, "a": [1, 2]}, "arr": [ "x" , {"y": null} ]}`, want: data("obj", `{"b":1,"a":[1,2]}`, "arr", `["x",{"y":null}]`)},
		{name: "duplicate keys: last wins", doc: `{"k": "first", "k": "second"}`, want: data("k", "second")},
		{name: "empty object", doc: `{}`, want: data()},
		{name: "null document", doc: `null`, want: data()},
		{name: "syntax error", doc: `{"k": "s3cr3t-value",}`, wantErr: output.ErrInvalidDocument},
		{name: "not an object", doc: `["s3cr3t-value"]`, wantErr: output.ErrInvalidDocument},
		{name: "scalar", doc: `"s3cr3t-value"`, wantErr: output.ErrInvalidDocument},
		{name: "empty", doc: ``, wantErr: output.ErrInvalidDocument},
		{name: "invalid key", doc: `{"s3cr3t key/with slash": "v"}`, wantErr: output.ErrInvalidDataKey},
	}
	runMultiKey(t, output.ContentTypeJSON, tests)
}

func TestMultiKeyYAML(t *testing.T) {
	tests := []struct {
		name    string
		doc     string
		want    map[string][]byte
		wantErr error
	}{
		{name: "seed example", doc: "key1: my key 1 value\nkey2: my key 2 value\n", want: data("key1", "my key 1 value", "key2", "my key 2 value")},
		{name: "scalars keep their text", doc: "version: 1.10\nzip: 0800\non: yes\nhex: 0x1F\nint: 42\nquoted: \"007\"\n", want: data("version", "1.10", "zip", "0800", "on", "yes", "hex", "0x1F", "int", "42", "quoted", "007")},
		{name: "block scalar", doc: "cert: |\n  line1\n  line2\n", want: data("cert", "line1\nline2\n")},
		{name: "null is empty", doc: "a: ~\nb: null\nc:\n", want: data("a", "", "b", "", "c", "")},
		{name: "binary decoded", doc: "bin: !!binary czNjcjN0\n", want: data("bin", "s3cr3t")},
		{name: "nested as JSON", doc: "obj:\n  b: 1\n  a: [x, 2]\nlist:\n  - 1\n  - two\n", want: data("obj", `{"a":["x",2],"b":1}`, "list", `[1,"two"]`)},
		{name: "nested with non-string keys", doc: "obj:\n  1: one\n  true: yes\n", want: data("obj", `{"1":"one","true":"yes"}`)},
		{name: "alias", doc: "a: &x shared\nb: *x\n", want: data("a", "shared", "b", "shared")},
		{name: "merge key, explicit wins", doc: "base: &b {x: \"1\", y: \"2\"}\n<<: *b\ny: own\n", want: data("base", `{"x":"1","y":"2"}`, "x", "1", "y", "own")},
		{name: "merge list, earlier wins", doc: "a: &a {k: first}\nb: &b {k: second, j: j}\n<<: [*a, *b]\n", want: data("a", `{"k":"first"}`, "b", `{"j":"j","k":"second"}`, "k", "first", "j", "j")},
		{name: "duplicate keys: last wins", doc: "k: first\nk: second\n", want: data("k", "second")},
		{name: "binary key decoded, as akv2k8s read it", doc: "!!binary a2V5: v\n", want: data("key", "v")},
		{name: "null key is empty, as akv2k8s read it (so no valid data key)", doc: "~: s3cr3t-value\n", wantErr: output.ErrInvalidDataKey},
		{name: "empty document", doc: "", want: data()},
		{name: "first document only", doc: "---\na: 1\n---\nb: 2\n", want: data("a", "1")},
		{name: "first document only, the next one broken", doc: "a: 1\n--- \"s3cr3t-value\n", want: data("a", "1")},
		{name: "a block scalar ends at the next document", doc: "cert: |\n  line1\n---\nother: x\n", want: data("cert", "line1\n")},
		{name: "dashes inside a line are content", doc: "k: a --- b\nl: ---x\n", want: data("k", "a --- b", "l", "---x")},
		{name: "comment only", doc: "# nothing\n", want: data()},
		{name: "null document", doc: "~\n", want: data()},
		{name: "json is yaml", doc: `{"k": "v", "n": 1.50}`, want: data("k", "v", "n", "1.50")},
		{name: "syntax error", doc: "k: [s3cr3t-value\n", wantErr: output.ErrInvalidDocument},
		{name: "tab indentation", doc: "k:\n\t- s3cr3t-value\n", wantErr: output.ErrInvalidDocument},
		{name: "top-level list", doc: "- s3cr3t-value\n", wantErr: output.ErrInvalidDocument},
		{name: "top-level scalar", doc: "s3cr3t-value\n", wantErr: output.ErrInvalidDocument},
		{name: "non-scalar key", doc: "? [s3cr3t, value]\n: v\n", wantErr: output.ErrInvalidDocument},
		{name: "self-referencing alias", doc: "k: &a [s3cr3t-value, *a]\n", wantErr: output.ErrInvalidDocument},
		{name: "invalid key", doc: "s3cr3t key: v\n", wantErr: output.ErrInvalidDataKey},
		{name: "bad binary", doc: "k: !!binary s3cr3t-not-base64!\n", wantErr: output.ErrInvalidDocument},
	}
	runMultiKey(t, output.ContentTypeYAML, tests)
}

func runMultiKey(t *testing.T, ct string, tests []struct {
	name    string
	doc     string
	want    map[string][]byte
	wantErr error
}) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := output.Render(newSpec(output.ObjectMultiKeyValueSecret, contentType(ct)), secretObject(tt.doc))
			if tt.wantErr != nil {
				assertErr(t, err, tt.wantErr)
				assertNoLeak(t, err, []byte("s3cr3t"))
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			assertData(t, got, tt.want)
			for k, want := range tt.want {
				v, err := output.Query(newSpec(output.ObjectMultiKeyValueSecret, contentType(ct)), secretObject(tt.doc), k)
				if err != nil || string(v) != string(want) {
					t.Fatalf("Query(%s) = %q, %v; want %q", k, v, err, want)
				}
			}
		})
	}
}

func TestMultiKeyYAMLAliasBomb(t *testing.T) {
	doc := `a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
`
	_, err := output.Render(newSpec(output.ObjectMultiKeyValueSecret, contentType(output.ContentTypeYAML)), secretObject(doc))
	assertErr(t, err, output.ErrInvalidDocument)
}
