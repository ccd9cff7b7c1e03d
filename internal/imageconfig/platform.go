package imageconfig

import (
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Node labels Kubernetes sets on every node, which pods select in their
// nodeSelector to land on one operating system or architecture.
const (
	LabelOS   = "kubernetes.io/os"
	LabelArch = "kubernetes.io/arch"
)

// Platform is the operating system and CPU a container will run on. It picks
// one manifest out of a multi-platform image index.
type Platform struct {
	OS           string // e.g. "linux"
	Architecture string // e.g. "amd64", "arm64"
	// Variant is the CPU variant, e.g. "v7" for arm; usually empty.
	Variant string
}

// String is os/arch[/variant], as docker and the OCI index spell it.
func (p Platform) String() string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// DefaultPlatform is linux on the CPU the webhook itself runs on: without a
// node selector a pod lands on any node, and clusters are usually of one
// architecture, the webhook's.
func DefaultPlatform() Platform {
	return Platform{OS: "linux", Architecture: runtime.GOARCH}
}

// PlatformFromNodeSelector is the platform a pod with this nodeSelector runs
// on: kubernetes.io/os and kubernetes.io/arch where it sets them, fallback's
// values where it does not. fallback's variant is kept only when the
// architecture is fallback's own (there is no node label for variants).
func PlatformFromNodeSelector(selector map[string]string, fallback Platform) Platform {
	p := fallback
	if os := strings.TrimSpace(selector[LabelOS]); os != "" {
		p.OS = os
	}
	if arch := strings.TrimSpace(selector[LabelArch]); arch != "" && arch != fallback.Architecture {
		p.Architecture, p.Variant = arch, ""
	}
	return p
}

// withDefaults fills what p leaves empty from def.
func (p Platform) withDefaults(def Platform) Platform {
	if p.OS == "" {
		p.OS = def.OS
	}
	if p.Architecture == "" {
		p.Architecture, p.Variant = def.Architecture, def.Variant
	}
	return p
}

// pickManifest chooses the manifest of an image index that a node of
// platform want runs, the way container runtimes do: the operating system and
// architecture must be equal; the variant must be equal after normalising
// (arm64 is v8, arm is v7, amd64 is v1 unless said otherwise), else the
// highest lower variant ("vN") a CPU of want's variant also runs; when want
// names no variant, any variant will do. Entries without a platform never
// match, nor do attestations ("unknown/unknown") any real platform.
func pickManifest(manifests []v1.Descriptor, want Platform) (v1.Descriptor, bool) {
	wantV := normalVariant(want.Architecture, want.Variant)
	wantN, wantNumbered := variantNumber(wantV)
	var best *v1.Descriptor
	bestN := -1
	var anyVariant *v1.Descriptor
	for i := range manifests {
		m := &manifests[i]
		if m.Platform == nil || m.Platform.OS != want.OS || m.Platform.Architecture != want.Architecture {
			continue
		}
		v := normalVariant(m.Platform.Architecture, m.Platform.Variant)
		if v == wantV {
			return *m, true
		}
		if anyVariant == nil {
			anyVariant = m
		}
		if n, ok := variantNumber(v); ok && wantNumbered && n < wantN && n > bestN {
			best, bestN = m, n
		}
	}
	if best != nil {
		return *best, true
	}
	if want.Variant == "" && anyVariant != nil {
		return *anyVariant, true
	}
	return v1.Descriptor{}, false
}

// normalVariant spells the variants runtimes treat as equal one way.
func normalVariant(arch, variant string) string {
	switch {
	case arch == "arm64" && variant == "":
		return "v8"
	case arch == "arm" && variant == "":
		return "v7"
	case arch == "amd64" && variant == "":
		return "v1"
	}
	return variant
}

// variantNumber is N of a "vN" variant.
func variantNumber(variant string) (int, bool) {
	if !strings.HasPrefix(variant, "v") {
		return 0, false
	}
	n, err := strconv.Atoi(variant[1:])
	return n, err == nil
}

// maxPlatformsListed bounds how many platforms a message lists.
const maxPlatformsListed = 10

// platformsOf lists the platforms of an index's manifests, for messages.
func platformsOf(manifests []v1.Descriptor) string {
	var out []string
	seen := map[string]bool{}
	for _, m := range manifests {
		if m.Platform == nil || m.Platform.OS == "" || m.Platform.OS == "unknown" {
			continue
		}
		p := Platform{OS: m.Platform.OS, Architecture: m.Platform.Architecture, Variant: m.Platform.Variant}
		s := p.String()
		if !p.known() {
			s = "?"
		}
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	unknown := slices.Contains(out, "?")
	out = slices.DeleteFunc(out, func(s string) bool { return s == "?" })
	var more []string
	if len(out) > maxPlatformsListed {
		more = append(more, fmt.Sprintf("%d more", len(out)-maxPlatformsListed))
		out = out[:maxPlatformsListed]
	}
	if unknown {
		more = append(more, "platforms the webhook does not know")
	}
	switch {
	case len(out) == 0 && len(more) == 0:
		return "no platform at all"
	case len(out) == 0:
		return "only " + strings.Join(more, " and ")
	case len(more) > 0:
		return fmt.Sprintf("only %s and %s", strings.Join(out, ", "), strings.Join(more, " and "))
	}
	return "only " + strings.Join(out, ", ")
}

// knownOS and knownArch are Go's operating systems and architectures
// (which OCI platforms use): the platforms a message may name. Any other
// is a registry's word, not repeated.
var (
	knownOS = []string{"aix", "android", "darwin", "dragonfly", "freebsd", "illumos", "ios", "js", "linux",
		"netbsd", "openbsd", "plan9", "solaris", "wasip1", "windows"}
	knownArch = []string{"386", "amd64", "arm", "arm64", "loong64", "mips", "mips64", "mips64le", "mipsle",
		"ppc64", "ppc64le", "riscv64", "s390x", "wasm"}
)

// known reports whether a message may name p.
func (p Platform) known() bool {
	if !slices.Contains(knownOS, p.OS) || !slices.Contains(knownArch, p.Architecture) {
		return false
	}
	n, ok := variantNumber(p.Variant)
	return p.Variant == "" || (ok && n >= 1 && n <= 9 && len(p.Variant) == 2)
}
