package v2beta1

import (
	"encoding/json"
	"reflect"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kjson "sigs.k8s.io/json"
)

// UnreadableField is a field of a stored spec whose JSON does not fit its Go
// type. It names the field and what the field must hold, never what it
// holds: a value put in the wrong place may be a secret.
type UnreadableField struct {
	// Path is the field's JSON path, e.g. spec.vault.object.version.
	Path string
	// Want says what the field must hold, e.g. "a string".
	Want string
}

// UnmarshalJSON decodes an AzureKeyVaultSecret strictly where the API server
// guarantees the shape (apiVersion, kind, metadata) and leniently where it
// does not: an object stored under akv2k8s's CRD or an older schema can hold
// a spec these types cannot decode (a number where a string is expected, an
// object where a list is). Decoding such an object must not fail, or every
// list holding it fails and no AzureKeyVaultSecret of the cluster is synced.
// Each field that does not fit is left zero and recorded in Unreadable, which
// Check reports; the status is decoded the same way and what does not fit is
// dropped (the controller rewrites it).
//
// Client-go's JSON decoder and controller-runtime's caches call this method
// for every object of a list and of a watch.
func (a *AzureKeyVaultSecret) UnmarshalJSON(data []byte) error {
	var env struct {
		metav1.TypeMeta
		ObjectMeta metav1.ObjectMeta `json:"metadata"`
		Spec       json.RawMessage   `json:"spec"`
		Status     json.RawMessage   `json:"status"`
	}
	if err := kjson.UnmarshalCaseSensitivePreserveInts(data, &env); err != nil {
		return err
	}
	*a = AzureKeyVaultSecret{TypeMeta: env.TypeMeta, ObjectMeta: env.ObjectMeta}
	a.Unreadable = decodeLeniently(env.Spec, reflect.ValueOf(&a.Spec).Elem(), "spec", nil)
	decodeLeniently(env.Status, reflect.ValueOf(&a.Status).Elem(), "status", nil)
	return nil
}

// UnmarshalJSON accepts akv2k8s's object, {"name": "…"}, and the plain
// string an earlier latchkey schema stored, which is the name.
func (i *AzureIdentity) UnmarshalJSON(data []byte) error {
	var name string
	if err := kjson.UnmarshalCaseSensitivePreserveInts(data, &name); err == nil {
		*i = AzureIdentity{Name: name}
		return nil
	}
	type plain AzureIdentity // without this method
	var p plain
	if err := kjson.UnmarshalCaseSensitivePreserveInts(data, &p); err != nil {
		return err
	}
	*i = AzureIdentity(p)
	return nil
}

// decodeLeniently decodes raw into v (settable) as far as it fits and
// returns bad with a record for each field that did not. A struct is
// decoded field by field, so only the innermost field that does not fit is
// lost; any other value (a string, a list, a type with its own UnmarshalJSON
// such as a duration) fits whole or not at all.
func decodeLeniently(raw json.RawMessage, v reflect.Value, path string, bad []UnreadableField) []UnreadableField {
	if len(raw) == 0 {
		return bad
	}
	if kjson.UnmarshalCaseSensitivePreserveInts(raw, v.Addr().Interface()) == nil {
		return bad
	}
	// A failed decode may have written part of v.
	v.SetZero()
	t := v.Type()
	switch {
	case isPlainStruct(t):
		return decodeFields(raw, v, path, bad)
	case t.Kind() == reflect.Pointer && isPlainStruct(t.Elem()):
		n := reflect.New(t.Elem())
		before := len(bad)
		bad = decodeFields(raw, n.Elem(), path, bad)
		if len(bad) == before || !isWholeFailure(bad[before:], path) {
			v.Set(n)
		}
		return bad
	}
	return append(bad, UnreadableField{Path: path, Want: want(t)})
}

// decodeFields decodes a JSON object into the fields of the struct v, each
// leniently. JSON that is not an object is one unreadable field: path.
func decodeFields(raw json.RawMessage, v reflect.Value, path string, bad []UnreadableField) []UnreadableField {
	var fields map[string]json.RawMessage
	if err := kjson.UnmarshalCaseSensitivePreserveInts(raw, &fields); err != nil {
		return append(bad, UnreadableField{Path: path, Want: want(v.Type())})
	}
	t := v.Type()
	for i := range t.NumField() {
		name := jsonName(t.Field(i))
		if name == "" {
			continue
		}
		if r, ok := fields[name]; ok {
			bad = decodeLeniently(r, v.Field(i), path+"."+name, bad)
		}
	}
	return bad
}

// isWholeFailure reports whether the only unreadable field is the one at
// path itself: the JSON there was not an object at all.
func isWholeFailure(bad []UnreadableField, path string) bool {
	return len(bad) == 1 && bad[0].Path == path
}

// isPlainStruct reports whether t is decoded field by field: a struct
// without a decoder of its own (metav1.Time and metav1.Duration have one).
func isPlainStruct(t reflect.Type) bool {
	return t.Kind() == reflect.Struct && !reflect.PointerTo(t).Implements(unmarshalerType)
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

// jsonName is the name a field has in JSON; "" for fields JSON skips.
func jsonName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	if name == "-" || !f.IsExported() {
		return ""
	}
	if name == "" {
		name = f.Name
	}
	return name
}

// want says in words what a field of type t holds.
func want(t reflect.Type) string {
	switch t {
	case reflect.TypeFor[metav1.Duration](), reflect.TypeFor[*metav1.Duration]():
		return "a duration such as 90s or 1h"
	case reflect.TypeFor[metav1.Time](), reflect.TypeFor[*metav1.Time]():
		return "a date-time such as 2006-01-02T15:04:05Z"
	case reflect.TypeFor[AzureIdentity](), reflect.TypeFor[*AzureIdentity]():
		return "an object with a name"
	}
	switch t.Kind() {
	case reflect.Pointer:
		return want(t.Elem())
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.String {
			return "a list of strings"
		}
		return "a list"
	case reflect.Struct, reflect.Map:
		return "an object"
	}
	return "a " + t.Kind().String()
}
