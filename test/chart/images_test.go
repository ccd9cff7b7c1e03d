package chart

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	treerelease "github.com/latchkey-dev/latchkey/internal/release"
	"github.com/latchkey-dev/latchkey/internal/webhook"
)

// imageValues are the chart's image values and the image each names by
// default (hack/images builds these names).
var imageValues = []struct{ path, ours string }{
	{"controller.image", "latchkey-controller"},
	{"env_injector.image", "latchkey-webhook"},
	{"env_injector.envImage", "latchkey-env"},
	{"resolver.image", "latchkey-resolver"},
}

// renderedImages are the references the chart renders for each image value.
func renderedImages(t *testing.T, o objects) map[string]string {
	t.Helper()
	envImage := ""
	for _, a := range containerArgs(t, o, "webhook") {
		if v, ok := strings.CutPrefix(a, "--env-image="); ok {
			envImage = v
		}
	}
	test, _ := o["Pod/latchkey-test"].Object["spec"].(map[string]any)["containers"].([]any)[0].(map[string]any)["image"].(string)
	if test != envImage {
		t.Errorf("the helm test pod runs %q, the webhook injects %q", test, envImage)
	}
	return map[string]string{
		"controller.image":      container(t, o, "controller")["image"].(string),
		"env_injector.image":    container(t, o, "webhook")["image"].(string),
		"env_injector.envImage": envImage,
		"resolver.image":        container(t, o, "resolver")["image"].(string),
	}
}

// TestAkv2k8sImages: every combination of an image's repository (unset,
// akv2k8s's, a mirror of akv2k8s's, latchkey's name, a full reference to a
// mirror of latchkey's) and tag (unset, an akv2k8s release, a latchkey
// version) either renders the reference latchkey's images have, with each
// image.registry (default, a mirror, none), or is refused naming the value
// to change (whatever the registry: the check does not read it). No combination renders akv2k8s's image, or
// latchkey's registry with akv2k8s's names or versions.
func TestAkv2k8sImages(t *testing.T) {
	repos := []struct {
		name  string
		value func(ours string) string // "" leaves it unset
		akv   bool
	}{
		{"repository unset", func(string) string { return "" }, false},
		{"akv2k8s's repository", func(ours string) string {
			return "spvest/azure-keyvault-" + map[string]string{"latchkey-controller": "controller", "latchkey-webhook": "webhook", "latchkey-env": "env", "latchkey-resolver": "webhook"}[ours]
		}, true},
		{"a mirror of akv2k8s's", func(ours string) string {
			return "myregistry.azurecr.io/spvest/azure-keyvault-" + strings.TrimPrefix(ours, "latchkey-")
		}, true},
		{"latchkey's name", func(ours string) string { return ours }, false},
		{"a mirror of latchkey's, in full", func(ours string) string { return "myregistry.azurecr.io/latchkey/" + ours }, false},
	}
	tags := []struct {
		name, value string
		akv         bool
	}{
		{"tag unset", "", false},
		{"akv2k8s's tag", "1.8.4", true},
		{"an akv2k8s pre-release", "1.1.0-beta.30", true},
		{"a latchkey version", "v0.2.0", false},
	}
	registries := []struct{ name, value string }{
		{"default registry", ""},
		{"a mirror registry", "myregistry.azurecr.io/latchkey"},
		{"no registry", "-"},
	}
	for _, reg := range registries {
		for _, repo := range repos {
			for _, tag := range tags {
				if (repo.akv || tag.akv) && reg.value != "" {
					continue // refused whatever the registry: once is enough
				}
				t.Run(fmt.Sprintf("%s/%s/%s", reg.name, repo.name, tag.name), func(t *testing.T) {
					t.Parallel()
					var sets []string
					switch reg.value {
					case "":
					case "-":
						sets = append(sets, "image.registry=")
					default:
						sets = append(sets, "image.registry="+reg.value)
					}
					for _, img := range imageValues {
						if r := repo.value(img.ours); r != "" {
							sets = append(sets, img.path+".repository="+r)
						}
						if tag.value != "" {
							sets = append(sets, img.path+".tag="+tag.value)
						}
					}
					args := []string{"template", "latchkey", chartDir, "--namespace", "latchkey-system"}
					for _, s := range sets {
						args = append(args, "--set", s)
					}
					out, err := helmRun(t, args...)
					if repo.akv || tag.akv {
						if err == nil {
							t.Fatalf("rendered akv2k8s image values: %v", sets)
						}
						// The first image checked is the controller's.
						want := `controller.image.tag "` + tag.value + `" is an akv2k8s version: latchkey's images are tagged v<version>`
						if repo.akv {
							want = `controller.image.repository "` + repo.value("latchkey-controller") + `" is akv2k8s's image, which does not run latchkey: remove it (default: latchkey-controller under image.registry`
						}
						if !strings.Contains(string(out), want) {
							t.Errorf("the error does not say %q:\n%s", want, out)
						}
						return
					}
					if err != nil {
						t.Fatalf("%v\n%s", err, out)
					}
					got := renderedImages(t, decodeObjects(t, out))
					for _, img := range imageValues {
						repoRef := repo.value(img.ours)
						if repoRef == "" {
							repoRef = img.ours
						}
						registry := "ghcr.io/latchkey-dev"
						switch {
						case reg.value == "-":
							registry = ""
						case reg.value != "":
							registry = reg.value
						}
						want := repoRef
						if registry != "" && !strings.HasPrefix(repoRef, "myregistry.azurecr.io/") {
							want = registry + "/" + repoRef
						}
						want += ":" + map[bool]string{true: appVersion(t), false: tag.value}[tag.value == ""]
						if got[img.path] != want {
							t.Errorf("%s renders %q, want %q", img.path, got[img.path], want)
						}
						if strings.Contains(got[img.path], "azure-keyvault") || strings.Contains(got[img.path], "spvest") {
							t.Errorf("%s renders akv2k8s's image %q", img.path, got[img.path])
						}
					}
				})
			}
		}
	}
	// The chart-wide tag, alone.
	out, err := helmRun(t, "template", "latchkey", chartDir, "--set", "image.tag=1.8.4")
	if err == nil || !strings.Contains(string(out), `image.tag "1.8.4" is an akv2k8s version`) {
		t.Errorf("image.tag=1.8.4: err %v\n%s", err, out)
	}
}

// appVersion is the chart's appVersion, the default tag of every image.
func appVersion(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(chartDir + "/Chart.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		AppVersion string `json:"appVersion"`
	}
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c.AppVersion
}

// TestAppVersionIsTheRelease: the default tag is the appVersion, which must
// be the tree's release (internal/release.Version), the tag `make images
// VERSION=…` writes for a release (hack/images refuses any other release
// version): never one of akv2k8s's versions (0.1.x to 1.8.x, without a "v"),
// which the chart refuses as image tags. The webhook's own default env image
// (no --env-image) is the same release's.
func TestAppVersionIsTheRelease(t *testing.T) {
	v := appVersion(t)
	if v != treerelease.Version {
		t.Errorf("appVersion %q, internal/release.Version %q: the chart would pull a tag no release build writes", v, treerelease.Version)
	}
	if !regexp.MustCompile(`^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$`).MatchString(v) {
		t.Errorf("appVersion %q is not a v<semver> release tag", v)
	}
	o := render(t)
	got := renderedImages(t, o)
	for _, img := range imageValues {
		if want := treerelease.Image(img.ours); got[img.path] != want {
			t.Errorf("default %s = %q, want %q", img.path, got[img.path], want)
		}
	}
	if d := webhook.DefaultConfig().EnvImage; d != got["env_injector.envImage"] {
		t.Errorf("the webhook's default --env-image %q differs from the chart's %q", d, got["env_injector.envImage"])
	}
}
