package output

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// parseMultiKey splits a multi-key-value-secret into one value per
// top-level key.
//
// Values are written as follows (akv2k8s decoded into map[string]string, so
// it refused JSON numbers and booleans and any nested value; every document
// it accepted gives the same bytes here):
//   - strings: the string itself;
//   - numbers and booleans: their text as written ("1.10" stays "1.10");
//   - null: the empty string;
//   - objects and arrays: compact JSON (object keys sorted for YAML).
//
// Duplicate top-level keys: the last one wins, as in akv2k8s.
func parseMultiKey(contentType string, doc []byte) (map[string][]byte, error) {
	switch {
	case strings.EqualFold(contentType, ContentTypeJSON):
		return parseJSONDocument(doc)
	case strings.EqualFold(contentType, ContentTypeYAML):
		return parseYAMLDocument(doc)
	default:
		return nil, fmt.Errorf("%w: %q (want %s or %s)", ErrUnsupportedContentType, contentType, ContentTypeJSON, ContentTypeYAML)
	}
}

func parseJSONDocument(doc []byte) (map[string][]byte, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(doc, &top); err != nil {
		// Go's JSON errors can quote the input: describe, never wrap.
		return nil, fmt.Errorf("%w: not a JSON object", ErrInvalidDocument)
	}
	out := make(map[string][]byte, len(top))
	for k, raw := range top {
		v, err := jsonValueText(raw)
		if err != nil {
			return nil, err
		}
		out[k] = v
	}
	return out, nil
}

func jsonValueText(raw json.RawMessage) ([]byte, error) {
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fmt.Errorf("%w: bad JSON string", ErrInvalidDocument)
		}
		return []byte(s), nil
	case 'n':
		return []byte{}, nil
	case '{', '[':
		var buf bytes.Buffer
		if err := json.Compact(&buf, raw); err != nil {
			return nil, fmt.Errorf("%w: bad nested JSON value", ErrInvalidDocument)
		}
		return buf.Bytes(), nil
	default:
		// A number or a boolean, as written.
		return raw, nil
	}
}
