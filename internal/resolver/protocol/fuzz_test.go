package protocol_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/latchkey-dev/latchkey/internal/resolver/protocol"
)

// decodeStrict reads one message as the binary's answers are read back in
// these tests: at most MaxRequestBytes, no unknown field. Requests are
// read with DecodeRequest, as the resolver reads them.
func decodeStrict(raw []byte, v any) error {
	if len(raw) > protocol.MaxRequestBytes {
		return errTooLarge
	}
	if req, ok := v.(*protocol.Request); ok {
		got, err := protocol.DecodeRequest(bytes.NewReader(raw), protocol.MaxVariables)
		*req = got
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

var errTooLarge = errors.New("request too large")

// FuzzRequest: whatever a request body holds, a Request the resolver's
// decoder (DecodeRequest) accepts names at most MaxVariables variables, is
// what encoding/json reads from the same body, and says the same once
// encoded again (the binary's encoding is read back as the resolver reads
// it); its encoding stays within a bounded multiple of the body. Seed
// corpus in testdata/fuzz/FuzzRequest.
func FuzzRequest(f *testing.F) {
	f.Add([]byte(`{"container":"app","env":{"DB_PASSWORD":"db@azurekeyvault","TLS_KEY":"web@azurekeyvault?tls.key"}}`))
	f.Add([]byte(`{"container":"latchkey-files-refresh","env":{"LATCHKEY_FILE_0":"web@azurekeyvault?tls.crt"},"have":{"LATCHKEY_FILE_0":"0a1b"}}`))
	f.Add([]byte(`{"container":"a","env":{},"have":{}}`))
	f.Add([]byte(`{"container":"a","have":null}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		var req protocol.Request
		if decodeStrict(raw, &req) != nil {
			return
		}
		if len(req.Env) > protocol.MaxVariables {
			t.Fatalf("accepted %d variables", len(req.Env))
		}
		var std protocol.Request
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&std); err != nil {
			t.Fatalf("DecodeRequest accepted what encoding/json refuses: %v", err)
		}
		if !reflect.DeepEqual(normalize(req), normalize(std)) {
			t.Fatalf("DecodeRequest read %+v, encoding/json %+v", req, std)
		}
		roundTrip(t, raw, req, new(protocol.Request))
	})
}

// FuzzAnswer: the same for the resolver's answers as the binary reads
// them (a 200 Response, or an ErrorBody). Seed corpus in
// testdata/fuzz/FuzzAnswer.
func FuzzAnswer(f *testing.F) {
	f.Add(false, []byte(`{"env":{"DB_PASSWORD":"s3cr3t"}}`))
	f.Add(false, []byte(`{"env":null,"unchanged":true,"refreshSeconds":30}`))
	f.Add(true, []byte(`{"error":{"code":"PlaceholderNotInSpec","message":"…","failures":[{"code":"KeyVaultObjectNotFound","message":"m","variables":["A"],"azureKeyVaultSecrets":["db"]}]}}`))
	f.Fuzz(func(t *testing.T, isError bool, raw []byte) {
		if isError {
			var body protocol.ErrorBody
			if json.Unmarshal(raw, &body) == nil {
				roundTrip(t, raw, body, new(protocol.ErrorBody))
			}
			return
		}
		var resp protocol.Response
		if json.Unmarshal(raw, &resp) == nil {
			roundTrip(t, raw, resp, new(protocol.Response))
		}
	})
}

// roundTrip encodes v, checks the size of the encoding, decodes it into
// again and checks it equals v.
func roundTrip[T any](t *testing.T, raw []byte, v T, again *T) {
	t.Helper()
	enc, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("a decoded message does not encode: %v", err)
	}
	// Escaping (<, >, &, control characters, U+2028) takes at most six
	// bytes per input byte.
	if len(enc) > 6*len(raw)+64 {
		t.Fatalf("%d bytes encode as %d", len(raw), len(enc))
	}
	if err := decodeStrict(enc, again); err != nil {
		t.Fatalf("the encoding of a decoded message does not decode: %v", err)
	}
	if !reflect.DeepEqual(normalize(v), normalize(*again)) {
		t.Fatalf("round trip changed the message:\n%+v\n%+v", v, *again)
	}
}

// normalize clears the empty lists that omitempty drops, so that a list
// sent empty and one not sent compare equal; everything else must survive
// the round trip as it is.
func normalize(v any) any {
	if req, ok := v.(protocol.Request); ok && len(req.Have) == 0 {
		req.Have = nil // omitted when empty: "have":{} says nothing
		return req
	}
	body, ok := v.(protocol.ErrorBody)
	if !ok {
		return v
	}
	if len(body.Error.Failures) == 0 {
		body.Error.Failures = nil
	}
	fs := make([]protocol.Failure, len(body.Error.Failures))
	for i, f := range body.Error.Failures {
		if len(f.AzureKeyVaultSecrets) == 0 {
			f.AzureKeyVaultSecrets = nil
		}
		fs[i] = f
	}
	if body.Error.Failures != nil {
		body.Error.Failures = fs
	}
	return body
}
