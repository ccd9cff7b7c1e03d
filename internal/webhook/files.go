package webhook

import (
	"fmt"
	"path"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"

	"github.com/latchkey-dev/latchkey/internal/podcontract"
)

// filesVolumeLimit bounds the memory-backed volume of the files: PEM
// certificates and configuration files, in two versions during a switch.
const filesVolumeLimit = "8Mi"

// writerUID is the writer's user when the pod names none (the image's
// nonroot user, as the install container's).
const writerUID int64 = 65532

// filesApplied reports whether an earlier pass already added the writer.
func filesApplied(pod *corev1.Pod) bool {
	return slices.ContainsFunc(pod.Spec.InitContainers, func(c corev1.Container) bool { return c.Name == podcontract.FilesWriterContainer })
}

// mutateFiles adds what a file declaration needs, after mutate added the
// install container and the binary's volume: the memory-backed volume,
// the writer init container right after the install container (so even the
// pod's own init containers start with the files in place), the refresh
// sidecar when asked, and a read-only mount of the files at d.Dir in every
// container of the pod's own. The declaration lives on in the writers'
// env, which is immutable and signed by the admission mark: the resolver
// serves them from there, never from the annotations.
func mutateFiles(pod *corev1.Pod, d podcontract.FileDeclaration, o Options) error {
	if o.Resolver == nil {
		return fmt.Errorf("the pod declares files (%s…), which latchkey's resolver serves, and latchkey runs without one; install the resolver or remove the annotations", podcontract.FileAnnotationPrefix)
	}
	if d.Signal != "" && (pod.Spec.ShareProcessNamespace == nil || !*pod.Spec.ShareProcessNamespace) {
		return fmt.Errorf("%s asks the sidecar to signal %s, which it can see only with the pod's shareProcessNamespace: true", podcontract.FilesSignalAnnotation, d.Program)
	}
	mount := corev1.VolumeMount{Name: podcontract.FilesVolume, MountPath: d.Dir, ReadOnly: true}
	own := func(c *corev1.Container) bool { return c.Name == podcontract.InstallContainer }
	for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range list {
			c := &list[i]
			if own(c) {
				continue
			}
			for _, m := range c.VolumeMounts {
				if m.MountPath == d.Dir {
					return fmt.Errorf("container %s already mounts volume %s at %s, where the declared files go (%s)", c.Name, m.Name, d.Dir, podcontract.FilesDirAnnotation)
				}
			}
			c.VolumeMounts = append(c.VolumeMounts, mount)
		}
	}
	writers := []corev1.Container{writerContainer(pod, d, o, podcontract.FilesWriterContainer, podcontract.CmdFilesWrite)}
	if d.Refresh {
		sidecar := writerContainer(pod, d, o, podcontract.FilesRefreshContainer, podcontract.CmdFilesRefresh)
		sidecar.RestartPolicy = ptr.To(corev1.ContainerRestartPolicyAlways)
		writers = append(writers, sidecar)
	}
	at := slices.IndexFunc(pod.Spec.InitContainers, func(c corev1.Container) bool { return own(&c) }) + 1
	pod.Spec.InitContainers = slices.Insert(pod.Spec.InitContainers, at, writers...)
	pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: podcontract.FilesVolume, VolumeSource: corev1.VolumeSource{
		EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory, SizeLimit: ptr.To(resource.MustParse(filesVolumeLimit))},
	}})
	if !slices.ContainsFunc(pod.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == podcontract.ResolverVolume }) {
		pod.Spec.Volumes = append(pod.Spec.Volumes, resolverVolumeFor(o.Resolver))
	}
	return nil
}

// writerContainer is the writer (cmd write) or the refresh sidecar (cmd
// refresh): latchkey's binary from the binary's volume, so the admission
// mark covers it like every rewritten container; the resolver's token and
// CA; the files volume read-write. It runs as the pod's user and group
// when the pod names them (not root), so the files are the program's;
// else as the image's nonroot user, and the mode decides who reads them.
// A failed write says why in the container's termination message.
func writerContainer(pod *corev1.Pod, d podcontract.FileDeclaration, o Options, name, cmd string) corev1.Container {
	uid, gid := writerUID, writerUID
	if sc := pod.Spec.SecurityContext; sc != nil {
		if sc.RunAsUser != nil && *sc.RunAsUser > 0 {
			uid, gid = *sc.RunAsUser, *sc.RunAsUser
		}
		if sc.RunAsGroup != nil && *sc.RunAsGroup > 0 {
			gid = *sc.RunAsGroup
		}
	}
	c := corev1.Container{
		Name:                     name,
		Image:                    o.Image,
		ImagePullPolicy:          o.ImagePullPolicy,
		Command:                  []string{podcontract.BinaryPath, podcontract.CmdFiles, cmd},
		Resources:                o.Resources,
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
		SecurityContext:          restrictedSecurityContext(uid, gid),
		VolumeMounts: []corev1.VolumeMount{
			{Name: podcontract.BinVolume, MountPath: podcontract.BinDir, ReadOnly: true},
			{Name: podcontract.ResolverVolume, MountPath: podcontract.ResolverDir, ReadOnly: true},
			{Name: podcontract.FilesVolume, MountPath: podcontract.FilesWriterDir},
		},
	}
	for _, e := range d.WriterEnv() {
		c.Env = append(c.Env, corev1.EnvVar{Name: e.Name, Value: e.Value})
	}
	c.Env = append(c.Env,
		corev1.EnvVar{Name: podcontract.EnvContainer, Value: name},
		corev1.EnvVar{Name: podcontract.EnvResolverURL, Value: o.Resolver.URL},
		corev1.EnvVar{Name: podcontract.EnvResolverToken, Value: path.Join(podcontract.ResolverDir, podcontract.ResolverTokenFile)},
		corev1.EnvVar{Name: podcontract.EnvResolverCA, Value: path.Join(podcontract.ResolverDir, podcontract.ResolverCAFile)})
	return c
}
