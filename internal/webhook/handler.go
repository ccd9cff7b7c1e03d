// Package webhook is the env injector's mutating admission webhook: it
// rewrites containers whose environment holds `<akvs>@azurekeyvault`
// placeholders so that latchkey's binary starts first and execs the original
// program with the values (docs/design/injection.md).
//
// The handler gathers inputs (ConfigMaps the containers read, the
// AzureKeyVaultSecrets they name, image configs when the pod gives no
// command), then mutate.go decides with pure functions. controller-runtime
// computes the JSON patch from the edited pod. The webhook holds no Key Vault
// credential: it never reads values.
package webhook

import (
	"context"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/latchkey-dev/latchkey/api/v2beta1"
	"github.com/latchkey-dev/latchkey/internal/akvsplan"
	"github.com/latchkey-dev/latchkey/internal/podcontract"
)

// ImageLookup finds an image's ENTRYPOINT and CMD in its registry.
type ImageLookup interface {
	Lookup(ctx context.Context, req ImageRequest) (ImageConfig, error)
}

// ImageRequest is one lookup: the image as the pod names it, the platform
// the pod will run on, and the pull secrets it may use.
type ImageRequest struct {
	Image string
	// NodeSelector of the pod, which may pin the platform.
	NodeSelector map[string]string
	// PullSecrets are the docker config Secrets of the pod and of its
	// ServiceAccount, in that order.
	PullSecrets []corev1.Secret
}

// Defaulter mutates pods. It implements admission.Defaulter[*corev1.Pod].
type Defaulter struct {
	// Reader reads ConfigMaps, AzureKeyVaultSecrets, ServiceAccounts and
	// pull Secrets of the pod's namespace.
	Reader  client.Reader
	Images  ImageLookup
	Options Options
	// LookupTimeout bounds every image lookup of one admission: half the
	// webhook's timeout, so the API server never times out waiting for us.
	LookupTimeout time.Duration
	// Metrics counts inspections and mutations; nil counts nothing.
	Metrics *Metrics
}

// Default rewrites a pod's containers that hold placeholders and writes
// the admission mark. Errors are admission errors shown to the user; they
// name objects, never values.
func (d *Defaulter) Default(ctx context.Context, pod *corev1.Pod) (err error) {
	mutated := false
	defer func() { d.Metrics.observe(mutated, err) }()
	logger := log.FromContext(ctx)
	if why := skip(pod); why != "" {
		logger.V(1).Info("pod skipped", "reason", why)
		return nil
	}
	ns := pod.Namespace
	if req, err := admission.RequestFromContext(ctx); err == nil && req.Namespace != "" {
		ns = req.Namespace
	}
	configMaps, err := d.readConfigMaps(ctx, ns, configMapRefs(pod))
	if err != nil {
		return err
	}
	plans := analyze(pod, configMaps)
	// Files: declared in annotations, applied once (the writer container
	// says so on a reinvocation).
	files, err := podcontract.ParseFileDeclaration(pod.Annotations)
	if err != nil {
		return err
	}
	filesPending := files.Declared() && !filesApplied(pod)
	if len(plans) == 0 && !filesPending {
		// Nothing new to rewrite; a reinvocation after another webhook
		// changed the pod signs it as it is now.
		if markPod(pod, ns, d.Options.Marks) {
			logger.V(1).Info("admission mark renewed")
		}
		return nil
	}
	refs, missing, err := d.refs(ctx, ns, plans)
	if err != nil {
		return err
	}
	images, err := d.images(ctx, ns, pod, plans)
	if err != nil {
		return err
	}
	names := make([]string, len(plans))
	for i, p := range plans {
		names[i] = container(pod, p).Name
	}
	if err := mutate(pod, plans, refs, images, d.Options); err != nil {
		return err
	}
	if filesPending {
		if err := mutateFiles(pod, files, d.Options); err != nil {
			return err
		}
		logger.Info("files added", "files", len(files.Files), "dir", files.Dir, "refresh", files.Refresh)
	}
	markPod(pod, ns, d.Options.Marks)
	mutated = true
	for i, p := range plans {
		logger.Info("container rewritten", "container", names[i], "placeholders", describe(p))
	}
	if len(missing) > 0 {
		logger.Info("AzureKeyVaultSecrets do not exist yet; the containers wait for them at start", "azureKeyVaultSecrets", missing)
	}
	return nil
}

// readConfigMaps reads the ConfigMaps of ns the analysis needs, in order,
// each once per admission. A missing ConfigMap reads as empty: the kubelet
// will report it (or skip it, when optional) as it would without us. Any
// other failure (refused, timed out) is the admission's error, naming the
// first container that references it: the pod is refused rather than
// started with a placeholder as its value.
func (d *Defaulter) readConfigMaps(ctx context.Context, ns string, refs []configMapRef) (ConfigMaps, error) {
	out := ConfigMaps{}
	for _, ref := range refs {
		cm := &corev1.ConfigMap{}
		err := d.Reader.Get(ctx, types.NamespacedName{Namespace: ns, Name: ref.name}, cm)
		switch {
		case apierrors.IsNotFound(err):
			continue
		case err != nil:
			return nil, fmt.Errorf("container %s: read ConfigMap %s/%s, whose values may be @azurekeyvault placeholders: %w; the pod is refused rather than started with a placeholder as a value", ref.container, ns, ref.name, err)
		}
		out[ref.name] = cm.Data
	}
	return out, nil
}

// refs reads the AzureKeyVaultSecrets the plans name; those that do not
// exist (yet) are listed in missing, and mutate decides (a container in
// resolver mode waits for them at start, one in direct mode cannot).
func (d *Defaulter) refs(ctx context.Context, ns string, plans []containerPlan) (refs map[string]Ref, missing []string, err error) {
	refs = map[string]Ref{}
	for _, p := range plans {
		for _, name := range p.akvsNames() {
			if _, done := refs[name]; done || slices.Contains(missing, name) {
				continue
			}
			akvs := &v2beta1.AzureKeyVaultSecret{}
			err := d.Reader.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, akvs)
			if apierrors.IsNotFound(err) {
				missing = append(missing, name)
				continue
			}
			if err != nil {
				return nil, nil, fmt.Errorf("read AzureKeyVaultSecret %s/%s: %w", ns, name, err)
			}
			if problems := v2beta1.Check(akvs).ForInjection(); len(problems) > 0 {
				return nil, nil, fmt.Errorf("AzureKeyVaultSecret %s/%s, named by an @azurekeyvault placeholder, cannot be used: %s", ns, name, problems)
			}
			refs[name] = refOf(akvs)
		}
	}
	return refs, missing, nil
}

// images looks up the config of every planned container without a command,
// within LookupTimeout for all of them together.
func (d *Defaulter) images(ctx context.Context, ns string, pod *corev1.Pod, plans []containerPlan) (map[string]*ImageConfig, error) {
	out := map[string]*ImageConfig{}
	var pullSecrets []corev1.Secret
	var loaded bool
	ctx, cancel := context.WithTimeout(ctx, d.LookupTimeout)
	defer cancel()
	for _, p := range plans {
		c := container(pod, p)
		if !needsImage(c) {
			continue
		}
		if d.Images == nil {
			return nil, fmt.Errorf("container %s: set command (and args) in the pod spec: image lookups are disabled", c.Name)
		}
		if !loaded {
			pullSecrets = d.pullSecrets(ctx, ns, pod)
			loaded = true
		}
		cfg, err := d.Images.Lookup(ctx, ImageRequest{Image: c.Image, NodeSelector: pod.Spec.NodeSelector, PullSecrets: pullSecrets})
		d.Metrics.observeImageLookup(err)
		if err != nil {
			return nil, fmt.Errorf("container %s: %w", c.Name, err)
		}
		out[c.Name] = &cfg
	}
	return out, nil
}

// pullSecrets reads the pod's image pull secrets and its ServiceAccount's.
// One that cannot be read is skipped: the lookup then tries the others and
// anonymous access, and its error says what failed.
func (d *Defaulter) pullSecrets(ctx context.Context, ns string, pod *corev1.Pod) []corev1.Secret {
	names := []string{}
	for _, r := range pod.Spec.ImagePullSecrets {
		names = append(names, r.Name)
	}
	sa := pod.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	account := &corev1.ServiceAccount{}
	if err := d.Reader.Get(ctx, types.NamespacedName{Namespace: ns, Name: sa}, account); err == nil {
		for _, r := range account.ImagePullSecrets {
			names = append(names, r.Name)
		}
	}
	var out []corev1.Secret
	for _, n := range names {
		s := corev1.Secret{}
		if err := d.Reader.Get(ctx, types.NamespacedName{Namespace: ns, Name: n}, &s); err == nil {
			out = append(out, s)
		}
	}
	return out
}

func container(pod *corev1.Pod, p containerPlan) *corev1.Container {
	if p.init {
		return &pod.Spec.InitContainers[p.index]
	}
	return &pod.Spec.Containers[p.index]
}

// refOf is what direct mode needs of an AzureKeyVaultSecret: the object it
// names and the transforms of its output (akv2k8s applied them to injected
// values too), as akvsplan decides for every component.
func refOf(akvs *v2beta1.AzureKeyVaultSecret) Ref {
	return Ref(akvsplan.Of(akvs).Ref)
}
