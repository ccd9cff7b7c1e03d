package docs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// help is what a tool's --help says about one (sub)command.
type help struct {
	ok          bool            // the command exists
	subcommands map[string]bool // its subcommands
	flags       map[string]bool // each flag (--name and -x), and whether it takes a value
	required    [][]string      // az: each required argument, by all its spellings
	text        string
}

// helpCache runs each distinct --help once per test run (az is slow: about
// three seconds a call).
type helpCache struct {
	mu      sync.Mutex
	entries map[string]*helpEntry
}

type helpEntry struct {
	once sync.Once
	h    help
	err  error
}

var helps = helpCache{entries: map[string]*helpEntry{}}

// get returns the parsed help of tool's subcommand path, running fetch once.
func (c *helpCache) get(key string, fetch func() (help, error)) (help, error) {
	c.mu.Lock()
	e := c.entries[key]
	if e == nil {
		e = &helpEntry{}
		c.entries[key] = e
	}
	c.mu.Unlock()
	e.once.Do(func() { e.h, e.err = fetch() })
	return e.h, e.err
}

// run runs bin with args and returns its combined output and whether it
// exited 0; the environment points at no cluster.
func run(bin string, args ...string) (string, bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	home, err := os.MkdirTemp("", "docs-test-home-")
	if err != nil {
		return "", false, err
	}
	defer func() { _ = os.RemoveAll(home) }()
	cmd.Env = append(os.Environ(), "HOME="+home, "KUBECONFIG="+home+"/kubeconfig",
		"HELM_CACHE_HOME="+home, "HELM_CONFIG_HOME="+home, "HELM_DATA_HOME="+home,
		"AZURE_CONFIG_DIR="+home+"/azure", "AZURE_CORE_COLLECT_TELEMETRY=no", "AZURE_CORE_ONLY_SHOW_ERRORS=yes")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return out.String(), false, nil
	}
	return out.String(), err == nil, err
}

// cobraFlag is a flag line of a cobra command's help (helm, skopeo):
// "  -n, --namespace string   …" or "      --wait   …".
var cobraFlag = regexp.MustCompile(`^\s+(?:(-\w), )?(--[\w-]+)(?: (\S+))?\s{2,}`)

// commandLine is a subcommand line of a command list: "  install   …".
var commandLine = regexp.MustCompile(`^  ([a-z][\w-]*)\s{2,}\S`)

// parseCobra reads a cobra --help (helm, skopeo): subcommands under
// "Available Commands:", flags under "Flags:" and "Global Flags:".
func parseCobra(text string) help {
	h := help{ok: true, subcommands: map[string]bool{}, flags: map[string]bool{}, text: text}
	section := ""
	for _, line := range strings.Split(text, "\n") {
		if line != "" && !strings.HasPrefix(line, " ") {
			section = line
			continue
		}
		switch {
		case strings.Contains(section, "Commands"):
			if m := commandLine.FindStringSubmatch(line); m != nil {
				h.subcommands[m[1]] = true
			}
		case strings.HasSuffix(section, "Flags:"):
			if m := cobraFlag.FindStringSubmatch(line); m != nil {
				takesValue := m[3] != ""
				h.flags[m[2]] = takesValue
				if m[1] != "" {
					h.flags[m[1]] = takesValue
				}
			}
		}
	}
	return h
}

// kubectlFlag is an option line of kubectl's help: "    -f, --filename=[]:".
var kubectlFlag = regexp.MustCompile(`^\s+(?:(-\w), )?(--[\w-]+)=(.*):$`)

// parseKubectl reads kubectl's --help (or `kubectl options`): subcommands
// under every "… Commands …:" header, options under "Options:".
func parseKubectl(text string) help {
	h := help{ok: true, subcommands: map[string]bool{}, flags: map[string]bool{}, text: text}
	section := ""
	for _, line := range strings.Split(text, "\n") {
		if line != "" && !strings.HasPrefix(line, " ") && !strings.HasPrefix(line, "\t") {
			section = line
			continue
		}
		if strings.Contains(section, "Commands") && strings.HasSuffix(section, ":") {
			if m := commandLine.FindStringSubmatch(line); m != nil {
				h.subcommands[m[1]] = true
			}
		}
		if m := kubectlFlag.FindStringSubmatch(line); m != nil {
			takesValue := m[3] != "false" && m[3] != "true"
			h.flags[m[2]] = takesValue
			if m[1] != "" {
				h.flags[m[1]] = takesValue
			}
		}
	}
	return h
}

// azArgument is an argument line of az's help:
// "    --resource-group -g [Required] : Name of …".
var azArgument = regexp.MustCompile(`^    (--[\w-]+)((?: -{1,2}[\w-]+)*)\s+(\[Required\])?\s*:`)

// parseAz reads `az <command> --help`: the arguments of every "… Arguments"
// section, and which are required.
func parseAz(text string) help {
	h := help{ok: strings.Contains(text, "\nCommand\n"), flags: map[string]bool{}, text: text}
	section := ""
	for _, line := range strings.Split(text, "\n") {
		if line != "" && !strings.HasPrefix(line, " ") {
			section = line
			continue
		}
		if !strings.HasSuffix(section, "Arguments") {
			continue
		}
		m := azArgument.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		names := append([]string{m[1]}, strings.Fields(m[2])...)
		for _, n := range names {
			h.flags[n] = true
		}
		if m[3] != "" {
			h.required = append(h.required, names)
		}
	}
	return h
}

// tool is a command-line program the docs run, and how to check its
// commands.
type tool struct {
	name string
	bin  func(t *testing.T) string // "" skips, after saying why
	help func(t *testing.T, bin string, path []string) (help, error)
}

// envTool is a tool built from source by `make test`, found through its
// variable.
func envTool(variable string) func(t *testing.T) string {
	return func(t *testing.T) string {
		t.Helper()
		bin := os.Getenv(variable)
		if bin == "" {
			t.Fatalf("%s is not set; run `make test`, which builds the pinned tools and sets it", variable)
		}
		return bin
	}
}

// debianTool is a tool Debian packages, installed by `make test`
// (hack/docs-tools.sh) when missing and root.
func debianTool(name, pkg string) func(t *testing.T) string {
	return func(t *testing.T) string {
		t.Helper()
		bin, err := exec.LookPath(name)
		if err != nil {
			t.Logf("SKIP %s commands: %s is not installed (Debian package %s; `make docs-tools` installs it as root)", name, name, pkg)
			return ""
		}
		return bin
	}
}

func cobraHelp(_ *testing.T, bin string, path []string) (help, error) {
	out, ok, err := run(bin, append(append([]string{}, path...), "--help")...)
	if err != nil {
		return help{}, err
	}
	h := parseCobra(out)
	h.ok = ok
	return h, nil
}

func kubectlHelp(_ *testing.T, bin string, path []string) (help, error) {
	out, ok, err := run(bin, append(append([]string{}, path...), "--help")...)
	if err != nil {
		return help{}, err
	}
	h := parseKubectl(out)
	h.ok = ok
	global, err := helps.get("kubectl options", func() (help, error) {
		out, _, err := run(bin, "options")
		return parseKubectl(out), err
	})
	if err != nil {
		return help{}, err
	}
	for f, v := range global.flags {
		h.flags[f] = v
	}
	return h, nil
}

// prefetchAz reads the help of every az command of paths in one process
// (testdata/azhelp.py, run by the interpreter of the az script): each az
// start costs seconds, mostly loading Python and the command's module.
// Commands it cannot answer are left to azHelp.
func prefetchAz(t *testing.T, bin string, paths [][]string) {
	t.Helper()
	b, err := os.ReadFile(bin)
	if err != nil {
		return
	}
	first, _, _ := strings.Cut(string(b), "\n")
	python, ok := strings.CutPrefix(first, "#!")
	if !ok || !strings.Contains(python, "python") {
		return
	}
	var in strings.Builder
	for _, p := range paths {
		in.WriteString(strings.Join(p, " ") + "\n")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, strings.TrimSpace(python), "testdata/azhelp.py")
	home := t.TempDir()
	cmd.Env = append(os.Environ(), "HOME="+home, "AZURE_CONFIG_DIR="+home+"/azure", "AZURE_CORE_COLLECT_TELEMETRY=no", "AZ_INSTALLER=DEB")
	cmd.Stdin = strings.NewReader(in.String())
	out, err := cmd.Output()
	if err != nil {
		t.Logf("az help in one process failed (%v); asking az per command", err)
		return
	}
	for _, chunk := range strings.Split(string(out), "\x00=== ")[1:] {
		head, text, _ := strings.Cut(chunk, "\n")
		i := strings.LastIndex(head, " ")
		path, code := head[:i], head[i+1:]
		h := parseAz(text)
		h.ok = h.ok && code == "0"
		_, _ = helps.get("az "+path, func() (help, error) { return h, nil })
	}
}

func azHelp(_ *testing.T, bin string, path []string) (help, error) {
	out, ok, err := run(bin, append(append([]string{}, path...), "--help")...)
	if err != nil {
		return help{}, err
	}
	h := parseAz(out)
	h.ok = ok && h.ok
	return h, nil
}

var tools = map[string]tool{
	"helm":    {name: "helm", bin: envTool("LATCHKEY_HELM"), help: cobraHelp},
	"kubectl": {name: "kubectl", bin: envTool("TEST_ASSET_KUBECTL"), help: kubectlHelp},
	"az":      {name: "az", bin: debianTool("az", "azure-cli"), help: azHelp},
	"skopeo":  {name: "skopeo", bin: debianTool("skopeo", "skopeo"), help: cobraHelp},
}

// parsed is a command line split by its tool's help: the subcommand path,
// the flags given (name → value, "" for a flag without one) and the
// positional arguments.
type parsed struct {
	path        []string
	flags       []flagUse
	positionals []string
	help        help
}

type flagUse struct{ name, value string }

func (p parsed) flag(names ...string) (string, bool) {
	for _, f := range p.flags {
		for _, n := range names {
			if f.name == n {
				return f.value, true
			}
		}
	}
	return "", false
}

func (p parsed) all(names ...string) []string {
	var out []string
	for _, f := range p.flags {
		for _, n := range names {
			if f.name == n {
				out = append(out, f.value)
			}
		}
	}
	return out
}

// parseArgs walks args (without the tool's name) as the tool would: a
// word naming a subcommand of the path so far extends the path, a flag
// known to take a value takes the next word unless it has "=". az has no
// positional arguments: its path is every word before the first flag.
// Each problem (an unknown subcommand or flag) is returned.
func parseArgs(t *testing.T, tl tool, bin string, args []string) (parsed, []string) {
	t.Helper()
	var p parsed
	var problems []string
	key := func() string { return tl.name + " " + strings.Join(p.path, " ") }
	fetch := func() help {
		h, err := helps.get(key(), func() (help, error) { return tl.help(t, bin, p.path) })
		if err != nil {
			t.Fatalf("%s --help: %v", key(), err)
		}
		return h
	}
	if tl.name == "az" {
		for len(args) > 0 && !strings.HasPrefix(args[0], "-") {
			p.path = append(p.path, args[0])
			args = args[1:]
		}
	}
	h := fetch()
	if !h.ok {
		return p, []string{fmt.Sprintf("`%s` is not a command", key())}
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			p.positionals = append(p.positionals, args[i+1:]...)
			break
		}
		if strings.HasPrefix(a, "-") && a != "-" {
			name, value, hasValue := strings.Cut(a, "=")
			takesValue, known := h.flags[name]
			if !known {
				problems = append(problems, fmt.Sprintf("`%s` has no flag %s", key(), name))
			}
			if (takesValue || tl.name == "az") && !hasValue && i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
				i++
				value = args[i]
			}
			p.flags = append(p.flags, flagUse{name: name, value: value})
			continue
		}
		if tl.name != "az" && len(p.positionals) == 0 && h.subcommands[a] {
			p.path = append(p.path, a)
			if h = fetch(); !h.ok {
				return p, append(problems, fmt.Sprintf("`%s` is not a command", key()))
			}
			continue
		}
		p.positionals = append(p.positionals, a)
	}
	p.help = h
	if tl.name != "az" && len(h.subcommands) > 0 && len(p.path) == 0 {
		problems = append(problems, fmt.Sprintf("`%s` names no subcommand", key()))
	}
	for _, req := range h.required {
		if _, ok := p.flag(req...); !ok {
			problems = append(problems, fmt.Sprintf("`%s` needs %s", key(), req[0]))
		}
	}
	return p, problems
}

func TestHelpParsers(t *testing.T) {
	cobra := parseCobra(`Usage:
  helm upgrade [RELEASE] [CHART] [flags]

Available Commands:
  install     install a chart

Flags:
      --force-conflicts        if set server-side apply will force changes
  -f, --values strings         specify values in a YAML file
      --server-side string     must be "true", "false" or "auto"

Global Flags:
  -n, --namespace string   namespace scope for this request
`)
	for f, v := range map[string]bool{"--force-conflicts": false, "-f": true, "--values": true, "--server-side": true, "-n": true, "--namespace": true} {
		if got, ok := cobra.flags[f]; !ok || got != v {
			t.Errorf("cobra %s: %v %v, want %v", f, got, ok, v)
		}
	}
	if !cobra.subcommands["install"] || len(cobra.subcommands) != 1 {
		t.Errorf("cobra subcommands %v", cobra.subcommands)
	}
	k := parseKubectl(`Basic Commands (Beginner):
  create          Create a resource from a file or from stdin

Options:
    --server-side=false:
	If true, apply runs in the server.

    -f, --filename=[]:
	The files.
`)
	if !k.subcommands["create"] || k.flags["--server-side"] || !k.flags["-f"] || !k.flags["--filename"] {
		t.Errorf("kubectl %+v", k)
	}
	az := parseAz(`
Command
    az aks update : Update a managed Kubernetes cluster.

Arguments
    --name -n           [Required] : Name of the managed cluster.
    --attach-acr                   : Grant the 'acrpull' role assignment to the ACR
                                     specified by name or resource ID.

Global Arguments
    --debug                        : Increase logging verbosity.
`)
	if !az.ok || !az.flags["-n"] || !az.flags["--attach-acr"] || !az.flags["--debug"] || len(az.required) != 1 || az.required[0][1] != "-n" {
		t.Errorf("az %+v", az)
	}
}
