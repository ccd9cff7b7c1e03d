package imageconfig

import (
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func TestPlatformFromNodeSelector(t *testing.T) {
	def := Platform{OS: "linux", Architecture: "arm", Variant: "v6"}
	tests := []struct {
		name     string
		selector map[string]string
		want     Platform
	}{
		{"no selector", nil, def},
		{"unrelated labels", map[string]string{"pool": "gpu"}, def},
		{"arch", map[string]string{LabelArch: "arm64"}, Platform{OS: "linux", Architecture: "arm64"}},
		{"same arch keeps the variant", map[string]string{LabelArch: "arm"}, def},
		{"os and arch", map[string]string{LabelOS: "windows", LabelArch: "amd64"}, Platform{OS: "windows", Architecture: "amd64"}},
		{"empty values are ignored", map[string]string{LabelOS: "", LabelArch: " "}, def},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := PlatformFromNodeSelector(tt.selector, def); got != tt.want {
				t.Errorf("PlatformFromNodeSelector = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestPickManifest(t *testing.T) {
	m := func(platform string, os, arch, variant string) v1.Descriptor {
		return v1.Descriptor{Annotations: map[string]string{"name": platform}, Platform: &v1.Platform{OS: os, Architecture: arch, Variant: variant}}
	}
	index := []v1.Descriptor{
		{Annotations: map[string]string{"name": "attestation"}, Platform: &v1.Platform{OS: "unknown", Architecture: "unknown"}},
		{Annotations: map[string]string{"name": "no platform"}},
		m("amd64", "linux", "amd64", ""),
		m("arm64", "linux", "arm64", "v8"),
		m("armv5", "linux", "arm", "v5"),
		m("armv6", "linux", "arm", "v6"),
		m("windows", "windows", "amd64", ""),
	}
	tests := []struct {
		want Platform
		name string // "" for no match
	}{
		{Platform{OS: "linux", Architecture: "amd64"}, "amd64"},
		{Platform{OS: "linux", Architecture: "amd64", Variant: "v3"}, "amd64"}, // v1 runs on v3
		{Platform{OS: "linux", Architecture: "arm64"}, "arm64"},                // "" is v8
		{Platform{OS: "linux", Architecture: "arm"}, "armv6"},                  // v7: highest lower variant
		{Platform{OS: "linux", Architecture: "arm", Variant: "v5"}, "armv5"},
		{Platform{OS: "linux", Architecture: "arm", Variant: "v4"}, ""},
		{Platform{OS: "windows", Architecture: "amd64"}, "windows"},
		{Platform{OS: "linux", Architecture: "riscv64"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.want.String(), func(t *testing.T) {
			got, ok := pickManifest(index, tt.want)
			if tt.name == "" {
				if ok {
					t.Errorf("picked %q, want none", got.Annotations["name"])
				}
				return
			}
			if !ok || got.Annotations["name"] != tt.name {
				t.Errorf("picked %q (%v), want %q", got.Annotations["name"], ok, tt.name)
			}
		})
	}

	// Without a wanted variant, any variant of the architecture will do.
	only := []v1.Descriptor{m("riscv", "linux", "riscv64", "rva23")}
	if got, ok := pickManifest(only, Platform{OS: "linux", Architecture: "riscv64"}); !ok || got.Annotations["name"] != "riscv" {
		t.Errorf("picked %v, %v; want riscv", got.Annotations["name"], ok)
	}
}
