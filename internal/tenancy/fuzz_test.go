package tenancy

import (
	"reflect"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// FuzzParse: any file the admin mounts parses without panicking; a policy
// that parses is valid, reads back the same once written out, and decides
// the same whatever the case of vault and object names (Key Vault's names
// are case-insensitive). Seed corpus in testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	f.Add([]byte("defaultAllow: false\nnamespaces:\n  team-a:\n    - vault: kv-team-a\n      objects: [app-*]\n  team-b:\n    - vault: \"*\"\n"), "team-a", "KV-Team-A", "App-DB")
	f.Fuzz(func(t *testing.T, data []byte, ns, vault, object string) {
		p, err := Parse(data)
		if err != nil {
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("Parse accepted a policy Validate refuses: %v", err)
		}
		out, err := yaml.Marshal(p)
		if err != nil {
			t.Fatalf("a parsed policy does not marshal: %v", err)
		}
		again, err := Parse(out)
		if err != nil {
			t.Fatalf("the policy written out does not parse: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(normalized(p), normalized(again)) {
			t.Fatalf("round trip changed the policy:\n%+v\n%+v", p, again)
		}
		for n := range p.Namespaces {
			ns = n // a namespace the policy names, now and then
			break
		}
		allowed := p.Allows(ns, vault, object)
		if p.Allows(ns, strings.ToUpper(vault), strings.ToUpper(object)) != allowed ||
			p.Allows(ns, strings.ToLower(vault), strings.ToLower(object)) != allowed {
			t.Fatalf("Allows(%q, %q, %q) depends on the case of the names", ns, vault, object)
		}
	})
}

// normalized treats an empty and an absent list or map alike.
func normalized(p *Policy) Policy {
	out := Policy{DefaultAllow: p.DefaultAllow}
	if len(p.Namespaces) > 0 {
		out.Namespaces = map[string][]Grant{}
		for ns, gs := range p.Namespaces {
			var norm []Grant
			for _, g := range gs {
				if len(g.Objects) == 0 {
					g.Objects = nil
				}
				norm = append(norm, g)
			}
			out.Namespaces[ns] = norm
		}
	}
	return out
}
