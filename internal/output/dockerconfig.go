package output

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
)

// completeDockerAuths adds the "auth" field (base64 of username:password)
// to each entry under "auths" that has a username and password but no auth,
// as the akv2k8s README promised. A document that needs nothing is returned
// byte for byte; otherwise it is re-encoded compactly with its top-level and
// entry keys sorted, every other field kept as it was.
func completeDockerAuths(value []byte) ([]byte, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(value, &top); err != nil || top == nil {
		// json errors can quote the input; describe, do not wrap.
		return nil, fmt.Errorf("%w: %s is not a JSON object", ErrInvalidDocument, KeyDockerConfigJSON)
	}
	rawAuths, ok := top["auths"]
	if !ok {
		return value, nil
	}
	var auths map[string]map[string]json.RawMessage
	if err := json.Unmarshal(rawAuths, &auths); err != nil {
		return nil, fmt.Errorf("%w: %s \"auths\" is not an object of registry entries", ErrInvalidDocument, KeyDockerConfigJSON)
	}
	changed := false
	for _, entry := range auths {
		if entry == nil || hasAuth(entry["auth"]) {
			continue
		}
		user, okUser := jsonString(entry["username"])
		pass, okPass := jsonString(entry["password"])
		if !okUser || !okPass {
			continue
		}
		auth, err := marshalJSON(base64.StdEncoding.EncodeToString([]byte(user + ":" + pass)))
		if err != nil {
			return nil, err
		}
		entry["auth"] = auth
		changed = true
	}
	if !changed {
		return value, nil
	}
	var err error
	if top["auths"], err = marshalJSON(auths); err != nil {
		return nil, err
	}
	return marshalJSON(top)
}

func jsonString(raw json.RawMessage) (string, bool) {
	var s string
	if raw == nil || json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

// hasAuth reports whether an entry's auth is set: present, not null and not
// the empty string. Anything else (even a non-string) is left alone.
func hasAuth(raw json.RawMessage) bool {
	if raw == nil {
		return false
	}
	if s, ok := jsonString(raw); ok {
		return s != ""
	}
	return string(bytes.TrimSpace(raw)) != "null"
}

// marshalJSON encodes compactly without HTML escaping, so '<', '>' and '&'
// in passwords stay as they were.
func marshalJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("%w: cannot encode JSON", ErrInvalidDocument)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte{'\n'}), nil
}
