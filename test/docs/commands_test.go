package docs

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// workdir is where a page's commands run: the chart's README speaks from
// the chart's folder, every other page from the repository's root.
func workdir(page string) string {
	if page == "charts/latchkey/README.md" {
		return filepath.Join(root, "charts/latchkey")
	}
	return root
}

// newerAz are az flags the docs use that Debian's Azure CLI (2.45) lacks;
// the page must say which Azure CLI they need.
var newerAz = []struct{ command, flag, version string }{
	{"az aks update", "--enable-workload-identity", "Azure CLI 2.47"},
}

// builtinRoles are the Azure built-in roles the docs assign (role
// definitions as Azure publishes them; a custom role must be defined on
// the page that assigns it).
var builtinRoles = []string{"Key Vault Secrets User", "AcrPull", "Managed Identity Operator"}

// untooled are commands that only shape other commands' input or output.
var untooled = []string{"cat", "grep"}

// TestCommands checks every command of every page against its tool.
func TestCommands(t *testing.T) {
	t.Parallel()
	start := time.Now()
	var (
		mu    sync.Mutex
		count = map[string]int{}
		wg    sync.WaitGroup
		slots = make(chan struct{}, 4) // az takes seconds per --help; run a few at once
	)
	if bin := tools["az"].bin(t); bin != "" {
		var paths [][]string
		for _, page := range pages {
			for _, c := range parseScript(t, page, readBlocks(t, page)).commands {
				if c.args[0] == "az" {
					var path []string
					for _, a := range c.args[1:] {
						if strings.HasPrefix(a, "-") {
							break
						}
						path = append(path, a)
					}
					paths = append(paths, path)
				}
			}
		}
		prefetchAz(t, bin, paths)
		t.Logf("az help of %d commands in %s", len(paths), time.Since(start).Round(time.Millisecond))
	}
	for _, page := range pages {
		blocks := readBlocks(t, page)
		s := parseScript(t, page, blocks)
		text := readPage(t, page)
		for _, c := range s.commands {
			name := c.args[0]
			if slices.Contains(untooled, name) {
				continue
			}
			wg.Add(1)
			slots <- struct{}{}
			go func() {
				defer func() { <-slots; wg.Done() }()
				problems, checked := checkOne(t, page, text, s, c)
				mu.Lock()
				defer mu.Unlock()
				if checked {
					count[name]++
				}
				for _, pr := range problems {
					t.Errorf("%s\n\t%s", c, pr)
				}
			}()
		}
		for _, h := range s.heredocs {
			checkHeredoc(t, h)
		}
	}
	wg.Wait()
	t.Logf("checked %v in %s", count, time.Since(start).Round(time.Millisecond))
}

// checkOne checks one command with its tool; checked is false when the
// tool is not installed (it says so).
func checkOne(t *testing.T, page, text string, s script, c command) (problems []string, checked bool) {
	t.Helper()
	name := c.args[0]
	switch name {
	case "make":
		return checkMake(t, c), true
	case "helm", "kubectl", "az", "skopeo":
		tl := tools[name]
		bin := tl.bin(t)
		if bin == "" {
			return nil, false
		}
		p, ps := parseArgs(t, tl, bin, c.args[1:])
		return checkCommand(t, name, bin, page, text, s, c, p, ps), true
	}
	return []string{fmt.Sprintf("no test checks the command %q", name)}, true
}

// checkCommand checks what the help cannot: flags newer than the tested
// az, files the command reads, az role names, and what can run without a
// cluster (helm template, kubectl create --dry-run=client).
func checkCommand(t *testing.T, name, bin, page, text string, s script, c command, p parsed, problems []string) []string {
	t.Helper()
	var out []string
	key := name + " " + strings.Join(p.path, " ")
	// A flag the tested az lacks is allowed when the page names the
	// Azure CLI that has it; parseArgs reported it as unknown.
	for _, pr := range problems {
		for _, n := range newerAz {
			if pr == fmt.Sprintf("`%s` has no flag %s", n.command, n.flag) && !strings.Contains(text, n.version) {
				out = append(out, fmt.Sprintf("%s needs %s, which the page does not say", n.flag, n.version))
			}
		}
	}
	if len(problems) > 0 {
		out = append(out, filterNewerAz(problems)...)
		problems = nil
	}
	if name == "kubectl" || (name == "helm" && !slices.Contains([]string{"install", "upgrade", "template"}, first(p.path))) {
		for _, f := range p.all("-f", "--filename") {
			out = append(out, checkFile(page, text, f)...)
		}
	}
	switch key {
	case "helm install", "helm upgrade", "helm template":
		out = append(out, helmTemplate(t, bin, page, text, p)...)
	case "kubectl create namespace", "kubectl create secret generic":
		out = append(out, kubectlDryRun(t, bin, page, c, p)...)
	case "az role assignment create":
		role, _ := p.flag("--role")
		if !slices.Contains(builtinRoles, role) && !definedRole(s, role) {
			out = append(out, fmt.Sprintf("role %q is neither a built-in role the docs use (%v) nor defined on the page", role, builtinRoles))
		}
	case "az role definition create":
		def, _ := p.flag("--role-definition")
		if !slices.ContainsFunc(s.heredocs, func(h heredoc) bool { return "@"+h.file == def }) {
			out = append(out, fmt.Sprintf("--role-definition %s is no file the page writes", def))
		}
	}
	return out
}

// filterNewerAz drops the unknown-flag problems newerAz allows.
func filterNewerAz(problems []string) []string {
	var out []string
	for _, pr := range problems {
		if !slices.ContainsFunc(newerAz, func(n struct{ command, flag, version string }) bool {
			return pr == fmt.Sprintf("`%s` has no flag %s", n.command, n.flag)
		}) {
			out = append(out, pr)
		}
	}
	return out
}

func first(path []string) string {
	if len(path) == 0 {
		return ""
	}
	return path[0]
}

// checkFile: a file a command reads exists, or is the user's own file the
// page names (`my-values.yaml`).
func checkFile(page, text, f string) []string {
	if _, err := os.Stat(filepath.Join(workdir(page), f)); err == nil {
		return nil
	}
	if strings.Contains(text, "`"+f+"`") {
		return nil
	}
	return []string{fmt.Sprintf("reads %s, which neither exists nor is a file the page tells the user to write", f)}
}

// helmTemplate renders what a documented helm install or upgrade would
// apply (no cluster: nothing to look up), with its --set values, so the
// chart, its schema and the values' names are checked.
func helmTemplate(t *testing.T, bin, page, text string, p parsed) []string {
	t.Helper()
	if len(p.positionals) < 2 {
		return []string{"want a release name and a chart"}
	}
	release, chart := p.positionals[0], p.positionals[1]
	var out []string
	if _, err := os.Stat(filepath.Join(workdir(page), chart)); err != nil {
		return []string{fmt.Sprintf("chart %s does not exist", chart)}
	}
	args := []string{"template", release, filepath.Join(workdir(page), chart)}
	if ns, ok := p.flag("-n", "--namespace"); ok {
		args = append(args, "--namespace", ns)
	}
	for _, f := range p.flags {
		switch f.name {
		case "--set", "--set-string":
			args = append(args, f.name, f.value)
		case "-f", "--values":
			if path := filepath.Join(workdir(page), f.value); fileExists(path) {
				args = append(args, "-f", path)
			} else {
				out = append(out, checkFile(page, text, f.value)...)
			}
		}
	}
	if o, ok, err := run(bin, args...); err != nil || !ok {
		out = append(out, fmt.Sprintf("helm %s: %v\n%s", strings.Join(args, " "), err, o))
	}
	return out
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// kubectlDryRun runs a documented `kubectl create` client-side: its
// arguments (literal and file sources, names) must be ones kubectl takes.
// A file source the user supplies (a placeholder) is an empty file here.
func kubectlDryRun(t *testing.T, bin, page string, c command, p parsed) []string {
	t.Helper()
	args := slices.Clone(c.args[1:])
	for i, a := range args {
		if v, ok := strings.CutPrefix(a, "--from-file="); ok {
			key, path, found := strings.Cut(v, "=")
			if !found {
				path, key = key, filepath.Base(key)
			}
			if !fileExists(filepath.Join(workdir(page), path)) {
				f := filepath.Join(t.TempDir(), "file")
				if err := os.WriteFile(f, nil, 0o600); err != nil {
					t.Fatal(err)
				}
				args[i] = "--from-file=" + key + "=" + f
			}
		}
	}
	if _, ok := p.flag("--dry-run"); !ok {
		args = append(args, "--dry-run=client", "-o", "yaml")
	}
	if o, ok, err := run(bin, args...); err != nil || !ok {
		return []string{fmt.Sprintf("kubectl %s: %v\n%s", strings.Join(args, " "), err, o)}
	}
	return nil
}

// definedRole: a heredoc of the page defines a custom role of that name.
func definedRole(s script, name string) bool {
	for _, h := range s.heredocs {
		var def struct{ Name string }
		if json.Unmarshal([]byte(h.text), &def) == nil && def.Name == name {
			return true
		}
	}
	return false
}

// keyVaultDataActions are the Key Vault data actions a custom role of the
// docs may hold: read-only ones.
var keyVaultDataActions = []string{
	"Microsoft.KeyVault/vaults/keys/read",
	"Microsoft.KeyVault/vaults/certificates/read",
	"Microsoft.KeyVault/vaults/secrets/getSecret/action",
}

// checkHeredoc: a JSON file the docs write is an Azure custom role
// definition granting only read data actions, with no control-plane action.
func checkHeredoc(t *testing.T, h heredoc) {
	t.Helper()
	if !strings.HasSuffix(h.file, ".json") {
		t.Errorf("%s: %s: no test checks this file", h.b, h.file)
		return
	}
	var def struct {
		Name, Description                                string
		IsCustom                                         bool
		Actions, NotActions, DataActions, NotDataActions []string
		AssignableScopes                                 []string
	}
	dec := json.NewDecoder(strings.NewReader(h.text))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&def); err != nil {
		t.Errorf("%s: %s is not a role definition: %v", h.b, h.file, err)
		return
	}
	if def.Name == "" || !def.IsCustom || len(def.AssignableScopes) == 0 || len(def.DataActions) == 0 {
		t.Errorf("%s: %s lacks Name, IsCustom, AssignableScopes or DataActions: %+v", h.b, h.file, def)
	}
	if len(def.Actions) > 0 {
		t.Errorf("%s: %s grants control-plane actions %v", h.b, h.file, def.Actions)
	}
	for _, a := range def.DataActions {
		if !slices.Contains(keyVaultDataActions, a) {
			t.Errorf("%s: %s grants %s, not a read of public material", h.b, h.file, a)
		}
	}
}

// makeTarget is a target line of the Makefile.
var makeTarget = regexp.MustCompile(`(?m)^([a-zA-Z][\w-]*):`)

// checkMake: the target exists and each VAR= is a variable it reads.
func checkMake(t *testing.T, c command) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	mk := string(b)
	targets := map[string]bool{}
	for _, m := range makeTarget.FindAllStringSubmatch(mk, -1) {
		targets[m[1]] = true
	}
	var out []string
	for _, a := range c.args[1:] {
		if name, _, ok := strings.Cut(a, "="); ok {
			if !strings.Contains(mk, "$("+name+")") {
				out = append(out, fmt.Sprintf("the Makefile reads no variable %s", name))
			}
			continue
		}
		if !targets[a] {
			out = append(out, fmt.Sprintf("the Makefile has no target %s", a))
		}
	}
	return out
}

// TestCheckersCatchMistakes: each kind of mistake a page could hold is
// reported (and a right command is not).
func TestCheckersCatchMistakes(t *testing.T) {
	t.Parallel()
	page := "docs/install-aks.md"
	cases := []struct {
		line, want string // want "" : no problem
	}{
		{"helm upgrade latchkey charts/latchkey -n latchkey --reuse-values --set certManager.enabled=true", ""},
		{"helm upgrade latchkey charts/latchkey -n latchkey --force-conflict", "has no flag --force-conflict"},
		{"helm upgrade latchkey charts/latchkey -n latchkey --set certManager.enabld=true", "helm template"},
		{"helm instal latchkey charts/latchkey", "names no subcommand"},
		{"kubectl -n latchkey create secret generic s --from-literal=A=b", ""},
		{"kubectl -n latchkey create secret generic s --from-literl=A=b", "has no flag --from-literl"},
		{"kubectl -n latchkey create secret generic s --from-literal=A", "invalid literal source"},
		{"kubectl apply --server-side -f charts/latchkey/crd/", "neither exists"},
		{"make images VERSIONS=v1", "no variable VERSIONS"},
		{"make imagez", "no target imagez"},
		{"az aks update -g rg -n aks --attach-acr r", ""},
		{"az aks update -g rg -n aks --atach-acr r", "has no flag --atach-acr"},
		{"az aks update -g rg --attach-acr r", "needs --name"},
		{"az aks updat -g rg -n aks", "is not a command"},
		{"az aks update -g rg -n aks --enable-workload-identity", ""}, // the page says Azure CLI 2.47
		{"az role assignment create --assignee-object-id x --role \"Key Vault Secret User\" --scope s", "neither a built-in role"},
		{"skopeo copy --all a b", ""},
		{"skopeo copy --al a b", "has no flag --al"},
		{"curl https://example.com", "no test checks the command"},
	}
	text := readPage(t, page)
	for _, tc := range cases {
		t.Run(tc.line, func(t *testing.T) {
			b := block{page: page, lang: "sh", text: tc.line + "\n"}
			s := parseScript(t, page, []block{b})
			problems, checked := checkOne(t, page, text, s, s.commands[0])
			if !checked {
				t.Skip("tool not installed")
			}
			got := strings.Join(problems, "\n")
			if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
				t.Errorf("problems %q, want %q", got, tc.want)
			}
		})
	}
}
