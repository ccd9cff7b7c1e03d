package controller

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/latchkey-dev/latchkey/api/v2beta1"
	"github.com/latchkey-dev/latchkey/internal/rollout"
)

// TestSlimWorkloadKeepsWhatRolloutsRead: the cache transform drops status,
// images, resources, plain env values and foreign annotations, yet what
// rollout.Consumed finds and rollout.StateOf reads is the same on the slim
// object; a workload not opted in keeps no template at all.
func TestSlimWorkloadKeepsWhatRolloutsRead(t *testing.T) {
	sources := []rollout.Source{{Name: "db"}, {Name: "api", Secret: "api"}, {Name: "ca", ConfigMap: "ca"}, {Name: "file"}}
	tmpl := corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "x"}, Annotations: map[string]string{
			"latchkey.dev/file.key": "file", "prometheus.io/scrape": "true", rollout.VersionsAnnotation: "abc"}},
		Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{{Name: "init", Image: "i", Env: []corev1.EnvVar{{Name: "A", Value: "db@azurekeyvault"}}}},
			Containers: []corev1.Container{{
				Name: "app", Image: "a", Args: []string{"--flag"},
				Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")}},
				Env: []corev1.EnvVar{
					{Name: "PLAIN", Value: "a plain value the cache need not hold"},
					{Name: "FIELD", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
					{Name: "CA", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "ca"}, Key: "k"}}},
				},
				EnvFrom: []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "api"}}}},
			}},
			Volumes: []corev1.Volume{
				{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
				{Name: "p", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
					{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "t"}},
					{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "ca"}}},
				}}}},
			},
		},
	}
	meta := metav1.ObjectMeta{Name: "w", Namespace: "ns", ResourceVersion: "7", Labels: map[string]string{"app": "x"}, Annotations: map[string]string{
		rollout.OptInAnnotation: "true", rollout.BaselineAnnotation: "db=1", rollout.RolledAtAnnotation: "2026-12-06T17:00:00Z",
		corev1.LastAppliedConfigAnnotation: "{...}"}}
	objects := []struct {
		obj      any
		template func(any) *corev1.PodTemplateSpec
	}{
		{&appsv1.Deployment{ObjectMeta: meta, Spec: appsv1.DeploymentSpec{Template: tmpl}, Status: appsv1.DeploymentStatus{Replicas: 3}},
			func(o any) *corev1.PodTemplateSpec { return &o.(*appsv1.Deployment).Spec.Template }},
		{&appsv1.StatefulSet{ObjectMeta: meta, Spec: appsv1.StatefulSetSpec{Template: tmpl}},
			func(o any) *corev1.PodTemplateSpec { return &o.(*appsv1.StatefulSet).Spec.Template }},
		{&appsv1.DaemonSet{ObjectMeta: meta, Spec: appsv1.DaemonSetSpec{Template: tmpl}},
			func(o any) *corev1.PodTemplateSpec { return &o.(*appsv1.DaemonSet).Spec.Template }},
	}
	for _, o := range objects {
		t.Run(fmt.Sprintf("%T", o.obj), func(t *testing.T) {
			slim, err := SlimWorkload(o.obj)
			if err != nil {
				t.Fatal(err)
			}
			want := rollout.Consumed(o.template(o.obj), sources)
			if got := rollout.Consumed(o.template(slim), sources); !reflect.DeepEqual(got, want) || len(want) != 4 {
				t.Errorf("consumed: slim %q, full %q (want all four)", got, want)
			}
			m := slim.(interface{ GetAnnotations() map[string]string })
			if got, want := rollout.StateOf(m.GetAnnotations()), rollout.StateOf(meta.Annotations); !reflect.DeepEqual(got, want) {
				t.Errorf("state: slim %+v, full %+v", got, want)
			}
			st := o.template(slim)
			c := st.Spec.Containers[0]
			if c.Image != "" || len(c.Args) > 0 || len(c.Resources.Limits) > 0 || len(c.Env) != 1 || len(st.Spec.Volumes) != 1 ||
				st.Labels != nil || st.Annotations["prometheus.io/scrape"] != "" || m.GetAnnotations()[corev1.LastAppliedConfigAnnotation] != "" {
				t.Errorf("slim workload keeps more than rollouts read: %+v", slim)
			}
			if d, ok := slim.(*appsv1.Deployment); ok && d.Status.Replicas != 0 {
				t.Error("slim Deployment keeps its status")
			}
		})
	}
	notOptedIn := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "w", Namespace: "ns"}, Spec: appsv1.DeploymentSpec{Template: tmpl}}
	slim, _ := SlimWorkload(notOptedIn)
	if d := slim.(*appsv1.Deployment); !reflect.DeepEqual(d.Spec.Template, corev1.PodTemplateSpec{}) {
		t.Errorf("a workload not opted in keeps its template: %+v", d.Spec.Template)
	}
}

// TestWithRollout: newest first, one entry per workload, bounded.
func TestWithRollout(t *testing.T) {
	at := func(i int) metav1.Time { return metav1.NewTime(time.Unix(int64(i), 0)) }
	var list []v2beta1.WorkloadRollout
	for i := range 2 * v2beta1.MaxStatusRollouts {
		list = withRollout(list, v2beta1.WorkloadRollout{Kind: "Deployment", Name: fmt.Sprintf("d%d", i), Time: at(i)})
	}
	if len(list) != v2beta1.MaxStatusRollouts || list[0].Name != fmt.Sprintf("d%d", 2*v2beta1.MaxStatusRollouts-1) {
		t.Fatalf("list of %d, first %s", len(list), list[0].Name)
	}
	again := withRollout(list, v2beta1.WorkloadRollout{Kind: "Deployment", Name: list[5].Name, Time: at(100)})
	if len(again) != v2beta1.MaxStatusRollouts || again[0].Name != list[5].Name || again[0].Time != at(100) {
		t.Fatalf("a workload rolled again: %+v", again)
	}
	seen := map[string]bool{}
	for _, e := range again {
		if seen[e.Name] {
			t.Fatalf("%s listed twice", e.Name)
		}
		seen[e.Name] = true
	}
	if got := withRollout(list, v2beta1.WorkloadRollout{Kind: "StatefulSet", Name: list[0].Name}); got[1].Kind != "Deployment" {
		t.Fatal("a StatefulSet replaced the Deployment of the same name")
	}
}

func TestBoundNote(t *testing.T) {
	long := ""
	for len(long) < 2*maxEventNote {
		long += "é"
	}
	if n := boundNote(long); len(n) > maxEventNote+len("…") {
		t.Fatalf("note of %d bytes", len(n))
	}
	if boundNote("short") != "short" {
		t.Fatal("short note changed")
	}
}
