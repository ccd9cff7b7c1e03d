package docs

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"mvdan.cc/sh/v3/syntax"
)

// command is one simple command of a shell block, its words rendered with
// what the shell would fill in left as "$NAME" (a variable) or "$(…)" (a
// command substitution).
type command struct {
	b    block
	line uint
	args []string
}

func (c command) String() string {
	return fmt.Sprintf("%s:%d: %s", c.b.page, c.b.line+int(c.line), strings.Join(c.args, " "))
}

// heredoc is a file a block writes with `cat > file <<EOF`.
type heredoc struct {
	b    block
	file string
	text string
}

// script is what the shell blocks of one page hold.
type script struct {
	commands []command
	heredocs []heredoc
	// loops maps a for-loop variable to the words it iterates over.
	loops map[string][]string
	// undefined are variables used before the page assigns them.
	undefined []string
}

// parseScript parses the page's shell blocks in order. A variable must be
// assigned (VAR=…, or a for loop) before any block uses it: every value a
// command needs comes from a step on the page.
func parseScript(t *testing.T, page string, blocks []block) script {
	t.Helper()
	s := script{loops: map[string][]string{}}
	defined := map[string]bool{}
	parser := syntax.NewParser(syntax.Variant(syntax.LangBash), syntax.KeepComments(false))
	for _, b := range blocks {
		if b.lang != "sh" {
			continue
		}
		f, err := parser.Parse(strings.NewReader(b.text), b.String())
		if err != nil {
			t.Errorf("%s: not a shell script: %v", b, err)
			continue
		}
		syntax.Walk(f, func(node syntax.Node) bool {
			switch n := node.(type) {
			case *syntax.Assign:
				defined[n.Name.Value] = true
			case *syntax.ForClause:
				if it, ok := n.Loop.(*syntax.WordIter); ok {
					defined[it.Name.Value] = true
					for _, w := range it.Items {
						s.loops[it.Name.Value] = append(s.loops[it.Name.Value], wordString(w))
					}
				}
			case *syntax.ParamExp:
				if name := n.Param.Value; !defined[name] {
					s.undefined = append(s.undefined, fmt.Sprintf("%s: $%s is used before the page assigns it", b, name))
				}
			case *syntax.Stmt:
				call, ok := n.Cmd.(*syntax.CallExpr)
				if !ok || len(call.Args) == 0 || wordString(call.Args[0]) != "cat" {
					break
				}
				var file, text string
				for _, r := range n.Redirs {
					switch r.Op {
					case syntax.RdrOut:
						file = wordString(r.Word)
					case syntax.Hdoc, syntax.DashHdoc:
						text = wordString(r.Hdoc)
					}
				}
				if file != "" && text != "" {
					s.heredocs = append(s.heredocs, heredoc{b: b, file: file, text: text})
				}
			case *syntax.CallExpr:
				if len(n.Args) == 0 {
					break
				}
				c := command{b: b, line: n.Pos().Line()}
				for _, w := range n.Args {
					c.args = append(c.args, wordString(w))
				}
				s.commands = append(s.commands, c)
			}
			return true
		})
	}
	return s
}

// wordString renders a shell word as the shell would see it after quote
// removal, with expansions left as "$NAME" or "$(…)".
func wordString(w *syntax.Word) string {
	if w == nil {
		return ""
	}
	var sb strings.Builder
	for _, p := range w.Parts {
		writePart(&sb, p)
	}
	return sb.String()
}

func writePart(sb *strings.Builder, p syntax.WordPart) {
	switch x := p.(type) {
	case *syntax.Lit:
		sb.WriteString(x.Value)
	case *syntax.SglQuoted:
		sb.WriteString(x.Value)
	case *syntax.DblQuoted:
		for _, q := range x.Parts {
			writePart(sb, q)
		}
	case *syntax.ParamExp:
		sb.WriteString("$" + x.Param.Value)
	case *syntax.CmdSubst:
		sb.WriteString("$(…)")
	default:
		sb.WriteString("…")
	}
}

// expand returns word with each loop variable it names replaced by each of
// the loop's values (one result without loop variables).
func (s script) expand(word string) []string {
	out := []string{word}
	for name, values := range s.loops {
		ref := "$" + name
		var next []string
		for _, w := range out {
			if !strings.Contains(w, ref) {
				next = append(next, w)
				continue
			}
			for _, v := range values {
				next = append(next, strings.ReplaceAll(w, ref, v))
			}
		}
		out = next
	}
	return out
}

func TestVariablesAreAssignedBeforeUse(t *testing.T) {
	for page, blocks := range allBlocks(t) {
		for _, u := range parseScript(t, page, blocks).undefined {
			t.Error(u)
		}
	}
}

// TestParseScript: the parser sees every command, including those in
// command substitutions, pipelines and loops, and expands loop variables.
func TestParseScript(t *testing.T) {
	b := block{page: "x.md", lang: "sh", text: `A=$(az aks show -g rg --query id -o tsv)
for c in one two; do
  az acr import -n r --source "ghcr.io/x/$c:v1" --image "x/$c:v1"
done
az acr login -n r --expose-token | skopeo login r --password-stdin
cat > f.json <<EOF
{"a": "$A"}
EOF
echo $UNSET
`}
	s := parseScript(t, "x.md", []block{b})
	var got []string
	for _, c := range s.commands {
		got = append(got, strings.Join(c.args, " "))
	}
	want := []string{
		"az aks show -g rg --query id -o tsv",
		`az acr import -n r --source ghcr.io/x/$c:v1 --image x/$c:v1`,
		"az acr login -n r --expose-token",
		"skopeo login r --password-stdin",
		"cat",
		"echo $UNSET",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("commands:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if e := s.expand("x/$c:v1"); strings.Join(e, ",") != "x/one:v1,x/two:v1" {
		t.Errorf("expand = %v", e)
	}
	if len(s.heredocs) != 1 || s.heredocs[0].file != "f.json" || !strings.Contains(s.heredocs[0].text, `"$A"`) {
		t.Errorf("heredocs = %+v", s.heredocs)
	}
	if len(s.undefined) != 1 || !strings.Contains(s.undefined[0], "$UNSET") {
		t.Errorf("undefined = %v", s.undefined)
	}
}

// namespaceOf is the namespace a kubectl or helm command names
// (-n/--namespace), or "".
func namespaceOf(args []string) string {
	for i, a := range args {
		if (a == "-n" || a == "--namespace") && i+1 < len(args) {
			return args[i+1]
		}
		if v, ok := strings.CutPrefix(a, "--namespace="); ok {
			return v
		}
	}
	return ""
}

// TestNamespaceBeforeUse: in the install guide, each command that creates
// something in latchkey's namespace (a Secret, the release) comes after the
// step that creates the namespace, or creates it itself (helm's
// --create-namespace): a user following the page in order never meets
// "namespace not found".
func TestNamespaceBeforeUse(t *testing.T) {
	s := parseScript(t, guide, readBlocks(t, guide))
	created := map[string]bool{}
	for _, c := range s.commands {
		tool, verb := c.args[0], ""
		var words []string
		for i := 1; i < len(c.args); i++ {
			switch a := c.args[i]; {
			case a == "-n" || a == "--namespace":
				i++ // its value
			case !strings.HasPrefix(a, "-"):
				words = append(words, a)
			}
		}
		if len(words) > 0 {
			verb = words[0]
		}
		ns := namespaceOf(c.args)
		switch {
		case tool == "kubectl" && verb == "create" && len(words) > 2 && (words[1] == "namespace" || words[1] == "ns"):
			created[words[2]] = true
		case tool == "kubectl" && (verb == "create" || verb == "apply") && ns != "":
			if !created[ns] {
				t.Errorf("%s: creates in namespace %s before the guide creates it", c, ns)
			}
		case tool == "helm" && verb == "install":
			if ns == "" {
				t.Errorf("%s: names no namespace", c)
			} else if !created[ns] && !slices.Contains(c.args, "--create-namespace") {
				t.Errorf("%s: installs into namespace %s before the guide creates it", c, ns)
			}
		}
	}
	if !created[guideNamespace] {
		t.Errorf("the guide never creates the namespace %s", guideNamespace)
	}
}
