package chart

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// templateValuesFixture lists every value akv2k8s's chart 2.8.x templates
// read (our enumeration of its templates).
const templateValuesFixture = "testdata/akv2k8s-2.8-template-values.txt"

// akv2k8sCase is one akv2k8s value as a user sets it: either refused, with
// an error that names what to use instead, or rendered and checked.
type akv2k8sCase struct {
	args    []string // helm template arguments (--set, --set-json, --set-string)
	refused string   // a part of the error that names the replacement
	check   func(t *testing.T, o objects)
}

func set(kv ...string) []string {
	var args []string
	for _, s := range kv {
		args = append(args, "--set", s)
	}
	return args
}

func setJSON(kv string) []string { return []string{"--set-json", kv} }

func refusedAs(want string, args []string) akv2k8sCase { return akv2k8sCase{args: args, refused: want} }

func mapped(args []string, check func(t *testing.T, o objects)) akv2k8sCase {
	return akv2k8sCase{args: args, check: check}
}

// podSpecOf is the pod template spec of a component's Deployment.
func podSpecOf(t *testing.T, o objects, component string) map[string]any {
	t.Helper()
	d := o["Deployment/latchkey-"+component]
	if d == nil {
		t.Fatalf("no Deployment rendered for the %s", component)
	}
	spec, _, _ := unstructured.NestedMap(d.Object, "spec", "template", "spec")
	return spec
}

// field checks a rendered field; numbers compare by value, whichever
// type the decoder gave them.
func field(t *testing.T, obj map[string]any, want any, path ...string) {
	t.Helper()
	got, _, _ := unstructured.NestedFieldNoCopy(obj, path...)
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	if string(g) != string(w) {
		t.Errorf("%s = %s, want %s", strings.Join(path, "."), g, w)
	}
}

// podLabels and podAnnotations of a component's pod template.
func podMeta(t *testing.T, o objects, component, what string) map[string]string {
	t.Helper()
	m, _, _ := unstructured.NestedStringMap(o["Deployment/latchkey-"+component].Object, "spec", "template", "metadata", what)
	return m
}

// webhookHook is the one webhook of the MutatingWebhookConfiguration.
func webhookHook(t *testing.T, o objects) map[string]any {
	t.Helper()
	hooks, _, _ := unstructured.NestedSlice(o["MutatingWebhookConfiguration/latchkey-webhook"].Object, "webhooks")
	return hooks[0].(map[string]any)
}

var extraVolumeJSON = `[{"name":"akv2k8s-certificate","secret":{"secretName":"akv2k8s-certificate"}}]`
var extraMountJSON = `[{"name":"akv2k8s-certificate","mountPath":"/etc/azure"}]`
var affinityJSON = `{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchExpressions":[{"key":"agentpool","operator":"In","values":["system"]}]}]}}}`

// componentCases are the values akv2k8s reads alike for the controller and
// the env-injector (c is the values key, comp the latchkey component).
func componentCases(c, comp, ours string) map[string][]akv2k8sCase {
	return map[string][]akv2k8sCase{
		c + ".affinity": {mapped(setJSON(c+".affinity="+affinityJSON), func(t *testing.T, o objects) {
			terms, _, _ := unstructured.NestedSlice(podSpecOf(t, o, comp), "affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution", "nodeSelectorTerms")
			if len(terms) != 1 {
				t.Errorf("affinity not rendered: %v", terms)
			}
		})},
		c + ".automountServiceAccountToken": {
			refusedAs(c+".automountServiceAccountToken false: latchkey's "+c+" reads the API server with its ServiceAccount's token", set(c+".automountServiceAccountToken=false")),
			mapped(set(c+".automountServiceAccountToken=true"), func(t *testing.T, o objects) { present(t, o, "Deployment/latchkey-"+comp) }),
		},
		c + ".enabled": {mapped(set(c+".enabled=false"), func(t *testing.T, o objects) { absent(t, o, "Deployment/latchkey-"+comp) })},
		c + ".envFromSecret": {mapped(set(c+".envFromSecret[0].name=secret-name-1"), func(t *testing.T, o objects) {
			if !slices.Contains(envFrom(t, o, comp), "secret-name-1") {
				t.Errorf("%s envFrom %v", comp, envFrom(t, o, comp))
			}
		})},
		c + ".extraVolumeMounts": {mapped(append(setJSON(c+".extraVolumes="+extraVolumeJSON), setJSON(c+".extraVolumeMounts="+extraMountJSON)...), func(t *testing.T, o objects) {
			mountedAt(t, o, comp, "akv2k8s-certificate", "/etc/azure")
		})},
		c + ".extraVolumes": {mapped(append(setJSON(c+".extraVolumes="+extraVolumeJSON), setJSON(c+".extraVolumeMounts="+extraMountJSON)...), func(t *testing.T, o objects) {
			if mountedSecret(t, o, comp, "akv2k8s-certificate") != "akv2k8s-certificate" {
				t.Error("extraVolumes not rendered")
			}
		})},
		c + ".image.pullPolicy": {mapped(set(c+".image.pullPolicy=Always"), func(t *testing.T, o objects) {
			field(t, container(t, o, comp), "Always", "imagePullPolicy")
		})},
		c + ".image.pullSecret": {mapped(set(c+".image.pullSecret=akv2k8s-pull"), func(t *testing.T, o objects) {
			field(t, podSpecOf(t, o, comp), []any{map[string]any{"name": "akv2k8s-pull"}}, "imagePullSecrets")
		})},
		c + ".image.repository": {refusedAs(c+`.image.repository "spvest/azure-keyvault-`, set(c+".image.repository=spvest/azure-keyvault-"+ours))},
		c + ".image.tag":        {refusedAs(c+`.image.tag "1.8.4" is an akv2k8s version`, set(c+".image.tag=1.8.4"))},
		c + ".keyVaultAuth":     {refusedAs("set the top-level keyVaultAuth", set(c+".keyVaultAuth=environment"))},
		c + ".labels": {mapped(set(c+".labels.team=platform"), func(t *testing.T, o objects) {
			if o["Deployment/latchkey-"+comp].GetLabels()["team"] != "platform" {
				t.Error("labels not on the Deployment")
			}
		})},
		c + ".logFormat": {mapped(set(c+".logFormat=text"), func(t *testing.T, o objects) { hasArg(t, o, comp, "--log-format=text") })},
		c + ".logLevel": {
			mapped(set(c+".logLevel=debug"), func(t *testing.T, o objects) { hasArg(t, o, comp, "--log-level=debug") }),
			mapped(set(c+".logLevel=trace"), func(t *testing.T, o objects) { hasArg(t, o, comp, "--log-level=debug") }),
		},
		c + ".metrics.enabled":                         {refusedAs("metrics.serviceMonitor.enabled", set(c+".metrics.enabled=true"))},
		c + ".metrics.serviceMonitor.additionalLabels": {refusedAs("use the top-level metrics.serviceMonitor", set(c+".metrics.serviceMonitor.additionalLabels.release=prometheus"))},
		c + ".metrics.serviceMonitor.enabled":          {refusedAs("use the top-level metrics.serviceMonitor", set(c+".metrics.serviceMonitor.enabled=true"))},
		c + ".metrics.serviceMonitor.interval":         {refusedAs("use the top-level metrics.serviceMonitor", set(c+".metrics.serviceMonitor.interval=30s"))},
		c + ".name":                                    {refusedAs("names derive from the release", set(c+".name=akv2k8s-"+ours))},
		c + ".nodeSelector": {mapped(set(c+".nodeSelector.agentpool=system"), func(t *testing.T, o objects) {
			field(t, podSpecOf(t, o, comp), map[string]any{"agentpool": "system"}, "nodeSelector")
		})},
		c + ".podAnnotations": {mapped(set(c+".podAnnotations.team=platform"), func(t *testing.T, o objects) {
			if podMeta(t, o, comp, "annotations")["team"] != "platform" {
				t.Error("podAnnotations not rendered")
			}
		})},
		c + ".podLabels": {mapped(set(c+".podLabels.team=platform"), func(t *testing.T, o objects) {
			if podMeta(t, o, comp, "labels")["team"] != "platform" {
				t.Error("podLabels not rendered")
			}
		})},
		c + ".podSecurityContext": {refusedAs("restricted security contexts", set(c+".podSecurityContext.runAsUser=1000"))},
		c + ".rbac.create":        {refusedAs("least-privilege RBAC is always created", set(c+".rbac.create=false"))},
		c + ".resources": {mapped(set(c+".resources.requests.cpu=100m"), func(t *testing.T, o objects) {
			field(t, container(t, o, comp), "100m", "resources", "requests", "cpu")
		})},
		c + ".securityContext": {refusedAs("restricted security contexts", set(c+".securityContext.allowPrivilegeEscalation=true"))},
		c + ".serviceAccount.annotations": {mapped(set(c+".serviceAccount.annotations.team=platform"), func(t *testing.T, o objects) {
			if o["ServiceAccount/latchkey-"+comp].GetAnnotations()["team"] != "platform" {
				t.Error("serviceAccount.annotations not rendered")
			}
		})},
		c + ".serviceAccount.create": {
			refusedAs(c+".serviceAccount.create false: the chart always creates the ServiceAccount", set(c+".serviceAccount.create=false")),
			mapped(set(c+".serviceAccount.create=true"), func(t *testing.T, o objects) { present(t, o, "ServiceAccount/latchkey-"+comp) }),
		},
		c + ".serviceAccount.labels": {mapped(set(c+".serviceAccount.labels.team=platform"), func(t *testing.T, o objects) {
			if o["ServiceAccount/latchkey-"+comp].GetLabels()["team"] != "platform" {
				t.Error("serviceAccount.labels not rendered")
			}
		})},
		c + ".serviceAccount.name": {refusedAs("created by the chart", set(c+".serviceAccount.name=akv2k8s"))},
		c + ".strategy": {mapped(setJSON(c+`.strategy={"rollingUpdate":{"maxSurge":"25%","maxUnavailable":"25%"}}`), func(t *testing.T, o objects) {
			field(t, o["Deployment/latchkey-"+comp].Object, map[string]any{"rollingUpdate": map[string]any{"maxSurge": "25%", "maxUnavailable": "25%"}}, "spec", "strategy")
		})},
		c + ".strategy.rollingUpdate": {mapped(set(c+".strategy.rollingUpdate.maxSurge=1"), func(t *testing.T, o objects) {
			field(t, o["Deployment/latchkey-"+comp].Object, int64(1), "spec", "strategy", "rollingUpdate", "maxSurge")
		})},
		// akv2k8s renders Recreate without the rollingUpdate of its defaults,
		// which the API server refuses beside it.
		c + ".strategy.type": {mapped(setJSON(c+`.strategy={"type":"Recreate","rollingUpdate":{"maxSurge":"25%","maxUnavailable":"25%"}}`), func(t *testing.T, o objects) {
			field(t, o["Deployment/latchkey-"+comp].Object, map[string]any{"type": "Recreate"}, "spec", "strategy")
		})},
		c + ".tolerations": {mapped(setJSON(c+`.tolerations=[{"key":"CriticalAddonsOnly","operator":"Exists"}]`), func(t *testing.T, o objects) {
			field(t, podSpecOf(t, o, comp), []any{map[string]any{"key": "CriticalAddonsOnly", "operator": "Exists"}}, "tolerations")
		})},
	}
}

// akv2k8sTemplateValues is what becomes of each value akv2k8s's templates
// read; the keys must be exactly the fixture's lines.
func akv2k8sTemplateValues() map[string][]akv2k8sCase {
	cases := map[string][]akv2k8sCase{
		"addAzurePodIdentityException": {refusedAs("keyVaultAuth=workload-identity", set("addAzurePodIdentityException=true"))},
		"azureKeyVaultResyncPeriod": {mapped(set("azureKeyVaultResyncPeriod=45"), func(t *testing.T, o objects) {
			hasArg(t, o, "controller", "--refresh-interval=45s")
			hasArg(t, o, "resolver", "--refresh-interval=45s")
		})},
		"cloudConfig": {mapped(set("cloudConfig=/etc/kubernetes/custom.json"), func(t *testing.T, o objects) {
			for _, c := range []string{"controller", "webhook", "resolver"} {
				field(t, volume(t, o, c, "azure-config"), "/etc/kubernetes/custom.json", "hostPath", "path")
				mountedAt(t, o, c, "azure-config", "/etc/kubernetes/azure.json")
			}
		})},
		"controller.env": {
			mapped(set("controller.env.HTTPS_PROXY=http://proxy:3128"), func(t *testing.T, o objects) {
				if env(t, o, "controller")["HTTPS_PROXY"] != "http://proxy:3128" {
					t.Error("controller.env not in the controller's environment")
				}
			}),
			// akv2k8s's documented sharding: the controller's label selector.
			mapped(set("controller.env.OBJECT_LABELS=someSecretLabel=someSecretValue"), func(t *testing.T, o objects) {
				hasArg(t, o, "controller", "--selector=someSecretLabel=someSecretValue")
			}),
		},
		"controller.priorityClassName": {mapped(set("controller.priorityClassName=system-cluster-critical"), func(t *testing.T, o objects) {
			field(t, podSpecOf(t, o, "controller"), "system-cluster-critical", "priorityClassName")
		})},
		"env_injector.authService":                       {refusedAs("replaced by the resolver: resolver.enabled", set("env_injector.authService=false"))},
		"env_injector.certificate.custom.ca.crt":         {refusedAs("for cert-manager, set certManager.enabled", set("env_injector.certificate.custom.ca.crt=PEM"))},
		"env_injector.certificate.custom.enabled":        {refusedAs("for cert-manager, set certManager.enabled", set("env_injector.certificate.custom.enabled=true"))},
		"env_injector.certificate.custom.server.tls.crt": {refusedAs("for cert-manager, set certManager.enabled", set("env_injector.certificate.custom.server.tls.crt=PEM"))},
		"env_injector.certificate.custom.server.tls.key": {refusedAs("for cert-manager, set certManager.enabled", set("env_injector.certificate.custom.server.tls.key=PEM"))},
		"env_injector.certificate.useCertManager":        {refusedAs("for cert-manager, set certManager.enabled", set("env_injector.certificate.useCertManager=true"))},
		"env_injector.dockerImageInspection.timeout":     {refusedAs("env_injector.timeoutSeconds", set("env_injector.dockerImageInspection.timeout=20"))},
		"env_injector.envImage.repository":               {refusedAs(`env_injector.envImage.repository "spvest/azure-keyvault-env"`, set("env_injector.envImage.repository=spvest/azure-keyvault-env"))},
		"env_injector.envImage.tag":                      {refusedAs(`env_injector.envImage.tag "1.8.4" is an akv2k8s version`, set("env_injector.envImage.tag=1.8.4"))},
		"env_injector.failurePolicy": {mapped(set("env_injector.failurePolicy=Ignore"), func(t *testing.T, o objects) {
			field(t, webhookHook(t, o), "Ignore", "failurePolicy")
		})},
		"env_injector.namespaceLabelSelector.label.name": {mapped(set("env_injector.namespaceLabelSelector.label.name=akv-injection"), func(t *testing.T, o objects) {
			sel, _, _ := unstructured.NestedSlice(webhookHook(t, o), "namespaceSelector", "matchExpressions")
			field(t, sel[0].(map[string]any), "akv-injection", "key")
			hasArg(t, o, "resolver", "--namespace-label=akv-injection")
		})},
		"env_injector.namespaceLabelSelector.label.value": {
			mapped(set("env_injector.namespaceLabelSelector.label.value=enabled"), func(t *testing.T, o objects) {
				sel, _, _ := unstructured.NestedSlice(webhookHook(t, o), "namespaceSelector", "matchExpressions")
				field(t, sel[0].(map[string]any), []any{"enabled"}, "values")
			}),
			refusedAs("the opt-in label's value is always enabled", []string{"--set-string", "env_injector.namespaceLabelSelector.label.value=true"}),
		},
		"env_injector.namespaceSelector.matchExpressions": {mapped(setJSON(`env_injector.namespaceSelector.matchExpressions=[{"key":"name","operator":"NotIn","values":["kube-system"]}]`), func(t *testing.T, o objects) {
			sel, _, _ := unstructured.NestedSlice(webhookHook(t, o), "namespaceSelector", "matchExpressions")
			if len(sel) != 3 || !reflect.DeepEqual(sel[2], map[string]any{"key": "name", "operator": "NotIn", "values": []any{"kube-system"}}) {
				t.Errorf("namespace selector %v", sel)
			}
		})},
		"env_injector.podDisruptionBudget.enabled": {mapped(set("env_injector.podDisruptionBudget.enabled=false"), func(t *testing.T, o objects) {
			absent(t, o, "PodDisruptionBudget/latchkey-webhook")
		})},
		"env_injector.podDisruptionBudget.maxUnavailable": {
			mapped(set("env_injector.podDisruptionBudget.maxUnavailable=1"), func(t *testing.T, o objects) {
				field(t, o["PodDisruptionBudget/latchkey-webhook"].Object, map[string]any{"maxUnavailable": int64(1), "selector": pdbSelector("webhook")}, "spec")
			}),
			// akv2k8s's values file leaves it empty (null): unset.
			mapped(set("env_injector.podDisruptionBudget.maxUnavailable=null"), func(t *testing.T, o objects) {
				field(t, o["PodDisruptionBudget/latchkey-webhook"].Object, map[string]any{"minAvailable": int64(1), "selector": pdbSelector("webhook")}, "spec")
			}),
		},
		"env_injector.podDisruptionBudget.minAvailable": {mapped(set("env_injector.podDisruptionBudget.minAvailable=2", "env_injector.replicaCount=3"), func(t *testing.T, o objects) {
			field(t, o["PodDisruptionBudget/latchkey-webhook"].Object, int64(2), "spec", "minAvailable")
		})},
		"env_injector.rbacSubjects": {refusedAs("replaced by the resolver (resolver.*), which needs no pod RBAC", setJSON(`env_injector.rbacSubjects=[{"kind":"Group","name":"system:serviceaccounts","apiGroup":"rbac.authorization.k8s.io"}]`))},
		"env_injector.replicaCount": {mapped(set("env_injector.replicaCount=3"), func(t *testing.T, o objects) {
			field(t, o["Deployment/latchkey-webhook"].Object, int64(3), "spec", "replicas")
		})},
		"env_injector.service.externalHttpPort": {refusedAs("env_injector.metrics.port", set("env_injector.service.externalHttpPort=80"))},
		"env_injector.service.externalMtlsPort": {refusedAs("auth service ports are replaced by resolver.port", set("env_injector.service.externalMtlsPort=9443"))},
		"env_injector.service.externalTlsPort":  {refusedAs("env_injector.port", set("env_injector.service.externalTlsPort=443"))},
		"env_injector.service.internalHttpPort": {refusedAs("env_injector.metrics.port", set("env_injector.service.internalHttpPort=8080"))},
		"env_injector.service.internalMtlsPort": {refusedAs("auth service ports are replaced by resolver.port", set("env_injector.service.internalMtlsPort=9443"))},
		"env_injector.service.internalTlsPort":  {refusedAs("env_injector.port", set("env_injector.service.internalTlsPort=8443"))},
		"env_injector.service.type":             {refusedAs("env_injector.port", set("env_injector.service.type=ClusterIP"))},
		"controller.service.externalHttpPort":   {refusedAs("controller.metrics.port", set("controller.service.externalHttpPort=9000"))},
		"controller.service.internalHttpPort":   {refusedAs("controller.metrics.port", set("controller.service.internalHttpPort=9000"))},
		"controller.service.type":               {refusedAs("controller.metrics.port", set("controller.service.type=ClusterIP"))},
		"fullnameOverride": {mapped(set("fullnameOverride=akv2k8s"), func(t *testing.T, o objects) {
			present(t, o, "Deployment/akv2k8s-controller", "Deployment/akv2k8s-webhook", "Deployment/akv2k8s-resolver", "MutatingWebhookConfiguration/akv2k8s-webhook")
		})},
		"nameOverride": {mapped(set("nameOverride=akv"), func(t *testing.T, o objects) {
			d := o["Deployment/latchkey-akv-controller"]
			if d == nil {
				t.Fatal("nameOverride: no Deployment latchkey-akv-controller")
			}
			field(t, d.Object, map[string]any{"app.kubernetes.io/name": "akv", "app.kubernetes.io/instance": "latchkey", "app.kubernetes.io/component": "controller"}, "spec", "selector", "matchLabels")
		})},
		"global.env": {mapped(set("global.env.AZURE_ENVIRONMENT=AzureChinaCloud"), func(t *testing.T, o objects) {
			for _, c := range []string{"controller", "resolver"} {
				if env(t, o, c)["AZURE_ENVIRONMENT"] != "AzureChinaCloud" {
					t.Errorf("global.env does not reach the %s", c)
				}
			}
		})},
		"global.envFromSecret": {mapped(set("global.envFromSecret[0].name=akv-credentials"), func(t *testing.T, o objects) {
			for _, c := range []string{"controller", "resolver"} {
				if !slices.Contains(envFrom(t, o, c), "akv-credentials") {
					t.Errorf("global.envFromSecret does not reach the %s", c)
				}
			}
		})},
		"global.keyVaultAuth": {mapped(set("global.keyVaultAuth=environment"), func(t *testing.T, o objects) {
			hasArg(t, o, "controller", "--keyvault-auth=environment")
			hasArg(t, o, "resolver", "--keyvault-auth=environment")
			lacksArgPrefix(t, o, "webhook", "--acr-auth")
		})},
		"global.logFormat": {mapped(set("global.logFormat=text"), func(t *testing.T, o objects) {
			for _, c := range []string{"controller", "webhook", "resolver"} {
				hasArg(t, o, c, "--log-format=text")
			}
		})},
		"global.logLevel": {mapped(set("global.logLevel=trace"), func(t *testing.T, o objects) {
			for _, c := range []string{"controller", "webhook", "resolver"} {
				hasArg(t, o, c, "--log-level=debug")
			}
		})},
		"global.metrics.enabled":                         {refusedAs("the top-level metrics.serviceMonitor", set("global.metrics.enabled=true"))},
		"global.metrics.serviceMonitor.additionalLabels": {refusedAs("the top-level metrics.serviceMonitor", set("global.metrics.serviceMonitor.additionalLabels.release=prometheus"))},
		"global.metrics.serviceMonitor.enabled":          {refusedAs("the top-level metrics.serviceMonitor", set("global.metrics.serviceMonitor.enabled=true"))},
		"global.metrics.serviceMonitor.interval":         {refusedAs("the top-level metrics.serviceMonitor", set("global.metrics.serviceMonitor.interval=30s"))},
		"global.rbac.create":                             {refusedAs("least-privilege RBAC is always created", set("global.rbac.create=false"))},
		"global.userDefinedMSI.azureCloudType":           {mapped(msi("global.userDefinedMSI.azureCloudType=AzureChinaCloud"), checkAzureJSON("cloud", "AzureChinaCloud"))},
		"global.userDefinedMSI.enabled":                  {mapped(msi(), checkAzureJSON("useManagedIdentityExtension", true))},
		"global.userDefinedMSI.msi":                      {mapped(msi(), checkAzureJSON("userAssignedIdentityID", "00000000-0000-4000-8000-0000000000b1"))},
		"global.userDefinedMSI.subscriptionId":           {mapped(msi("global.userDefinedMSI.subscriptionId=sub-1"), checkAzureJSON("subscriptionId", "sub-1"))},
		"global.userDefinedMSI.tenantId":                 {mapped(msi("global.userDefinedMSI.tenantId=tenant-1"), checkAzureJSON("tenantId", "tenant-1"))},
		"kubeResyncPeriod":                               {refusedAs("the controller is event-driven", set("kubeResyncPeriod=30"))},
		"name":                                           {refusedAs("set nameOverride or fullnameOverride", set("name=akv2k8s"))},
		"watchAllNamespaces": {mapped(set("watchAllNamespaces=false"), func(t *testing.T, o objects) {
			hasArg(t, o, "controller", "--namespaces=latchkey-system")
			present(t, o, "RoleBinding/latchkey-controller")
			absent(t, o, "ClusterRoleBinding/latchkey-controller")
		})},
		// akv2k8s's env-injector was also its auth service, which held the
		// Key Vault identity: what configures that identity goes to the
		// resolver (TestIdentityToResolver has every case).
		"env_injector.env": {mapped(set("keyVaultAuth=environment", "env_injector.env.AZURE_CLIENT_SECRET=s", "env_injector.env.HTTP_PROXY=http://proxy"), func(t *testing.T, o objects) {
			if env(t, o, "resolver")["AZURE_CLIENT_SECRET"] != "s" {
				t.Error("env_injector.env's credentials do not reach the resolver")
			}
			if e := env(t, o, "webhook"); e["HTTP_PROXY"] != "http://proxy" || e["AZURE_CLIENT_SECRET"] != "" {
				t.Errorf("webhook env %v: want its own variables, no credential", e)
			}
		})},
	}
	for k, v := range componentCases("controller", "controller", "controller") {
		if _, ok := cases[k]; !ok {
			cases[k] = v
		}
	}
	for k, v := range componentCases("env_injector", "webhook", "webhook") {
		if _, ok := cases[k]; !ok {
			cases[k] = v
		}
	}
	// Cases whose env-injector form differs.
	cases["env_injector.envFromSecret"] = []akv2k8sCase{mapped(set("env_injector.envFromSecret[0].name=akv-credentials"), func(t *testing.T, o objects) {
		// Without an ACR identity of its own (keyVaultAuth is not the cloud
		// config) the webhook does not get the credentials.
		if !slices.Contains(envFrom(t, o, "resolver"), "akv-credentials") {
			t.Error("env_injector.envFromSecret does not reach the resolver")
		}
	})}
	cases["env_injector.podLabels"] = append(cases["env_injector.podLabels"], mapped(
		[]string{"--set-string", "env_injector.podLabels.azure\\.workload\\.identity/use=true", "--set", "env_injector.podLabels.aadpodidbinding=akv2k8s"},
		func(t *testing.T, o objects) {
			r, w := podMeta(t, o, "resolver", "labels"), podMeta(t, o, "webhook", "labels")
			if r["azure.workload.identity/use"] != "true" || r["aadpodidbinding"] != "akv2k8s" {
				t.Errorf("resolver pod labels %v: want the identity labels", r)
			}
			if _, ok := w["aadpodidbinding"]; ok {
				t.Errorf("webhook pod labels %v: the identity is the resolver's", w)
			}
		}))
	cases["env_injector.serviceAccount.annotations"] = append(cases["env_injector.serviceAccount.annotations"], mapped(
		set("env_injector.serviceAccount.annotations.azure\\.workload\\.identity/client-id=00000000-0000-4000-8000-0000000000c1"),
		func(t *testing.T, o objects) {
			if o["ServiceAccount/latchkey-resolver"].GetAnnotations()["azure.workload.identity/client-id"] != "00000000-0000-4000-8000-0000000000c1" {
				t.Error("the workload identity annotation does not reach the resolver's ServiceAccount")
			}
		}))
	return cases
}

func msi(extra ...string) []string {
	return set(append([]string{"global.userDefinedMSI.enabled=true", "global.userDefinedMSI.msi=00000000-0000-4000-8000-0000000000b1"}, extra...)...)
}

// checkAzureJSON: the cloud config the chart makes from userDefinedMSI
// holds key: want, and the components mount it instead of the node's.
func checkAzureJSON(key string, want any) func(t *testing.T, o objects) {
	return func(t *testing.T, o objects) {
		cm := o["ConfigMap/latchkey-azure-config"]
		if cm == nil {
			t.Fatal("no azure.json ConfigMap")
		}
		var cfg map[string]any
		raw, _, _ := unstructured.NestedString(cm.Object, "data", "azure.json")
		if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(cfg[key], want) {
			t.Errorf("azure.json %s = %v, want %v", key, cfg[key], want)
		}
		for _, c := range []string{"controller", "webhook", "resolver"} {
			field(t, volume(t, o, c, "azure-config"), "latchkey-azure-config", "configMap", "name")
			if !runsAsNonRoot(o, c) {
				t.Errorf("%s runs as root with userDefinedMSI", c)
			}
		}
	}
}

func pdbSelector(component string) map[string]any {
	return map[string]any{"matchLabels": map[string]any{"app.kubernetes.io/name": "latchkey", "app.kubernetes.io/instance": "latchkey", "app.kubernetes.io/component": component}}
}

// mountedAt: a component's container mounts volume at path.
func mountedAt(t *testing.T, o objects, component, volume, path string) {
	t.Helper()
	mounts, _, _ := unstructured.NestedSlice(container(t, o, component), "volumeMounts")
	for _, m := range mounts {
		if mm := m.(map[string]any); mm["name"] == volume && mm["mountPath"] == path {
			return
		}
	}
	t.Errorf("%s: volume %s not mounted at %s: %v", component, volume, path, mounts)
}

// readFixture returns the non-comment lines of a testdata list.
func readFixture(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" && !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}

// TestAkv2k8sTemplateValues: every value akv2k8s's chart templates read is
// either rendered (and what it became is checked) or refused with an error
// that names what to use instead: never a schema error that names nothing
// (an unknown key), never ignored.
func TestAkv2k8sTemplateValues(t *testing.T) {
	paths := readFixture(t, templateValuesFixture)
	cases := akv2k8sTemplateValues()
	var tested []string
	for k := range cases {
		tested = append(tested, k)
	}
	sort.Strings(tested)
	if !slices.Equal(tested, paths) {
		for _, p := range paths {
			if _, ok := cases[p]; !ok {
				t.Errorf("no case for akv2k8s value %s", p)
			}
		}
		for _, k := range tested {
			if !slices.Contains(paths, k) {
				t.Errorf("case %s is no value of the fixture", k)
			}
		}
	}
	for _, path := range paths {
		for i, tc := range cases[path] {
			t.Run(path+"/"+strings.Join(tc.args, " "), func(t *testing.T) {
				t.Parallel()
				if len(tc.args) == 0 {
					t.Fatalf("case %d sets nothing", i)
				}
				args := append([]string{"template", "latchkey", chartDir, "--namespace", "latchkey-system"}, tc.args...)
				out, err := helmRun(t, args...)
				if tc.refused != "" {
					if err == nil {
						t.Fatalf("accepted; want refused with %q", tc.refused)
					}
					if !strings.Contains(string(out), tc.refused) {
						t.Errorf("the error does not say %q:\n%s", tc.refused, out)
					}
					if strings.Contains(string(out), "additional properties") {
						t.Errorf("refused as an unknown key:\n%s", out)
					}
					return
				}
				if err != nil {
					t.Fatalf("refused: %v\n%s", err, out)
				}
				o := decodeObjects(t, out)
				tc.check(t, o)
				checkArgsParse(t, o)
				checkRestricted(t, o)
				checkEnvFromSecrets(t, o)
			})
		}
	}
}

// valuesRef matches a value akv2k8s's templates read.
var valuesRef = regexp.MustCompile(`\.Values\.([A-Za-z0-9_.]+)`)

// TestAkv2k8sTemplateValuesFixture checks the fixture against akv2k8s's
// chart itself, when a clone of SparebankenVest/public-helm-charts is at
// hand (LATCHKEY_AKV2K8S_CHART_REPO: its git directory or work tree).
func TestAkv2k8sTemplateValuesFixture(t *testing.T) {
	repo := os.Getenv("LATCHKEY_AKV2K8S_CHART_REPO")
	if repo == "" {
		t.Skip("LATCHKEY_AKV2K8S_CHART_REPO is not set: the fixture is not compared with akv2k8s's templates")
	}
	git := func(args ...string) string {
		out, err := exec.Command("git", append([]string{"-C", repo}, args...)...).Output()
		if err != nil {
			t.Fatalf("git %v: %v", args, err)
		}
		return string(out)
	}
	seen := map[string]bool{}
	for _, f := range strings.Fields(git("ls-tree", "-r", "--name-only", "HEAD", "stable/akv2k8s/templates")) {
		for _, m := range valuesRef.FindAllStringSubmatch(git("show", "HEAD:"+f), -1) {
			seen[m[1]] = true
		}
	}
	var upstream []string
	for p := range seen {
		upstream = append(upstream, p)
	}
	sort.Strings(upstream)
	if got := readFixture(t, templateValuesFixture); !slices.Equal(got, upstream) {
		t.Errorf("%s differs from akv2k8s's templates (%s):\nfixture:  %v\nupstream: %v", templateValuesFixture, filepath.Base(repo), got, upstream)
	}
}

// defaultValuesFixture is akv2k8s's chart 2.8.4 values.yaml as a user who
// copied it has it (every key and default).
const defaultValuesFixture = "testdata/akv2k8s-2.8-default-values.yaml"

// refusedSchemaError is one value the schema refuses, naming its replacement.
var refusedSchemaError = regexp.MustCompile(`at '(/[^']*)': value must be 'REMOVED: `)

// TestAkv2k8sDefaultValues: akv2k8s's whole default values file, as users
// copy it. The keys latchkey refuses are refused all at once, each naming
// its replacement, and nothing else is (akv2k8s's empty values read as
// unset); once they are deleted, its image values are refused; once those
// are deleted too, the file installs, and what it says is rendered.
func TestAkv2k8sDefaultValues(t *testing.T) {
	raw, err := os.ReadFile(defaultValuesFixture)
	if err != nil {
		t.Fatal(err)
	}
	var values map[string]any
	if err := yaml.Unmarshal(raw, &values); err != nil {
		t.Fatal(err)
	}
	template := func(v map[string]any) ([]byte, error) {
		b, err := yaml.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(t.TempDir(), "values.yaml")
		if err := os.WriteFile(f, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return helmRun(t, "template", "latchkey", chartDir, "--namespace", "latchkey-system", "-f", f)
	}

	out, err := template(values)
	if err == nil {
		t.Fatal("akv2k8s's default values installed as they are: its refused keys were not refused")
	}
	var refused []string
	for _, m := range refusedSchemaError.FindAllStringSubmatch(string(out), -1) {
		refused = append(refused, strings.ReplaceAll(strings.TrimPrefix(m[1], "/"), "/", "."))
	}
	sort.Strings(refused)
	want := []string{
		"addAzurePodIdentityException", "controller.name", "controller.securityContext", "controller.service",
		"env_injector.authService", "env_injector.certificate", "env_injector.dockerImageInspection", "env_injector.name",
		"env_injector.rbacSubjects", "env_injector.securityContext", "env_injector.service",
		"global.metrics", "global.rbac", "kubeResyncPeriod", "name",
	}
	if !slices.Equal(refused, want) {
		t.Errorf("refused %v, want %v:\n%s", refused, want, out)
	}
	// Every error line is a refusal naming a replacement (or the heading of one).
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "at '") && !strings.Contains(l, "REMOVED: ") && !strings.HasSuffix(l, "validation failed") {
			t.Errorf("a schema error that names no replacement: %s", l)
		}
	}

	for _, p := range want {
		deletePath(values, p)
	}
	out, err = template(values)
	if err == nil || !strings.Contains(string(out), `controller.image.repository "spvest/azure-keyvault-controller" is akv2k8s's image`) {
		t.Fatalf("akv2k8s's images: err %v\n%s", err, out)
	}
	for _, c := range []string{"controller.image", "env_injector.image", "env_injector.envImage"} {
		deletePath(values, c+".repository")
		deletePath(values, c+".tag")
	}
	out, err = template(values)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	o := decodeObjects(t, out)
	hasArg(t, o, "controller", "--keyvault-auth=azureCloudConfig")
	hasArg(t, o, "webhook", "--acr-auth=azureCloudConfig")
	hasArg(t, o, "controller", "--refresh-interval=30s") // azureKeyVaultResyncPeriod: 30
	lacksArgPrefix(t, o, "controller", "--namespaces")   // watchAllNamespaces: true
	for _, c := range []string{"controller", "webhook"} {
		hasArg(t, o, c, "--log-format=text") // global.logFormat
		hasArg(t, o, c, "--log-level=info")
		field(t, o["Deployment/latchkey-"+c].Object, map[string]any{"rollingUpdate": map[string]any{"maxSurge": "25%", "maxUnavailable": "25%"}}, "spec", "strategy")
	}
	field(t, o["Deployment/latchkey-webhook"].Object, 2, "spec", "replicas") // replicaCount
	field(t, o["PodDisruptionBudget/latchkey-webhook"].Object, map[string]any{"minAvailable": 1, "selector": pdbSelector("webhook")}, "spec")
	hook := webhookHook(t, o)
	field(t, hook, "Fail", "failurePolicy")
	sel, _, _ := unstructured.NestedSlice(hook, "namespaceSelector", "matchExpressions")
	if len(sel) != 3 || !reflect.DeepEqual(sel[0], map[string]any{"key": "azure-key-vault-env-injection", "operator": "In", "values": []any{"enabled"}}) ||
		!reflect.DeepEqual(sel[2], map[string]any{"key": "name", "operator": "NotIn", "values": []any{"kube-system"}}) {
		t.Errorf("namespace selector %v", sel)
	}
	absent(t, o, "ConfigMap/latchkey-azure-config") // userDefinedMSI.enabled: false
	checkArgsParse(t, o)
	checkRestricted(t, o)
	checkEnvFromSecrets(t, o)
}

// deletePath deletes a dotted path of a values map.
func deletePath(m map[string]any, path string) {
	parts := strings.Split(path, ".")
	for _, p := range parts[:len(parts)-1] {
		next, ok := m[p].(map[string]any)
		if !ok {
			return
		}
		m = next
	}
	delete(m, parts[len(parts)-1])
}
