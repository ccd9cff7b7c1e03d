package docs

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// azureRole is a built-in role definition's permissions, as Azure
// publishes them (testdata/azure-roles.json).
type azureRole struct {
	RoleName    string   `json:"roleName"`
	Name        string   `json:"name"`
	Actions     []string `json:"actions"`
	DataActions []string `json:"dataActions"`
}

func azureRoles(t *testing.T) []azureRole {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "azure-roles.json"))
	if err != nil {
		t.Fatal(err)
	}
	var f struct{ Roles []azureRole }
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	return f.Roles
}

// grants: one of patterns (Azure's, where * matches any run of characters)
// covers action.
func grants(patterns []string, action string) bool {
	for _, p := range patterns {
		re := "^" + strings.ReplaceAll(regexp.QuoteMeta(p), `\*`, ".*") + "$"
		if regexp.MustCompile("(?i)" + re).MatchString(action) {
			return true
		}
	}
	return false
}

// subset: every element of a is in b.
func subset(a, b []string) bool {
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}

// TestKeyVaultRoles checks the guide's least-privilege table against the
// built-in role definitions: the role named for each object type grants the
// data action that type needs, no built-in role that grants it holds a
// strict subset of that role's permissions (it would be narrower), and
// every other built-in role that grants it is named in the section with
// what it also allows. The guide's description of "Key Vault Certificate
// User" names each of its data actions.
func TestKeyVaultRoles(t *testing.T) {
	roles := azureRoles(t)
	byName := map[string]azureRole{}
	for _, r := range roles {
		byName[r.RoleName] = r
	}
	page := readPage(t, "docs/install-aks.md")
	start := strings.Index(page, "### Key Vault access")
	if start < 0 {
		t.Fatal("docs/install-aks.md has no Key Vault access section")
	}
	section := page[start:]
	if end := strings.Index(section[1:], "\n### "); end > 0 {
		section = section[:end+1]
	}
	bold := regexp.MustCompile(`\*\*([^*]+)\*\*`)
	rows := 0
	for _, line := range strings.Split(section, "\n") {
		cells := strings.Split(strings.Trim(line, "| "), " | ")
		if !strings.HasPrefix(line, "| `") || len(cells) != 5 {
			continue
		}
		rows++
		action := strings.Trim(cells[2], "`")
		m := bold.FindStringSubmatch(cells[3])
		if m == nil {
			t.Errorf("row %q names no role in bold", cells[0])
			continue
		}
		chosen, ok := byName[m[1]]
		if !ok {
			t.Errorf("row %q: %q is not a role of testdata/azure-roles.json", cells[0], m[1])
			continue
		}
		if !grants(chosen.DataActions, action) {
			t.Errorf("row %q: %s does not grant %s", cells[0], chosen.RoleName, action)
		}
		for _, r := range roles {
			if r.RoleName == chosen.RoleName || !grants(r.DataActions, action) {
				continue
			}
			if subset(r.DataActions, chosen.DataActions) && subset(r.Actions, chosen.Actions) {
				t.Errorf("row %q: %s is narrower than %s and grants %s", cells[0], r.RoleName, chosen.RoleName, action)
			}
			if !strings.Contains(section, `"`+r.RoleName+`"`) && !strings.Contains(section, "**"+r.RoleName+"**") {
				t.Errorf("row %q: %s also grants %s; the section does not say what else it allows", cells[0], r.RoleName, action)
			}
		}
	}
	if rows != 4 {
		t.Errorf("%d rows in the table, want one per object type and output (4)", rows)
	}
	cu := byName["Key Vault Certificate User"]
	for _, a := range cu.DataActions {
		if short := strings.TrimPrefix(a, "Microsoft.KeyVault/vaults/"); !strings.Contains(section, "`"+short+"`") {
			t.Errorf("the guide's description of %s misses its data action %s", cu.RoleName, a)
		}
	}
}

func TestGrants(t *testing.T) {
	for _, c := range []struct {
		patterns []string
		action   string
		want     bool
	}{
		{[]string{"Microsoft.KeyVault/vaults/*/read"}, "Microsoft.KeyVault/vaults/keys/read", true},
		{[]string{"Microsoft.KeyVault/vaults/*/read"}, "Microsoft.KeyVault/vaults/secrets/getSecret/action", false},
		{[]string{"Microsoft.KeyVault/vaults/secrets/getSecret/action"}, "Microsoft.KeyVault/vaults/secrets/getSecret/action", true},
		{[]string{"Microsoft.KeyVault/vaults/keys/read"}, "Microsoft.KeyVault/vaults/certificates/read", false},
	} {
		if got := grants(c.patterns, c.action); got != c.want {
			t.Errorf("grants(%q, %s) = %v, want %v", c.patterns, c.action, got, c.want)
		}
	}
}
