package webhook

import (
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/latchkey-dev/latchkey/internal/podcontract"
)

// Path is where the webhook serves pod mutations.
const Path = "/mutate-v1-pod"

// matchCondition limits calls to pods that can need us: a container or init
// container with an env value naming @azurekeyvault (the placeholder
// marker), or reading env from ConfigMaps (whose values the webhook must
// look at), or a pod with an annotation of a file declaration
// (podcontract.FileAnnotationPrefix and its siblings). Every other pod is
// admitted without a call, so failurePolicy Fail cannot block it.
const matchCondition = `[object.spec.containers, has(object.spec.initContainers) ? object.spec.initContainers : []].exists(cs, cs.exists(c,
  (has(c.env) && c.env.exists(e, (has(e.value) && e.value.contains('` + podcontract.PlaceholderMarker + `')) || (has(e.valueFrom) && has(e.valueFrom.configMapKeyRef)))) ||
  (has(c.envFrom) && c.envFrom.exists(f, has(f.configMapRef))))) ||
  (has(object.metadata.annotations) && object.metadata.annotations.exists(k, k.startsWith('` + podcontract.FilesAnnotationStem + `')))`

// ConfigOptions describe the install the configuration points at.
type ConfigOptions struct {
	Name string
	// Service is the webhook's Service (namespace/name); URL is used instead
	// when set (tests).
	ServiceNamespace, ServiceName string
	URL                           string
	CABundle                      []byte
	// NamespaceLabel opts namespaces in with the value "enabled".
	NamespaceLabel string
	// ExcludeNamespaces are never mutated: kube-system and latchkey's own.
	ExcludeNamespaces []string
	TimeoutSeconds    int32
}

// Configuration is the MutatingWebhookConfiguration the chart installs and
// the tests register: Fail closed, but only for opted-in namespaces and pods
// the match condition selects; no side effects; reinvoked if a later webhook
// adds containers.
func Configuration(o ConfigOptions) *admissionregistrationv1.MutatingWebhookConfiguration {
	client := admissionregistrationv1.WebhookClientConfig{CABundle: o.CABundle}
	if o.URL != "" {
		client.URL = ptr.To(o.URL)
	} else {
		client.Service = &admissionregistrationv1.ServiceReference{Namespace: o.ServiceNamespace, Name: o.ServiceName, Path: ptr.To(Path), Port: ptr.To[int32](443)}
	}
	label := o.NamespaceLabel
	if label == "" {
		label = podcontract.DefaultNamespaceLabel
	}
	return &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: o.Name},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name:                    "pods.env-injector.latchkey.dev",
			ClientConfig:            client,
			AdmissionReviewVersions: []string{"v1"},
			SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
			FailurePolicy:           ptr.To(admissionregistrationv1.Fail),
			ReinvocationPolicy:      ptr.To(admissionregistrationv1.IfNeededReinvocationPolicy),
			TimeoutSeconds:          ptr.To(o.TimeoutSeconds),
			MatchPolicy:             ptr.To(admissionregistrationv1.Equivalent),
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
				Rule: admissionregistrationv1.Rule{
					APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"},
					Scope: ptr.To(admissionregistrationv1.NamespacedScope),
				},
			}},
			NamespaceSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: label, Operator: metav1.LabelSelectorOpIn, Values: []string{"enabled"}},
				{Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpNotIn, Values: o.ExcludeNamespaces},
			}},
			MatchConditions: []admissionregistrationv1.MatchCondition{{Name: "may-hold-placeholders", Expression: matchCondition}},
		}},
	}
}
