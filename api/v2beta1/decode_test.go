package v2beta1_test

import (
	"encoding/json"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	kjson "sigs.k8s.io/json"

	"github.com/latchkey-dev/latchkey/api/v2beta1"
)

// poison is a value that must never appear in a problem: a stored field of
// the wrong type may hold a secret.
const poison = "p0ison-Vv4Xx9"

// object is an AzureKeyVaultSecret in JSON with spec (and status) as given.
func object(spec, status string) []byte {
	s := `{"apiVersion":"spv.no/v2beta1","kind":"AzureKeyVaultSecret","metadata":{"name":"db","namespace":"team-a","uid":"u-1","labels":{"app":"db"}},"spec":` + spec
	if status != "" {
		s += `,"status":` + status
	}
	return []byte(s + "}")
}

const goodSpec = `{"vault":{"name":"kv","object":{"name":"db-password","type":"secret","version":"v1"}},` +
	`"output":{"transform":["trim"],"secret":{"name":"db","dataKey":"password"}},"refreshInterval":"1h"}`

// TestUnmarshalKeepsWhatFits: a stored spec that does not fit the types
// loses only the fields that do not fit, each recorded by path and by what
// it must hold; metadata, the rest of the spec and the status stay.
func TestUnmarshalKeepsWhatFits(t *testing.T) {
	tests := []struct {
		name, spec string
		want       []v2beta1.UnreadableField
		check      func(*v2beta1.AzureKeyVaultSecret) bool
	}{
		{"good", goodSpec, nil, func(a *v2beta1.AzureKeyVaultSecret) bool {
			return a.Spec.Vault.Object.Version == "v1" && a.Spec.RefreshInterval.Hours() == 1 && a.Spec.Output.Secret.DataKey == "password"
		}},
		{"azureIdentity as akv2k8s documents it", `{"vault":{"name":"kv","azureIdentity":{"name":"id-1"},"object":{"name":"o","type":"secret"}}}`, nil,
			func(a *v2beta1.AzureKeyVaultSecret) bool { return a.Spec.Vault.Identity() == "id-1" }},
		{"azureIdentity as an earlier latchkey stored it", `{"vault":{"name":"kv","azureIdentity":"id-2","object":{"name":"o","type":"secret"}}}`, nil,
			func(a *v2beta1.AzureKeyVaultSecret) bool { return a.Spec.Vault.Identity() == "id-2" }},
		{"azureIdentity a number", `{"vault":{"name":"kv","azureIdentity":42,"object":{"name":"o","type":"secret"}}}`,
			[]v2beta1.UnreadableField{{Path: "spec.vault.azureIdentity", Want: "an object with a name"}},
			func(a *v2beta1.AzureKeyVaultSecret) bool {
				return a.Spec.Vault.AzureIdentity == nil && a.Spec.Vault.Name == "kv"
			}},
		{"a number for a string", `{"vault":{"name":"kv","object":{"name":"o","type":"secret","version":20240101}}}`,
			[]v2beta1.UnreadableField{{Path: "spec.vault.object.version", Want: "a string"}},
			func(a *v2beta1.AzureKeyVaultSecret) bool {
				return a.Spec.Vault.Object.Name == "o" && a.Spec.Vault.Object.Type == "secret" && a.Spec.Vault.Object.Version == ""
			}},
		{"a string for an object", `{"vault":"` + poison + `","output":{"secret":{"name":"db","dataKey":"k"}}}`,
			[]v2beta1.UnreadableField{{Path: "spec.vault", Want: "an object"}},
			func(a *v2beta1.AzureKeyVaultSecret) bool { return a.Spec.Output.Secret.Name == "db" }},
		{"a string for a list", `{"vault":{"name":"kv","object":{"name":"o","type":"secret"}},"output":{"transform":"trim","secret":{"name":"db","dataKey":"k"}}}`,
			[]v2beta1.UnreadableField{{Path: "spec.output.transform", Want: "a list of strings"}},
			func(a *v2beta1.AzureKeyVaultSecret) bool {
				return a.Spec.Output.Transform == nil && a.Spec.Output.Secret.Name == "db"
			}},
		{"an optional object of the wrong type", `{"vault":{"name":"kv","object":{"name":"o","type":"secret"}},"output":["` + poison + `"]}`,
			[]v2beta1.UnreadableField{{Path: "spec.output", Want: "an object"}},
			func(a *v2beta1.AzureKeyVaultSecret) bool { return a.Spec.Output == nil }},
		{"a duration Go cannot parse", `{"vault":{"name":"kv","object":{"name":"o","type":"secret"}},"refreshInterval":"1d"}`,
			[]v2beta1.UnreadableField{{Path: "spec.refreshInterval", Want: "a duration such as 90s or 1h"}},
			func(a *v2beta1.AzureKeyVaultSecret) bool { return a.Spec.RefreshInterval == nil }},
		{"several", `{"vault":{"name":7,"object":{"name":"o","type":["secret"],"bool":"yes"}},"output":{"secret":{"name":"db","dataKey":{"k":1}}}}`,
			[]v2beta1.UnreadableField{
				{Path: "spec.vault.name", Want: "a string"},
				{Path: "spec.vault.object.type", Want: "a string"},
				{Path: "spec.vault.object.bool", Want: "true or false"},
				{Path: "spec.output.secret.dataKey", Want: "a string"},
			},
			func(a *v2beta1.AzureKeyVaultSecret) bool {
				return a.Spec.Vault.Object.Name == "o" && a.Spec.Output.Secret.Name == "db"
			}},
		{"no spec at all", `null`, nil, func(a *v2beta1.AzureKeyVaultSecret) bool { return a.Spec.Vault.Name == "" }},
		{"spec not an object", `"` + poison + `"`, []v2beta1.UnreadableField{{Path: "spec", Want: "an object"}}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := &v2beta1.AzureKeyVaultSecret{}
			if err := json.Unmarshal(object(tc.spec, ""), a); err != nil {
				t.Fatalf("unmarshal: %v", err)
			}
			if !reflect.DeepEqual(a.Unreadable, tc.want) {
				t.Errorf("unreadable %+v, want %+v", a.Unreadable, tc.want)
			}
			if a.Name != "db" || a.Namespace != "team-a" || a.Labels["app"] != "db" || a.Kind != "AzureKeyVaultSecret" {
				t.Errorf("metadata lost: %+v %+v", a.TypeMeta, a.ObjectMeta)
			}
			if tc.check != nil && !tc.check(a) {
				t.Errorf("spec decoded as %+v", a.Spec)
			}
			if strings.Contains(v2beta1.Check(a).String(), poison) {
				t.Errorf("a problem quotes the stored value: %s", v2beta1.Check(a))
			}
		})
	}
}

// TestUnmarshalStatusIsBestEffort: a status that does not fit is dropped
// field by field and is no problem of the object (the controller rewrites
// it); metadata that does not fit is an error (the API server never stores
// such metadata, so something else is wrong).
func TestUnmarshalStatusIsBestEffort(t *testing.T) {
	a := &v2beta1.AzureKeyVaultSecret{}
	status := `{"secretName":"db","observedGeneration":"three","conditions":"Ready","lastAzureUpdate":"yesterday"}`
	if err := json.Unmarshal(object(goodSpec, status), a); err != nil {
		t.Fatal(err)
	}
	if a.Status.SecretName != "db" || a.Status.ObservedGeneration != 0 || a.Status.Conditions != nil || a.Status.LastAzureUpdate != nil || a.Unreadable != nil {
		t.Errorf("status %+v, unreadable %+v", a.Status, a.Unreadable)
	}
	bad := []byte(`{"apiVersion":"spv.no/v2beta1","kind":"AzureKeyVaultSecret","metadata":{"name":"db","labels":5},"spec":` + goodSpec + `}`)
	if err := json.Unmarshal(bad, &v2beta1.AzureKeyVaultSecret{}); err == nil {
		t.Error("metadata.labels a number: decoded without an error")
	}
}

// TestUnmarshalReplaces: decoding into an object that was used before
// leaves nothing of it, as client-go's decoders reuse objects.
func TestUnmarshalReplaces(t *testing.T) {
	a := &v2beta1.AzureKeyVaultSecret{}
	if err := json.Unmarshal(object(`{"vault":{"name":"kv","object":{"name":"o","type":"secret","version":1}}}`, `{"secretName":"old"}`), a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(object(`{"vault":{"name":"kv2","object":{"name":"o","type":"key"}}}`, ""), a); err != nil {
		t.Fatal(err)
	}
	if a.Unreadable != nil || a.Status.SecretName != "" || a.Spec.Vault.Name != "kv2" {
		t.Errorf("left over from the first decode: %+v %+v %+v", a.Unreadable, a.Spec, a.Status)
	}
}

// TestListWithAPoisonedItem decodes a list through the codec client-go and
// controller-runtime's informers use: one item that does not fit the types
// does not fail the list, and is marked.
func TestListWithAPoisonedItem(t *testing.T) {
	s := runtime.NewScheme()
	if err := v2beta1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	items := []string{
		string(object(goodSpec, `{"secretName":"db"}`)),
		string(object(`{"vault":{"name":"kv","azureIdentity":{"name":"id"},"object":{"name":"o","type":"secret","version":123}}}`, "")),
		string(object(goodSpec, "")),
	}
	list := `{"apiVersion":"spv.no/v2beta1","kind":"AzureKeyVaultSecretList","metadata":{"resourceVersion":"7"},"items":[` + strings.Join(items, ",") + `]}`
	obj, _, err := serializer.NewCodecFactory(s).UniversalDeserializer().Decode([]byte(list), nil, nil)
	if err != nil {
		t.Fatalf("the list failed: %v", err)
	}
	l := obj.(*v2beta1.AzureKeyVaultSecretList)
	if len(l.Items) != 3 || l.Items[0].Unreadable != nil || l.Items[2].Unreadable != nil || l.Items[0].Status.SecretName != "db" {
		t.Fatalf("items %+v", l.Items)
	}
	if got := v2beta1.Check(&l.Items[1]).String(); got != "spec.vault.object.version cannot be read: want a string" {
		t.Errorf("poisoned item: %q", got)
	}
}

// FuzzUnmarshal: the lenient decoder never panics; it fails only where a
// plain decode fails too (metadata, or JSON that is not an object);
// wherever a plain decode succeeds it gives the same object and no
// unreadable field; and what it gives always encodes to JSON that decodes
// back to itself with nothing unreadable. Unreadable fields name paths of
// the spec and what they must hold, never a value.
func FuzzUnmarshal(f *testing.F) {
	f.Add(object(goodSpec, `{"secretName":"db","conditions":[{"type":"Ready","status":"True","reason":"Synced","message":"m","lastTransitionTime":"2025-06-01T10:00:00Z"}]}`))
	f.Add(object(`{"vault":{"name":"kv","azureIdentity":"id","object":{"name":"o","type":"secret","version":5}},"output":"x"}`, `{"observedGeneration":"x"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		a := &v2beta1.AzureKeyVaultSecret{}
		err := json.Unmarshal(data, a)
		type plainAKVS v2beta1.AzureKeyVaultSecret // decodes with the standard rules
		var p plainAKVS
		duplicates, plainErr := kjson.UnmarshalStrict(data, &p, kjson.DisallowDuplicateFields)
		if err != nil {
			if plainErr == nil {
				t.Fatalf("lenient decode failed where a plain one succeeded: %v", err)
			}
			return
		}
		// A key given twice is merged by a plain decode and taken once here;
		// the API server never stores one.
		if plainErr == nil && len(duplicates) == 0 {
			if a.Unreadable != nil {
				t.Fatalf("unreadable %+v where a plain decode succeeded", a.Unreadable)
			}
			p.Unreadable = nil
			if !reflect.DeepEqual(v2beta1.AzureKeyVaultSecret(p), *a) {
				t.Fatalf("lenient %+v, plain %+v", *a, p)
			}
		}
		for _, u := range a.Unreadable {
			if !unreadablePath.MatchString(u.Path) || !knownWants[u.Want] {
				t.Fatalf("unreadable field %+v", u)
			}
		}
		again, err := json.Marshal(a)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		b := &v2beta1.AzureKeyVaultSecret{}
		if err := json.Unmarshal(again, b); err != nil || b.Unreadable != nil {
			t.Fatalf("the decoded object does not decode again: %v %+v", err, b.Unreadable)
		}
		// Semantic: an empty list is omitted when encoded.
		if !equality.Semantic.DeepEqual(a.Spec, b.Spec) {
			t.Fatalf("spec changed on a round trip: %+v → %+v", a.Spec, b.Spec)
		}
	})
}

var unreadablePath = regexp.MustCompile(`^spec(\.[A-Za-z]+)*$`)

var knownWants = map[string]bool{
	"a string": true, "an object": true, "a list of strings": true, "true or false": true,
	"a duration such as 90s or 1h": true, "an object with a name": true,
}
