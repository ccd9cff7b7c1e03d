package webhook

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"path"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"

	"github.com/latchkey-dev/latchkey/internal/injectmark"
	"github.com/latchkey-dev/latchkey/internal/podcontract"
	"github.com/latchkey-dev/latchkey/internal/resolver/protocol"
)

// Names of the webhook's own; those the binary and the resolver share are
// internal/podcontract's.
const (
	// akv2k8sInitContainer is the init container akv2k8s added; such pods are
	// already wrapped and left alone.
	akv2k8sInitContainer = "copy-azurekeyvault-env"
	// tokenLifetime is the projected token's expirationSeconds: the binary
	// uses it once, at start.
	tokenLifetime = 600
)

// placeholder is one env variable to resolve.
type placeholder struct {
	Var string
	podcontract.Placeholder
}

// Ref is what the binary needs to read one AzureKeyVaultSecret's object
// itself (direct mode): names only, never values. It is podcontract.Ref's wire
// form; a test decodes one into the other strictly.
type Ref struct {
	Vault       string   `json:"vault"`
	Name        string   `json:"name"`
	Type        string   `json:"type"`
	Version     string   `json:"version,omitempty"`
	ContentType string   `json:"contentType,omitempty"`
	Transform   []string `json:"transform,omitempty"`
	// HashiCorpVault is set for an object read from HashiCorp Vault.
	HashiCorpVault *podcontract.HashiCorpVaultRef `json:"hashicorpVault,omitempty"`
}

// ImageConfig is the part of an image's config that decides its argv.
type ImageConfig struct {
	Entrypoint, Cmd []string
}

// containerPlan says how one container will be rewritten.
type containerPlan struct {
	init  bool
	index int
	// env is the container's env with placeholders reached through
	// ConfigMaps copied in as explicit entries.
	env          []corev1.EnvVar
	placeholders []placeholder
}

func (p containerPlan) akvsNames() []string {
	var names []string
	for _, ph := range p.placeholders {
		if !slices.Contains(names, ph.AKVS) {
			names = append(names, ph.AKVS)
		}
	}
	sort.Strings(names)
	return names
}

// skip reports why a pod is left alone, or "". Nothing a pod's author sets
// makes the webhook skip what it would otherwise rewrite: a pod akv2k8s
// wrapped gets nothing from latchkey (the resolver serves only pods with
// latchkey's mark), and a container already rewritten (a reinvocation) is
// recognised by its command, not by an annotation.
func skip(pod *corev1.Pod) string {
	for _, c := range pod.Spec.InitContainers {
		if c.Name == akv2k8sInitContainer {
			return "already wrapped by akv2k8s"
		}
	}
	return ""
}

// ConfigMaps is the data of the ConfigMaps of the pod's namespace that its
// containers reference, read before the analysis (configMapRefs names
// them). A ConfigMap that does not exist has no entry and reads as empty.
type ConfigMaps map[string]map[string]string

// configMapRef is a ConfigMap the analysis reads, and the first container
// to reference it (named when it cannot be read).
type configMapRef struct{ container, name string }

// configMapRefs lists the ConfigMaps analyze reads, each once, in the order
// it meets them.
func configMapRefs(pod *corev1.Pod) []configMapRef {
	var refs []configMapRef
	seen := map[string]bool{}
	add := func(c *corev1.Container, name string) {
		if !seen[name] {
			seen[name] = true
			refs = append(refs, configMapRef{container: c.Name, name: name})
		}
	}
	eachPending(pod, func(c *corev1.Container, _ bool, _ int) {
		for _, e := range c.Env {
			if ref := e.ValueFrom; ref != nil && ref.ConfigMapKeyRef != nil {
				add(c, ref.ConfigMapKeyRef.Name)
			}
		}
		for _, src := range c.EnvFrom {
			if src.ConfigMapRef != nil {
				add(c, src.ConfigMapRef.Name)
			}
		}
	})
	return refs
}

// eachPending calls f with each container analyze considers: the init
// containers, then the containers, without those latchkey's binary
// already starts (rewritten by an earlier pass of this admission).
func eachPending(pod *corev1.Pod, f func(c *corev1.Container, init bool, index int)) {
	for _, set := range []struct {
		list []corev1.Container
		init bool
	}{{pod.Spec.InitContainers, true}, {pod.Spec.Containers, false}} {
		for i := range set.list {
			if !injectmark.Rewritten(&set.list[i]) {
				f(&set.list[i], set.init, i)
			}
		}
	}
}

// analyze finds the containers to rewrite: those holding placeholders in
// their env, directly or through the ConfigMaps, which the caller has read
// (configMapRefs): a ConfigMap that cannot be read is the caller's error,
// since the placeholders it may hold would reach the program as literal
// values.
func analyze(pod *corev1.Pod, configMaps ConfigMaps) []containerPlan {
	var plans []containerPlan
	eachPending(pod, func(c *corev1.Container, init bool, i int) {
		if p, ok := analyzeContainer(c, configMaps); ok {
			p.init, p.index = init, i
			plans = append(plans, p)
		}
	})
	return plans
}

func analyzeContainer(c *corev1.Container, configMaps ConfigMaps) (containerPlan, bool) {
	p := containerPlan{env: slices.Clone(c.Env)}
	explicit := map[string]bool{}
	for i, e := range p.env {
		explicit[e.Name] = true
		value := e.Value
		if ref := e.ValueFrom; ref != nil && ref.ConfigMapKeyRef != nil {
			v, ok := configMaps[ref.ConfigMapKeyRef.Name][ref.ConfigMapKeyRef.Key]
			if _, isPH := podcontract.ParsePlaceholder(v); !ok || !isPH {
				continue
			}
			// The value comes from a ConfigMap: pin it in the spec.
			p.env[i] = corev1.EnvVar{Name: e.Name, Value: v}
			value = v
		}
		if ph, ok := podcontract.ParsePlaceholder(value); ok {
			p.placeholders = append(p.placeholders, placeholder{Var: e.Name, Placeholder: ph})
		}
	}
	// envFrom: later sources win over earlier ones, explicit env over all.
	fromConfigMaps := map[string]string{}
	for _, src := range c.EnvFrom {
		if src.ConfigMapRef == nil {
			continue
		}
		for k, v := range configMaps[src.ConfigMapRef.Name] {
			fromConfigMaps[src.Prefix+k] = v
		}
	}
	for _, name := range slices.Sorted(maps.Keys(fromConfigMaps)) {
		v := fromConfigMaps[name]
		ph, ok := podcontract.ParsePlaceholder(v)
		if !ok || explicit[name] {
			continue
		}
		p.env = append(p.env, corev1.EnvVar{Name: name, Value: v})
		p.placeholders = append(p.placeholders, placeholder{Var: name, Placeholder: ph})
	}
	return p, len(p.placeholders) > 0
}

// Options are the install's choices that mutate applies.
type Options struct {
	// Image is the image of the in-container binary.
	Image           string
	ImagePullPolicy corev1.PullPolicy
	// Resources of the init container.
	Resources corev1.ResourceRequirements
	// Resolver, when set, delivers values to rewritten containers that do
	// not ask for direct mode. Nil: every container uses direct mode.
	Resolver *ResolverOptions
	// Marks sign the admission mark the resolver checks. Nil (direct mode
	// only, where nothing checks it): the mark is "true".
	Marks *injectmark.Keys
	// Vault is the install's HashiCorp Vault backend; nil when it is off.
	Vault *VaultOptions
}

// VaultOptions are the install's HashiCorp Vault defaults and the audience
// Vault expects of a login's token: a direct-mode container logs in itself,
// with its pod's token projected for that audience.
type VaultOptions struct {
	Address, AuthMount, Role, Audience string
}

// ResolverOptions say how pods reach the resolver.
type ResolverOptions struct {
	URL string
	// Audience of the projected token: per install, so a token minted for
	// the resolver is useless to any other service, and others' to it.
	Audience string
	// CAConfigMap holds the resolver's CA bundle under
	// podcontract.CABundleKey, in every namespace pods may run in (the
	// resolver publishes it).
	CAConfigMap string
}

// errNoCommand is returned when neither the pod nor the image gives a command.
var errNoCommand = errors.New("neither the pod nor the image sets a command")

// argv is the program a container runs: Docker's rules for ENTRYPOINT and
// CMD against Kubernetes' command and args.
func argv(c *corev1.Container, img *ImageConfig) ([]string, error) {
	if len(c.Command) > 0 {
		return slices.Concat(c.Command, c.Args), nil
	}
	if img == nil {
		return nil, errNoCommand
	}
	args := c.Args
	if len(args) == 0 {
		args = img.Cmd
	}
	out := slices.Concat(img.Entrypoint, args)
	if len(out) == 0 {
		return nil, errNoCommand
	}
	return out, nil
}

// needsImage reports whether a container's argv must come from its image.
func needsImage(c *corev1.Container) bool { return len(c.Command) == 0 }

// mutate rewrites the planned containers of pod: the binary becomes their
// command, the original argv its arguments; it adds the install init
// container and the volumes, unless an earlier pass did. The caller then
// writes the mark (markPod). refs holds the
// AzureKeyVaultSecrets the plans name that exist; images the image config
// of every planned container that needs one, by container name.
//
// An AzureKeyVaultSecret may be created after the pod (Helm and Argo CD
// create custom resources after Deployments): a container in resolver mode
// waits for it at start, as akv2k8s's did. A container in direct mode
// cannot (it has no API access and learns the object from LATCHKEY_REFS,
// written now), so a missing one is an admission error that says so.
func mutate(pod *corev1.Pod, plans []containerPlan, refs map[string]Ref, images map[string]*ImageConfig, o Options) error {
	usesResolver, usesVault := false, false
	for _, p := range plans {
		c := &pod.Spec.Containers[p.index]
		if p.init {
			c = &pod.Spec.InitContainers[p.index]
		}
		args, err := argv(c, images[c.Name])
		if err != nil {
			return fmt.Errorf("container %s: %w", c.Name, err)
		}
		resolver := o.Resolver != nil && !directMode(p.env)
		if resolver && len(p.placeholders) > protocol.MaxVariables {
			return fmt.Errorf("container %s: %d @azurekeyvault placeholders; the resolver serves at most %d per container", c.Name, len(p.placeholders), protocol.MaxVariables)
		}
		own := map[string]Ref{}
		for _, name := range p.akvsNames() {
			r, ok := refs[name]
			if !ok && !resolver {
				return missingForDirectMode(c.Name, pod.Namespace, name, o.Resolver != nil)
			}
			if ok {
				own[name] = r
			}
		}
		logsIn, err := directVaultRefs(own, pod, c.Name, resolver, o.Vault)
		if err != nil {
			return err
		}
		refsJSON, err := json.Marshal(own)
		if err != nil {
			return err
		}
		c.Command, c.Args = []string{podcontract.BinaryPath, podcontract.CmdRun, "--"}, args
		c.Env = append(slices.DeleteFunc(p.env, func(e corev1.EnvVar) bool { return e.Name == podcontract.EnvRefs }),
			corev1.EnvVar{Name: podcontract.EnvRefs, Value: string(refsJSON)})
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: podcontract.BinVolume, MountPath: podcontract.BinDir, ReadOnly: true})
		if resolver {
			c.Env = append(c.Env,
				corev1.EnvVar{Name: podcontract.EnvContainer, Value: c.Name},
				corev1.EnvVar{Name: podcontract.EnvResolverURL, Value: o.Resolver.URL},
				corev1.EnvVar{Name: podcontract.EnvResolverToken, Value: path.Join(podcontract.ResolverDir, podcontract.ResolverTokenFile)},
				corev1.EnvVar{Name: podcontract.EnvResolverCA, Value: path.Join(podcontract.ResolverDir, podcontract.ResolverCAFile)})
			c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: podcontract.ResolverVolume, MountPath: podcontract.ResolverDir, ReadOnly: true})
			usesResolver = true
		}
		if logsIn {
			c.Env = append(c.Env, corev1.EnvVar{Name: podcontract.EnvVaultToken, Value: path.Join(podcontract.VaultTokenDir, podcontract.VaultTokenFile)})
			c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: podcontract.VaultTokenVolume, MountPath: podcontract.VaultTokenDir, ReadOnly: true})
			usesVault = true
		}
	}
	hasVolume := func(name string) bool {
		return slices.ContainsFunc(pod.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == name })
	}
	if usesResolver && !hasVolume(podcontract.ResolverVolume) {
		pod.Spec.Volumes = append(pod.Spec.Volumes, resolverVolumeFor(o.Resolver))
	}
	if usesVault && !hasVolume(podcontract.VaultTokenVolume) {
		pod.Spec.Volumes = append(pod.Spec.Volumes, vaultTokenVolume(o.Vault))
	}
	if !hasVolume(podcontract.BinVolume) {
		pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: podcontract.BinVolume, VolumeSource: corev1.VolumeSource{
			EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory, SizeLimit: ptr.To(resource.MustParse("32Mi"))},
		}})
	}
	if !slices.ContainsFunc(pod.Spec.InitContainers, func(c corev1.Container) bool { return c.Name == podcontract.InstallContainer }) {
		pod.Spec.InitContainers = append([]corev1.Container{installContainer(o)}, pod.Spec.InitContainers...)
	}
	return nil
}

// markPod writes the admission mark over pod as it is now, in namespace
// ns, and reports whether that changed the pod. A pod none of whose
// containers starts with latchkey's binary gets no mark.
func markPod(pod *corev1.Pod, ns string, marks *injectmark.Keys) bool {
	if !slices.ContainsFunc(slices.Concat(pod.Spec.InitContainers, pod.Spec.Containers), func(c corev1.Container) bool { return injectmark.Rewritten(&c) }) {
		return false
	}
	mark := "true"
	if marks != nil {
		mark = marks.Sign(ns, pod)
	}
	if pod.Annotations[podcontract.InjectedAnnotation] == mark {
		return false
	}
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	pod.Annotations[podcontract.InjectedAnnotation] = mark
	return true
}

// missingForDirectMode is the admission error for a direct-mode container
// whose AzureKeyVaultSecret does not exist: why it cannot wait, and what to
// do. A Deployment's ReplicaSet retries creating the pod, so it comes once
// the AzureKeyVaultSecret does.
func missingForDirectMode(container, ns, akvs string, resolverInstalled bool) error {
	why := "it sets " + podcontract.EnvDisableAuthService + "=true: it reads Key Vault itself, without Kubernetes API access, so the webhook must find the AzureKeyVaultSecret now; create it before the pod, or drop " + podcontract.EnvDisableAuthService + " to have latchkey's resolver serve it (a container served by the resolver waits for its AzureKeyVaultSecret)"
	if !resolverInstalled {
		why = "latchkey runs without a resolver, so the container reads Key Vault itself (direct mode), without Kubernetes API access, and the webhook must find the AzureKeyVaultSecret now; create it before the pod, or install the resolver (a container served by the resolver waits for its AzureKeyVaultSecret)"
	}
	return fmt.Errorf("container %s: AzureKeyVaultSecret %s/%s, named by an @azurekeyvault placeholder, does not exist; %s", container, ns, akvs, why)
}

// directMode reports whether a container asks to authenticate itself
// (akv2k8s's ENV_INJECTOR_DISABLE_AUTH_SERVICE=true).
func directMode(env []corev1.EnvVar) bool {
	for _, e := range env {
		if e.Name == podcontract.EnvDisableAuthService && podcontract.IsDirectMode(e.Value) {
			return true
		}
	}
	return false
}

// directVaultRefs completes, for a container that reads its objects
// itself (not served by the resolver), the refs of its Vault-backed
// AzureKeyVaultSecrets: the install's defaults where a resource names none,
// and the pod's own ServiceAccount as the one that logs in (the token the
// container holds is the pod's; Vault's role must bind it). It reports
// whether the container needs the pod's token for Vault; with the install's
// Vault backend off such a container is refused.
func directVaultRefs(own map[string]Ref, pod *corev1.Pod, container string, resolver bool, v *VaultOptions) (bool, error) {
	if resolver {
		return false, nil
	}
	sa := cmp.Or(pod.Spec.ServiceAccountName, "default")
	logsIn := false
	for _, name := range slices.Sorted(maps.Keys(own)) {
		r := own[name]
		if r.HashiCorpVault == nil {
			continue
		}
		if v == nil {
			return false, fmt.Errorf("container %s: AzureKeyVaultSecret %s reads HashiCorp Vault, which this install does not (hashicorpVault.enabled), so the container cannot read it itself", container, name)
		}
		h := *r.HashiCorpVault
		h.Address, h.AuthMount, h.Role = cmp.Or(h.Address, v.Address), cmp.Or(h.AuthMount, v.AuthMount), cmp.Or(h.Role, v.Role)
		h.ServiceAccount = sa
		r.HashiCorpVault = &h
		own[name] = r
		logsIn = true
	}
	return logsIn, nil
}

// vaultTokenVolume projects the pod's service-account token for Vault's
// audience. It is mounted only into the direct-mode containers that read
// Vault.
func vaultTokenVolume(v *VaultOptions) corev1.Volume {
	return corev1.Volume{Name: podcontract.VaultTokenVolume, VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
		DefaultMode: ptr.To[int32](0o444),
		Sources: []corev1.VolumeProjection{
			{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Audience: v.Audience, ExpirationSeconds: ptr.To[int64](tokenLifetime), Path: podcontract.VaultTokenFile}},
		},
	}}}
}

// resolverVolumeFor projects a service-account token for the resolver's
// audience and the resolver's CA bundle. It is mounted only into rewritten
// containers, so no other container of the pod can present the token.
func resolverVolumeFor(r *ResolverOptions) corev1.Volume {
	return corev1.Volume{Name: podcontract.ResolverVolume, VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
		DefaultMode: ptr.To[int32](0o444),
		Sources: []corev1.VolumeProjection{
			{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Audience: r.Audience, ExpirationSeconds: ptr.To[int64](tokenLifetime), Path: podcontract.ResolverTokenFile}},
			{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: r.CAConfigMap}, Items: []corev1.KeyToPath{{Key: podcontract.CABundleKey, Path: podcontract.ResolverCAFile}}}},
		},
	}}}
}

// installContainer copies the binary into the shared volume. It needs no
// shell: the binary copies itself. It meets Pod Security "restricted".
func installContainer(o Options) corev1.Container {
	return corev1.Container{
		Name:            podcontract.InstallContainer,
		Image:           o.Image,
		ImagePullPolicy: o.ImagePullPolicy,
		Command:         []string{podcontract.ImageBinaryPath, podcontract.CmdInstall, podcontract.BinaryPath},
		VolumeMounts:    []corev1.VolumeMount{{Name: podcontract.BinVolume, MountPath: podcontract.BinDir}},
		Resources:       o.Resources,
		SecurityContext: restrictedSecurityContext(writerUID, writerUID),
	}
}

// restrictedSecurityContext meets Pod Security "restricted": latchkey's
// own containers run so, as user uid and group gid.
func restrictedSecurityContext(uid, gid int64) *corev1.SecurityContext {
	return &corev1.SecurityContext{
		RunAsNonRoot:             ptr.To(true),
		RunAsUser:                ptr.To(uid),
		RunAsGroup:               ptr.To(gid),
		AllowPrivilegeEscalation: ptr.To(false),
		ReadOnlyRootFilesystem:   ptr.To(true),
		Privileged:               ptr.To(false),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}

// describe lists a container's placeholders for logs: variable and
// AzureKeyVaultSecret names only.
func describe(p containerPlan) string {
	var parts []string
	for _, ph := range p.placeholders {
		parts = append(parts, ph.Var+"="+ph.AKVS)
	}
	return strings.Join(parts, ",")
}
