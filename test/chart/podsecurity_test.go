package chart

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
)

// renderedPod is a pod the chart makes: a Deployment's template or a Pod.
type renderedPod struct {
	name string
	meta metav1.ObjectMeta
	spec corev1.PodSpec
}

func renderedPods(t *testing.T, o objects) []renderedPod {
	t.Helper()
	var out []renderedPod
	for key, u := range o {
		switch {
		case strings.HasPrefix(key, "Deployment/"):
			var d appsv1.Deployment
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &d); err != nil {
				t.Fatal(err)
			}
			out = append(out, renderedPod{key, d.Spec.Template.ObjectMeta, d.Spec.Template.Spec})
		case strings.HasPrefix(key, "Pod/"):
			var p corev1.Pod
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &p); err != nil {
				t.Fatal(err)
			}
			out = append(out, renderedPod{key, p.ObjectMeta, p.Spec})
		}
	}
	if len(out) == 0 {
		t.Fatal("no pod rendered")
	}
	return out
}

// TestPodSecurityLevels: the Pod Security level latchkey's namespace needs
// in each set-up (docs/install-aks.md, "Namespace") is the strictest level
// at which Kubernetes' own Pod Security admission code admits every pod
// the chart renders: privileged when a component reads the node's
// azure.json (a hostPath volume, root), restricted otherwise.
func TestPodSecurityLevels(t *testing.T) {
	evaluator, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		sets []string
		want api.Level
	}{
		{"node cloud config (default)", nil, api.LevelPrivileged},
		{"node cloud config, ACR lookups off", []string{"env_injector.acrAuth=none"}, api.LevelPrivileged},
		{"node cloud config, resolver off", []string{"resolver.enabled=false"}, api.LevelPrivileged},
		{"userDefinedMSI (the kubelet identity, no node file)", []string{"userDefinedMSI.enabled=true", "userDefinedMSI.msi=00000000-0000-4000-8000-000000000001", "userDefinedMSI.tenantId=t", "userDefinedMSI.subscriptionId=s"}, api.LevelRestricted},
		{"workload identity", []string{"keyVaultAuth=workload-identity"}, api.LevelRestricted},
		{"workload identity, ACR lookups with workload identity", []string{"keyVaultAuth=workload-identity", "env_injector.acrAuth=workload-identity"}, api.LevelRestricted},
		{"workload identity, ACR lookups with the node's cloud config", []string{"keyVaultAuth=workload-identity", "env_injector.acrAuth=azureCloudConfig"}, api.LevelPrivileged},
		{"managed identity", []string{"keyVaultAuth=managed-identity", "env.AZURE_CLIENT_ID=00000000-0000-4000-8000-000000000001"}, api.LevelRestricted},
		{"service principal", []string{"keyVaultAuth=environment", "envFromSecret=latchkey-azure"}, api.LevelRestricted},
		{"workload identity with cert-manager", []string{"keyVaultAuth=workload-identity", "certManager.enabled=true"}, api.LevelRestricted},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pods := renderedPods(t, render(t, tc.sets...))
			level := api.LevelRestricted
			var why []string
			for _, l := range []api.Level{api.LevelRestricted, api.LevelBaseline} {
				why = nil
				for _, p := range pods {
					r := policy.AggregateCheckResults(evaluator.EvaluatePod(api.LevelVersion{Level: l, Version: api.LatestVersion()}, &p.meta, &p.spec))
					if !r.Allowed {
						why = append(why, fmt.Sprintf("%s: %s", p.name, r.ForbiddenDetail()))
					}
				}
				if len(why) == 0 {
					level = l
					break
				}
				level = api.LevelPrivileged
			}
			if level != tc.want {
				t.Errorf("needs %s, the guide says %s; refused at the stricter levels: %v", level, tc.want, why)
			}
			if level == api.LevelPrivileged {
				// Only for the node's file: a hostPath of it, read-only, as root.
				for _, p := range pods {
					for _, v := range p.spec.Volumes {
						if v.HostPath != nil && v.HostPath.Path != "/etc/kubernetes/azure.json" {
							t.Errorf("%s mounts host path %s", p.name, v.HostPath.Path)
						}
					}
				}
			}
		})
	}
}

// TestDeploymentSafeguards: what AKS Deployment Safeguards check of a
// workload, checked on every set-up's render: each Deployment container
// has liveness and readiness probes and CPU and memory requests, replicas
// are spread (topologySpreadConstraints), image tags are versions (not
// latest, not empty), no label uses AKS's reserved kubernetes.azure.com,
// and no two Services of the namespace have the same selector.
func TestDeploymentSafeguards(t *testing.T) {
	version := regexp.MustCompile(`:v[0-9]`)
	for _, sets := range [][]string{nil, {"keyVaultAuth=workload-identity"}, {"certManager.enabled=true"}, {"metrics.serviceMonitor.enabled=true"}} {
		t.Run(strings.Join(append([]string{"values"}, sets...), " "), func(t *testing.T) {
			t.Parallel()
			o := render(t, sets...)
			selectors := map[string]string{}
			for key, u := range o {
				for k := range u.GetLabels() {
					if strings.Contains(k, "kubernetes.azure.com") {
						t.Errorf("%s: label %s is reserved for AKS", key, k)
					}
				}
				switch {
				case strings.HasPrefix(key, "Service/"):
					sel, _, _ := unstructured.NestedStringMap(u.Object, "spec", "selector")
					s := fmt.Sprint(sel)
					if other, ok := selectors[s]; ok {
						t.Errorf("%s and %s have the same selector %s", key, other, s)
					}
					selectors[s] = key
				case strings.HasPrefix(key, "Deployment/"):
					var d appsv1.Deployment
					if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &d); err != nil {
						t.Fatal(err)
					}
					spec := d.Spec.Template.Spec
					if len(spec.TopologySpreadConstraints) == 0 && spec.Affinity == nil {
						t.Errorf("%s: neither topologySpreadConstraints nor affinity", key)
					}
					for k := range d.Spec.Template.Labels {
						if strings.Contains(k, "kubernetes.azure.com") {
							t.Errorf("%s: pod label %s is reserved for AKS", key, k)
						}
					}
					for _, c := range spec.Containers {
						if c.LivenessProbe == nil || c.ReadinessProbe == nil {
							t.Errorf("%s: container %s lacks a liveness or readiness probe", key, c.Name)
						}
						if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() {
							t.Errorf("%s: container %s lacks CPU or memory requests", key, c.Name)
						}
						if !version.MatchString(c.Image) || strings.HasSuffix(c.Image, ":latest") {
							t.Errorf("%s: container %s runs %s, not a version tag", key, c.Name, c.Image)
						}
					}
				}
			}
		})
	}
}
