package docs

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode"
)

// repoURL is how the chart's README (read on Artifact Hub, away from the
// tree) links the repository's pages.
const repoURL = "https://github.com/latchkey-dev/latchkey/blob/main/"

// mdLink is a Markdown inline link: [text](target).
var mdLink = regexp.MustCompile(`\]\(([^)\s]+)\)`)

// TestLinks: every link from one page of the docs to a file of the tree
// names a file that exists, and every #anchor a heading of its page (as
// GitHub makes them), so a renamed section does not leave a page pointing
// readers at nothing.
func TestLinks(t *testing.T) {
	anchors := map[string]map[string]bool{}
	for _, page := range pages {
		for _, target := range links(t, page) {
			if strings.Contains(target, "://") && !strings.HasPrefix(target, repoURL) || strings.HasPrefix(target, "mailto:") {
				continue
			}
			file, anchor, _ := strings.Cut(target, "#")
			switch {
			case strings.HasPrefix(file, repoURL):
				file = strings.TrimPrefix(file, repoURL)
			case file == "":
				file = page
			default:
				file = filepath.ToSlash(filepath.Join(filepath.Dir(page), file))
			}
			if _, err := os.Stat(filepath.Join(root, file)); err != nil {
				t.Errorf("%s: link %s: %s does not exist", page, target, file)
				continue
			}
			if anchor == "" {
				continue
			}
			if !strings.HasSuffix(file, ".md") {
				t.Errorf("%s: link %s: an anchor into a file that is not a page", page, target)
				continue
			}
			if anchors[file] == nil {
				anchors[file] = headingAnchors(readPage(t, file))
			}
			if !anchors[file][anchor] {
				t.Errorf("%s: link %s: %s has no heading #%s", page, target, file, anchor)
			}
		}
	}
}

// links are the targets of a page's inline links outside code blocks and
// code spans.
func links(t *testing.T, page string) []string {
	t.Helper()
	var out []string
	fenced := false
	for _, line := range strings.Split(readPage(t, page), "\n") {
		if strings.HasPrefix(strings.TrimLeft(line, " "), "```") {
			fenced = !fenced
			continue
		}
		if fenced {
			continue
		}
		for _, m := range mdLink.FindAllStringSubmatch(withoutCodeSpans(line), -1) {
			out = append(out, m[1])
		}
	}
	return out
}

// withoutCodeSpans blanks `code spans`, where brackets are not links.
func withoutCodeSpans(line string) string {
	parts := strings.Split(line, "`")
	for i := 1; i < len(parts); i += 2 {
		parts[i] = ""
	}
	return strings.Join(parts, "``")
}

// headingAnchors are the anchors GitHub gives a page's headings: lower
// case, punctuation dropped, spaces to hyphens; a repeated one gets -1, -2….
func headingAnchors(text string) map[string]bool {
	out := map[string]bool{}
	seen := map[string]int{}
	fenced := false
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(strings.TrimLeft(line, " "), "```") {
			fenced = !fenced
		}
		if fenced || !strings.HasPrefix(line, "#") {
			continue
		}
		a := slug(strings.TrimSpace(strings.TrimLeft(line, "#")))
		if n := seen[a]; n > 0 {
			out[fmt.Sprintf("%s-%d", a, n)] = true
		} else {
			out[a] = true
		}
		seen[a]++
	}
	return out
}

// slug is GitHub's anchor for a heading's text.
func slug(heading string) string {
	var sb strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_' || r == '-':
			sb.WriteRune(r)
		case r == ' ':
			sb.WriteByte('-')
		}
	}
	return sb.String()
}

func TestSlug(t *testing.T) {
	for heading, want := range map[string]string{
		"1. Images": "1-images",
		"The node's cloud config (default, as akv2k8s)":                    "the-nodes-cloud-config-default-as-akv2k8s",
		"Images without a `command`: registry lookups":                     "images-without-a-command-registry-lookups",
		"GitOps: Argo CD and other tools that render with `helm template`": "gitops-argo-cd-and-other-tools-that-render-with-helm-template",
		"Serving certificates: the chart's, or cert-manager's":             "serving-certificates-the-charts-or-cert-managers",
	} {
		if got := slug(heading); got != want {
			t.Errorf("slug(%q) = %q, want %q", heading, got, want)
		}
	}
}
