// Package docs checks the documentation against what it documents: every
// shell command in docs/, the README and the chart's README is parsed and
// checked against the tool it runs (helm and kubectl as the project pins
// them, az and skopeo as Debian packages them: the subcommand exists, every
// flag exists, az's required arguments are given, and commands that can run
// without a cluster run: `helm template` for install and upgrade, `kubectl
// create --dry-run=client`); every values snippet renders with the chart and
// its schema; every manifest decodes strictly into its type; and what the
// pages name (ServiceAccounts and federated credential subjects, Secrets,
// ports, images and tags) is what the chart renders; every link between
// pages reaches a file and a heading; and the guide's least-privilege table
// agrees with Azure's built-in role definitions (testdata/azure-roles.json).
package docs

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// root is the repository, relative to this package.
const root = "../.."

// pages are the documents users read.
var pages = []string{
	"README.md",
	"charts/latchkey/README.md",
	"docs/install-aks.md",
	"docs/migrate-from-akv2k8s.md",
	"docs/reference.md",
	"docs/troubleshooting.md",
	"docs/threat-model.md",
	"docs/vault.md",
	"docs/rollouts.md",
	"docs/design/injection.md",
}

// block is one fenced code block of a page.
type block struct {
	page    string
	line    int    // of the opening fence
	lang    string // the fence's info string: sh, yaml, …
	marker  string // a <!-- docs-test: … --> comment right before the fence
	heading string // the section it is in
	text    string
}

func (b block) String() string { return fmt.Sprintf("%s:%d (%s)", b.page, b.line, b.heading) }

// markerPrefix introduces the comment that says what a YAML block is when it
// is neither chart values nor a Kubernetes manifest.
const markerPrefix = "<!-- docs-test: "

// readBlocks returns the fenced code blocks of a page, in order. Fences may
// be indented (inside list items); the indentation is removed from the
// block's lines.
func readBlocks(t *testing.T, page string) []block {
	t.Helper()
	f, err := os.Open(filepath.Join(root, page))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	var (
		blocks  []block
		cur     *block
		indent  string
		body    strings.Builder
		heading string
		marker  string
	)
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		trimmed := strings.TrimLeft(line, " ")
		if cur != nil {
			if strings.HasPrefix(trimmed, "```") && strings.TrimSpace(trimmed) == "```" {
				cur.text = body.String()
				blocks = append(blocks, *cur)
				cur = nil
				continue
			}
			body.WriteString(strings.TrimPrefix(line, indent))
			body.WriteByte('\n')
			continue
		}
		switch {
		case strings.HasPrefix(trimmed, "```"):
			indent = line[:len(line)-len(trimmed)]
			cur = &block{page: page, line: n, lang: strings.TrimSpace(strings.TrimPrefix(trimmed, "```")), marker: marker, heading: heading}
			body.Reset()
			marker = ""
		case strings.HasPrefix(trimmed, markerPrefix):
			marker = strings.TrimSuffix(strings.TrimSpace(strings.TrimPrefix(trimmed, markerPrefix)), "-->")
			marker = strings.TrimSpace(marker)
		case strings.HasPrefix(line, "#"):
			heading = strings.TrimSpace(strings.TrimLeft(line, "#"))
			marker = ""
		case strings.TrimSpace(line) != "":
			marker = ""
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if cur != nil {
		t.Fatalf("%s:%d: unclosed code block", page, cur.line)
	}
	return blocks
}

// allBlocks are the blocks of every page, by page.
func allBlocks(t *testing.T) map[string][]block {
	t.Helper()
	out := map[string][]block{}
	for _, p := range pages {
		out[p] = readBlocks(t, p)
	}
	return out
}

// readPage is a page's text.
func readPage(t *testing.T, page string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, page))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestEveryBlockIsKnown: each code block is one of the kinds the tests
// check; a new kind needs a checker first.
func TestEveryBlockIsKnown(t *testing.T) {
	for _, blocks := range allBlocks(t) {
		for _, b := range blocks {
			switch {
			case b.lang == "sh":
			case b.lang == "yaml" && (b.marker == "" || b.marker == "tenancy-policy"):
			default:
				t.Errorf("%s: a %q block (marker %q) no test checks", b, b.lang, b.marker)
			}
		}
	}
}
