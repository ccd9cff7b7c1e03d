// Package rollout decides when a workload that consumes latchkey's values is
// rolled out because one of them changed (docs/rollouts.md). Everything here
// is pure: what a pod template consumes, and whether and when to roll it; the
// controller (internal/controller/rollouts.go) reads and writes.
package rollout

import (
	"slices"

	corev1 "k8s.io/api/core/v1"

	"github.com/latchkey-dev/latchkey/internal/podcontract"
)

// The annotations of the feature, all in the latchkey.dev/ family.
const (
	// OptInAnnotation "true" on a Deployment, StatefulSet or DaemonSet opts
	// it in: a workload without it is never patched.
	OptInAnnotation = "latchkey.dev/rollout-on-change"
	// VersionsAnnotation is the one annotation latchkey writes on the pod
	// template: a digest of the versions the pods were rolled for. Changing
	// it is what makes Kubernetes roll the workload.
	VersionsAnnotation = "latchkey.dev/versions"
	// BaselineAnnotation, on the workload's own metadata (not the template:
	// writing it rolls nothing), records the versions its pods run with, as
	// a sorted `akvs=version` list.
	BaselineAnnotation = "latchkey.dev/rollout-baseline"
	// RolledAtAnnotation, on the workload's metadata, is when latchkey last
	// rolled it (RFC 3339): the window holds across controller restarts.
	RolledAtAnnotation = "latchkey.dev/rolled-at"
)

// Source is an AzureKeyVaultSecret of the workload's namespace as far as
// consumption goes: its name and the outputs it writes ("" for none).
type Source struct {
	Name      string
	Secret    string
	ConfigMap string
}

// Consumed returns the names, sorted and unique, of the AzureKeyVaultSecrets
// among sources that a pod template consumes:
//   - an env placeholder `<akvs>@azurekeyvault[?query]` in any container or
//     init container (podcontract.ParsePlaceholder, the webhook's grammar);
//   - a file declared in the template's annotations (latchkey.dev/file.<name>,
//     podcontract.ParseFileDeclaration; a declaration the webhook would
//     refuse declares nothing);
//   - a Secret or ConfigMap that is the output of one, referenced through
//     env valueFrom, envFrom, or a secret, configMap or projected volume.
//
// A placeholder naming no AzureKeyVaultSecret among sources consumes
// nothing: there is no version to follow. Placeholders the webhook finds in
// ConfigMaps the pod references are not seen (the controller does not read
// arbitrary ConfigMaps).
func Consumed(tmpl *corev1.PodTemplateSpec, sources []Source) []string {
	byName := map[string]bool{}
	secrets := map[string][]string{}
	configMaps := map[string][]string{}
	for _, s := range sources {
		byName[s.Name] = true
		if s.Secret != "" {
			secrets[s.Secret] = append(secrets[s.Secret], s.Name)
		}
		if s.ConfigMap != "" {
			configMaps[s.ConfigMap] = append(configMaps[s.ConfigMap], s.Name)
		}
	}
	var out []string
	placeholder := func(name string) {
		if byName[name] {
			out = append(out, name)
		}
	}
	secret := func(name string) { out = append(out, secrets[name]...) }
	configMap := func(name string) { out = append(out, configMaps[name]...) }

	spec := &tmpl.Spec
	for _, list := range [][]corev1.Container{spec.InitContainers, spec.Containers} {
		for i := range list {
			c := &list[i]
			for _, e := range c.Env {
				if p, ok := podcontract.ParsePlaceholder(e.Value); ok {
					placeholder(p.AKVS)
				}
				if f := e.ValueFrom; f != nil {
					if f.SecretKeyRef != nil {
						secret(f.SecretKeyRef.Name)
					}
					if f.ConfigMapKeyRef != nil {
						configMap(f.ConfigMapKeyRef.Name)
					}
				}
			}
			for _, src := range c.EnvFrom {
				if src.SecretRef != nil {
					secret(src.SecretRef.Name)
				}
				if src.ConfigMapRef != nil {
					configMap(src.ConfigMapRef.Name)
				}
			}
		}
	}
	for i := range spec.Volumes {
		v := &spec.Volumes[i].VolumeSource
		if v.Secret != nil {
			secret(v.Secret.SecretName)
		}
		if v.ConfigMap != nil {
			configMap(v.ConfigMap.Name)
		}
		if v.Projected != nil {
			for _, p := range v.Projected.Sources {
				if p.Secret != nil {
					secret(p.Secret.Name)
				}
				if p.ConfigMap != nil {
					configMap(p.ConfigMap.Name)
				}
			}
		}
	}
	if files, err := podcontract.ParseFileDeclaration(tmpl.Annotations); err == nil {
		for _, f := range files.Files {
			placeholder(f.AKVS)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
