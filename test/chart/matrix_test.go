package chart

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// objects is what one `helm template` rendered, by kind/name.
type objects = map[string]*unstructured.Unstructured

// e2eValues are the values test/e2e/setup_test.go installs the chart with,
// its placeholders filled in: every key it uses must pass the schema.
const e2eValues = `keyVaultAuth: environment
envFromSecret: azure-credentials
env:
  SSL_CERT_FILE: /etc/latchkey-ca/ca.crt
image:
  registry: 127.0.0.1:5000/latchkey
  tag: e2e
hostAliases:
  - ip: 127.0.0.1
    hostnames: [kv.vault.azure.net, login.microsoftonline.com]
extraVolumes:
  - name: emulator-ca
    configMap: {name: emulator-ca}
extraVolumeMounts:
  - name: emulator-ca
    mountPath: /etc/latchkey-ca
    readOnly: true
controller:
  replicas: 2
  logLevel: debug
env_injector:
  logLevel: debug
  insecureRegistries: [127.0.0.1:5000]
  registryAllowNetworks: [127.0.0.1/32]
  registryDenyNetworks: [10.0.0.0/8, 192.168.0.0/16]
resolver:
  logLevel: debug
`

// TestMatrix renders each documented combination of values, checks a few
// facts of each, and that every rendered component's args parse and its
// pods are restricted (except where the node's azure.json needs root).
func TestMatrix(t *testing.T) {
	e2eFile := filepath.Join(t.TempDir(), "e2e-values.yaml")
	if err := os.WriteFile(e2eFile, []byte(e2eValues), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		args  []string
		check func(t *testing.T, o objects)
	}{
		{"defaults", nil, func(t *testing.T, o objects) {
			present(t, o, "Deployment/latchkey-controller", "Deployment/latchkey-webhook", "Deployment/latchkey-resolver",
				"PodDisruptionBudget/latchkey-webhook", "PodDisruptionBudget/latchkey-resolver", "ConfigMap/latchkey-tenancy",
				"Service/latchkey-controller-metrics", "Service/latchkey-webhook-metrics", "Service/latchkey-resolver-metrics",
				"MutatingWebhookConfiguration/latchkey-webhook")
			absent(t, o, "ServiceMonitor/latchkey-controller", "ConfigMap/latchkey-azure-config")
			hasArg(t, o, "webhook", "--resolver-url=https://latchkey-resolver.latchkey-system.svc")
			hasArg(t, o, "controller", "--refresh-interval=10m")
			lacksArgPrefix(t, o, "controller", "--namespaces=")
			lacksArgPrefix(t, o, "controller", "--rollout")
			// azureCloudConfig reads the node's azure.json, readable by root
			// only; the webhook reads ACR with it, as akv2k8s's did.
			for _, c := range []string{"controller", "webhook", "resolver"} {
				if runsAsNonRoot(o, c) {
					t.Errorf("%s: azureCloudConfig reads the node's azure.json, readable by root only", c)
				}
			}
			hasArg(t, o, "webhook", "--acr-auth=azureCloudConfig")
		}},
		{"rollouts", []string{"--set", "rollouts.enabled=true", "--set", "rollouts.window=30s"}, func(t *testing.T, o objects) {
			hasArg(t, o, "controller", "--rollouts")
			hasArg(t, o, "controller", "--rollout-window=30s")
		}},
		{"controller off", []string{"--set", "controller.enabled=false"}, func(t *testing.T, o objects) {
			absent(t, o, "Deployment/latchkey-controller", "ServiceAccount/latchkey-controller", "ClusterRole/latchkey-controller",
				"Service/latchkey-controller-metrics", "Role/latchkey-controller-leader-election")
			present(t, o, "Deployment/latchkey-webhook", "Deployment/latchkey-resolver", "ConfigMap/latchkey-tenancy")
		}},
		{"env_injector off", []string{"--set", "env_injector.enabled=false"}, func(t *testing.T, o objects) {
			// The resolver serves only pods the webhook rewrote.
			absent(t, o, "Deployment/latchkey-webhook", "MutatingWebhookConfiguration/latchkey-webhook", "ClusterRole/latchkey-webhook",
				"Deployment/latchkey-resolver", "Secret/latchkey-resolver-ca", "ClusterRole/latchkey-resolver")
			present(t, o, "Deployment/latchkey-controller", "ConfigMap/latchkey-tenancy")
		}},
		{"resolver off (direct mode)", []string{"--set", "resolver.enabled=false"}, func(t *testing.T, o objects) {
			absent(t, o, "Deployment/latchkey-resolver", "Secret/latchkey-resolver-ca", "ConfigMap/latchkey-resolver-ca-bundle",
				"ClusterRole/latchkey-resolver", "PodDisruptionBudget/latchkey-resolver")
			present(t, o, "Deployment/latchkey-webhook", "ConfigMap/latchkey-tenancy")
			lacksArgPrefix(t, o, "webhook", "--resolver-")
		}},
		{"only the webhook", []string{"--set", "controller.enabled=false", "--set", "resolver.enabled=false"}, func(t *testing.T, o objects) {
			// No component reads the tenancy policy.
			absent(t, o, "ConfigMap/latchkey-tenancy", "Deployment/latchkey-controller", "Deployment/latchkey-resolver")
			lacksArgPrefix(t, o, "webhook", "--resolver-")
		}},
		{"keyVaultAuth environment", []string{"--set", "keyVaultAuth=environment", "--set", "envFromSecret=creds"}, func(t *testing.T, o objects) {
			hasArg(t, o, "controller", "--keyvault-auth=environment")
			hasArg(t, o, "resolver", "--keyvault-auth=environment")
			if !slices.Contains(envFrom(t, o, "controller"), "creds") || !slices.Contains(envFrom(t, o, "resolver"), "creds") {
				t.Error("envFromSecret is not given to the controller and the resolver")
			}
			if slices.Contains(envFrom(t, o, "webhook"), "creds") {
				t.Error("the webhook got Key Vault credentials")
			}
		}},
		{"ACR lookups: none when keyVaultAuth is not the cloud config", []string{"--set", "keyVaultAuth=environment"}, func(t *testing.T, o objects) {
			lacksArgPrefix(t, o, "webhook", "--acr-auth")
			if !runsAsNonRoot(o, "webhook") {
				t.Error("the webhook reads no azure.json: it must run as non-root")
			}
		}},
		{"ACR lookups: off", []string{"--set", "env_injector.acrAuth=none"}, func(t *testing.T, o objects) {
			lacksArgPrefix(t, o, "webhook", "--acr-auth")
			if !runsAsNonRoot(o, "webhook") {
				t.Error("the webhook reads no azure.json: it must run as non-root")
			}
			hasArg(t, o, "controller", "--keyvault-auth=azureCloudConfig")
		}},
		{"ACR lookups: an AcrPull-only workload identity", []string{"--set", "env_injector.acrAuth=workload-identity",
			"--set", `env_injector.serviceAccount.annotations.azure\.workload\.identity/client-id=acr-pull-only`,
			"--set-string", `env_injector.podLabels.azure\.workload\.identity/use=true`}, func(t *testing.T, o objects) {
			hasArg(t, o, "webhook", "--acr-auth=workload-identity")
			if !runsAsNonRoot(o, "webhook") {
				t.Error("the webhook reads no azure.json: it must run as non-root")
			}
			if o["ServiceAccount/latchkey-webhook"].GetAnnotations()["azure.workload.identity/client-id"] != "acr-pull-only" ||
				podMeta(t, o, "webhook", "labels")["azure.workload.identity/use"] != "true" {
				t.Error("the webhook's workload identity is not configured")
			}
		}},
		{"ACR lookups with userDefinedMSI: the chart's azure.json, as non-root", []string{"--set", "userDefinedMSI.enabled=true", "--set", "userDefinedMSI.msi=msi-1"}, func(t *testing.T, o objects) {
			hasArg(t, o, "webhook", "--acr-auth=azureCloudConfig")
			field(t, volume(t, o, "webhook", "azure-config"), "latchkey-azure-config", "configMap", "name")
			if !runsAsNonRoot(o, "webhook") {
				t.Error("with userDefinedMSI the webhook must run as non-root")
			}
		}},
		{"keyVaultAuth environment-azidentity", []string{"--set", "keyVaultAuth=environment-azidentity"}, func(t *testing.T, o objects) {
			hasArg(t, o, "controller", "--keyvault-auth=environment-azidentity")
		}},
		{"keyVaultAuth workload-identity", []string{"--set", "keyVaultAuth=workload-identity",
			"--set", "controller.serviceAccount.annotations.azure\\.workload\\.identity/client-id=abc",
			"--set-string", "controller.podLabels.azure\\.workload\\.identity/use=true"}, func(t *testing.T, o objects) {
			hasArg(t, o, "resolver", "--keyvault-auth=workload-identity")
			if o["ServiceAccount/latchkey-controller"].GetAnnotations()["azure.workload.identity/client-id"] != "abc" {
				t.Error("controller.serviceAccount.annotations not rendered")
			}
		}},
		{"keyVaultAuth managed-identity with userDefinedMSI", []string{"--set", "keyVaultAuth=managed-identity",
			"--set", "userDefinedMSI.enabled=true", "--set", "userDefinedMSI.msi=client-id-1"}, func(t *testing.T, o objects) {
			hasArg(t, o, "controller", "--keyvault-auth=managed-identity")
			if env(t, o, "controller")["AZURE_CLIENT_ID"] != "client-id-1" || env(t, o, "resolver")["AZURE_CLIENT_ID"] != "client-id-1" {
				t.Error("userDefinedMSI.msi is not AZURE_CLIENT_ID in managed-identity mode")
			}
			absent(t, o, "ConfigMap/latchkey-azure-config")
		}},
		{"serviceMonitor on", []string{"--set", "metrics.serviceMonitor.enabled=true"}, func(t *testing.T, o objects) {
			present(t, o, "ServiceMonitor/latchkey-controller", "ServiceMonitor/latchkey-webhook", "ServiceMonitor/latchkey-resolver")
			if v := o["ServiceMonitor/latchkey-controller"].GetAPIVersion(); v != "monitoring.coreos.com/v1" {
				t.Errorf("ServiceMonitor apiVersion %s", v)
			}
			// metrics.auth: HTTPS (self-made certificates) with Prometheus's token.
			for _, c := range []string{"controller", "webhook", "resolver"} {
				ep := endpoint(t, o, c)
				if ep["scheme"] != "https" || ep["bearerTokenFile"] != "/var/run/secrets/kubernetes.io/serviceaccount/token" ||
					ep["tlsConfig"].(map[string]any)["insecureSkipVerify"] != true {
					t.Errorf("%s ServiceMonitor endpoint %v: want https with the ServiceAccount token", c, ep)
				}
				hasArg(t, o, c, "--metrics-auth=true")
			}
		}},
		{"serviceMonitor on, metrics.auth off", []string{"--set", "metrics.serviceMonitor.enabled=true", "--set", "metrics.auth=false"}, func(t *testing.T, o objects) {
			for _, c := range []string{"controller", "webhook", "resolver"} {
				if ep := endpoint(t, o, c); ep["scheme"] != nil || ep["bearerTokenFile"] != nil || ep["tlsConfig"] != nil {
					t.Errorf("%s ServiceMonitor endpoint %v: want plain HTTP without credentials", c, ep)
				}
				hasArg(t, o, c, "--metrics-auth=false")
			}
			absent(t, o, "ClusterRole/latchkey-metrics-auth", "ClusterRole/latchkey-metrics-reader", "ServiceAccount/latchkey-test")
		}},
		{"image lookups off", []string{"--set", "env_injector.imageLookups=false"}, func(t *testing.T, o objects) {
			hasArg(t, o, "webhook", "--image-lookups=false")
		}},
		{"serviceMonitor on, resolver off", []string{"--set", "metrics.serviceMonitor.enabled=true", "--set", "resolver.enabled=false"}, func(t *testing.T, o objects) {
			present(t, o, "ServiceMonitor/latchkey-controller", "ServiceMonitor/latchkey-webhook")
			absent(t, o, "ServiceMonitor/latchkey-resolver")
		}},
		{"failurePolicy Ignore", []string{"--set", "env_injector.failurePolicy=Ignore", "--set", "env_injector.timeoutSeconds=5"}, func(t *testing.T, o objects) {
			w, _, _ := unstructured.NestedSlice(o["MutatingWebhookConfiguration/latchkey-webhook"].Object, "webhooks")
			hook := w[0].(map[string]any)
			if hook["failurePolicy"] != "Ignore" || num(hook, "timeoutSeconds") != 5 {
				t.Errorf("failurePolicy %v, timeoutSeconds %v", hook["failurePolicy"], hook["timeoutSeconds"])
			}
			hasArg(t, o, "webhook", "--timeout=5s")
		}},
		{"single replicas: no PDB", []string{"--set", "env_injector.replicas=1", "--set", "resolver.replicas=1"}, func(t *testing.T, o objects) {
			// minAvailable 1 of 1 would block every node drain.
			absent(t, o, "PodDisruptionBudget/latchkey-webhook", "PodDisruptionBudget/latchkey-resolver")
		}},
		{"akv2k8s values", []string{"-f", "testdata/akv2k8s-values.yaml"}, func(t *testing.T, o objects) {
			// global.userDefinedMSI: the cloud config is made by the chart, so no pod runs as root.
			present(t, o, "ConfigMap/latchkey-azure-config")
			hasArg(t, o, "controller", "--keyvault-auth=azureCloudConfig") // global.keyVaultAuth
			hasArg(t, o, "resolver", "--keyvault-auth=azureCloudConfig")
			if !runsAsNonRoot(o, "controller") || !runsAsNonRoot(o, "resolver") {
				t.Error("with userDefinedMSI the controller and the resolver must run as non-root")
			}
			cfg := o["ConfigMap/latchkey-azure-config"].Object["data"].(map[string]any)["azure.json"].(string)
			if !strings.Contains(cfg, `"userAssignedIdentityID":"00000000-0000-4000-8000-0000000000a1"`) || !strings.Contains(cfg, `"useManagedIdentityExtension":true`) {
				t.Errorf("azure.json %s", cfg)
			}
			hasArg(t, o, "controller", "--refresh-interval=30s") // azureKeyVaultResyncPeriod
			hasArg(t, o, "resolver", "--refresh-interval=30s")
			hasArg(t, o, "controller", "--namespaces=latchkey-system") // watchAllNamespaces: false
			present(t, o, "RoleBinding/latchkey-controller")
			absent(t, o, "ClusterRoleBinding/latchkey-controller")
			hasArg(t, o, "resolver", "--namespace-label=akv-injection") // namespaceLabelSelector.label.name
			if n := num(o["Deployment/latchkey-webhook"].Object, "spec", "replicas"); n != 3 {
				t.Errorf("env_injector.replicaCount: %v replicas", n)
			}
			if n := num(o["PodDisruptionBudget/latchkey-webhook"].Object, "spec", "minAvailable"); n != 2 {
				t.Errorf("podDisruptionBudget.minAvailable: %v", n)
			}
			if got := envFrom(t, o, "controller"); !slices.Equal(got, []string{"akv-credentials", "controller-extra"}) {
				t.Errorf("controller envFrom %v", got) // global.envFromSecret, then the component's
			}
			if e := env(t, o, "controller"); e["AZURE_ENVIRONMENT"] != "AzurePublicCloud" || e["HTTPS_PROXY"] != "http://proxy:3128" {
				t.Errorf("controller env %v: want global.env and controller.env", e)
			}
			if env(t, o, "resolver")["AZURE_ENVIRONMENT"] != "AzurePublicCloud" {
				t.Error("global.env does not reach the resolver")
			}
			// controller.logLevel/logFormat win over global's; the webhook's are
			// empty (akv2k8s's "override global"), so global's apply, trace as debug.
			hasArg(t, o, "controller", "--log-level=info")
			hasArg(t, o, "controller", "--log-format=json")
			for _, c := range []string{"webhook", "resolver"} {
				hasArg(t, o, c, "--log-level=debug")
				hasArg(t, o, c, "--log-format=text")
			}
			if container(t, o, "controller")["image"] != "ghcr.io/latchkey-dev/latchkey-controller:v0.1.0-rc.1" {
				t.Errorf("controller.image.tag: image %v", container(t, o, "controller")["image"])
			}
			mwc := o["MutatingWebhookConfiguration/latchkey-webhook"]
			exprs, _, _ := unstructured.NestedSlice(mwc.Object, "webhooks")
			sel, _, _ := unstructured.NestedSlice(exprs[0].(map[string]any), "namespaceSelector", "matchExpressions")
			if len(sel) != 3 || sel[0].(map[string]any)["key"] != "akv-injection" {
				t.Errorf("namespace selector %v", sel)
			}
		}},
		{"akv2k8s global aliases", []string{"--set", "global.keyVaultAuth=environment",
			"--set", "global.env.FROM_GLOBAL=g", "--set", "global.env.BOTH=global", "--set", "env.BOTH=top",
			"--set", "global.envFromSecret[0].name=global-creds", "--set", "envFromSecret=top-creds",
			"--set", "global.logLevel=warn", "--set", "global.logFormat=text", "--set", "resolver.logLevel=error"}, func(t *testing.T, o objects) {
			hasArg(t, o, "controller", "--keyvault-auth=environment")
			hasArg(t, o, "resolver", "--keyvault-auth=environment")
			for _, c := range []string{"controller", "resolver"} {
				if e := env(t, o, c); e["FROM_GLOBAL"] != "g" || e["BOTH"] != "top" {
					t.Errorf("%s env %v: want global.env, with env winning", c, e)
				}
				// In envFrom the last Secret wins: envFromSecret over global.envFromSecret.
				if got := envFrom(t, o, c); !slices.Equal(got, []string{"global-creds", "top-creds"}) {
					t.Errorf("%s envFrom %v", c, got)
				}
			}
			if _, ok := env(t, o, "webhook")["FROM_GLOBAL"]; ok || len(envFrom(t, o, "webhook")) > 0 {
				t.Error("the webhook got the Key Vault environment without acrAuth")
			}
			hasArg(t, o, "controller", "--log-level=warn")
			hasArg(t, o, "webhook", "--log-level=warn")
			hasArg(t, o, "resolver", "--log-level=error") // the component's own wins
			hasArg(t, o, "controller", "--log-format=text")
			for _, c := range []string{"controller", "webhook", "resolver"} {
				if !runsAsNonRoot(o, c) {
					t.Errorf("%s runs as root with global.keyVaultAuth=environment", c)
				}
			}
		}},
		{"akv2k8s global aliases: ours win", []string{"--set", "global.keyVaultAuth=environment", "--set", "keyVaultAuth=managed-identity",
			"--set", "global.userDefinedMSI.enabled=true", "--set", "global.userDefinedMSI.msi=global-id", "--set", "userDefinedMSI.msi=top-id",
			"--set", "global.logLevel=debug", "--set", "controller.logLevel=info"}, func(t *testing.T, o objects) {
			hasArg(t, o, "controller", "--keyvault-auth=managed-identity")
			hasArg(t, o, "resolver", "--keyvault-auth=managed-identity")
			// userDefinedMSI field by field: enabled from global, msi from the top level.
			if env(t, o, "controller")["AZURE_CLIENT_ID"] != "top-id" || env(t, o, "resolver")["AZURE_CLIENT_ID"] != "top-id" {
				t.Errorf("AZURE_CLIENT_ID %q: want userDefinedMSI.msi over global.userDefinedMSI.msi", env(t, o, "controller")["AZURE_CLIENT_ID"])
			}
			hasArg(t, o, "controller", "--log-level=info")
			hasArg(t, o, "resolver", "--log-level=debug")
		}},
		{"akv2k8s global userDefinedMSI, disabled at the top level", []string{"--set", "global.userDefinedMSI.enabled=true",
			"--set", "global.userDefinedMSI.msi=global-id", "--set", "userDefinedMSI.enabled=false"}, func(t *testing.T, o objects) {
			// userDefinedMSI.enabled=false wins: the node's azure.json, as root.
			absent(t, o, "ConfigMap/latchkey-azure-config")
			if runsAsNonRoot(o, "controller") {
				t.Error("without a userDefinedMSI the controller reads the node's azure.json as root")
			}
		}},
		{"certManager, the chart's own CA", []string{"--set", "certManager.enabled=true"}, func(t *testing.T, o objects) {
			present(t, o, "Issuer/latchkey-selfsigned", "Issuer/latchkey-ca", "Certificate/latchkey-cert-manager-ca")
			ca := o["Certificate/latchkey-cert-manager-ca"]
			if isCA, _, _ := unstructured.NestedBool(ca.Object, "spec", "isCA"); !isCA {
				t.Error("the CA Certificate is not isCA")
			}
			if n, _, _ := unstructured.NestedString(ca.Object, "spec", "secretName"); n != "latchkey-cert-manager-ca" {
				t.Errorf("the CA Certificate's secretName %q", n)
			}
			if n, _, _ := unstructured.NestedString(o["Issuer/latchkey-ca"].Object, "spec", "ca", "secretName"); n != "latchkey-cert-manager-ca" {
				t.Errorf("the CA Issuer signs with %q", n)
			}
			checkCertManager(t, o, map[string]any{"name": "latchkey-ca", "kind": "Issuer", "group": "cert-manager.io"})
		}},
		{"certManager, an external issuer", []string{"--set", "certManager.enabled=true", "--set", "certManager.issuerRef.name=corp-ca",
			"--set", "certManager.issuerRef.kind=ClusterIssuer", "--set", "certManager.duration=720h", "--set", "certManager.renewBefore=240h"}, func(t *testing.T, o objects) {
			absent(t, o, "Issuer/latchkey-selfsigned", "Issuer/latchkey-ca", "Certificate/latchkey-cert-manager-ca")
			checkCertManager(t, o, map[string]any{"name": "corp-ca", "kind": "ClusterIssuer", "group": "cert-manager.io"})
			for _, c := range []string{"Certificate/latchkey-webhook", "Certificate/latchkey-resolver"} {
				spec, _, _ := unstructured.NestedMap(o[c].Object, "spec")
				if spec["duration"] != "720h" || spec["renewBefore"] != "240h" {
					t.Errorf("%s: duration %v, renewBefore %v", c, spec["duration"], spec["renewBefore"])
				}
			}
		}},
		{"certManager, resolver off", []string{"--set", "certManager.enabled=true", "--set", "resolver.enabled=false"}, func(t *testing.T, o objects) {
			present(t, o, "Certificate/latchkey-webhook")
			absent(t, o, "Certificate/latchkey-resolver", "Secret/latchkey-resolver-tls", "ConfigMap/latchkey-resolver-ca-bundle")
		}},
		{"certManager, env_injector off", []string{"--set", "certManager.enabled=true", "--set", "env_injector.enabled=false"}, func(t *testing.T, o objects) {
			// Nothing serves TLS.
			for k, u := range o {
				if u.GetAPIVersion() == "cert-manager.io/v1" {
					t.Errorf("%s rendered", k)
				}
			}
		}},
		{"e2e values", []string{"-f", e2eFile, "--set", "resolver.caRotation=1"}, func(t *testing.T, o objects) {
			for _, c := range []string{"controller", "webhook", "resolver"} {
				if !runsAsNonRoot(o, c) {
					t.Errorf("%s runs as root with keyVaultAuth=environment", c)
				}
			}
			if !slices.Contains(envFrom(t, o, "resolver"), "azure-credentials") {
				t.Error("resolver lacks envFromSecret")
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := renderArgs(t, tc.args...)
			tc.check(t, o)
			checkArgsParse(t, o)
			checkRestricted(t, o)
			checkEnvFromSecrets(t, o)
			checkTestPod(t, o)
			helm(t, append([]string{"lint", "--strict", chartDir}, tc.args...)...)
		})
	}
}

// checkCertManager: with certManager.enabled, cert-manager issues the
// Secrets the webhook and the resolver mount, from issuer; the chart makes
// no certificate, the webhook's caBundle is injected by cert-manager and the
// resolver publishes its serving Secret's ca.crt.
func checkCertManager(t *testing.T, o objects, issuer map[string]any) {
	t.Helper()
	absent(t, o, "Secret/latchkey-webhook-tls", "Secret/latchkey-resolver-tls", "Secret/latchkey-resolver-ca",
		"ConfigMap/latchkey-resolver-ca-bundle")
	for _, c := range []string{"webhook", "resolver"} {
		cert := o["Certificate/latchkey-"+c]
		if cert == nil {
			t.Errorf("no Certificate for the %s", c)
			continue
		}
		if v := cert.GetAPIVersion(); v != "cert-manager.io/v1" {
			t.Errorf("%s Certificate apiVersion %s", c, v)
		}
		spec, _, _ := unstructured.NestedMap(cert.Object, "spec")
		if spec["secretName"] != mountedSecret(t, o, c, "tls") {
			t.Errorf("%s: the Certificate writes %v, the Deployment mounts %v", c, spec["secretName"], mountedSecret(t, o, c, "tls"))
		}
		svc := "latchkey-" + c + ".latchkey-system.svc"
		if dns, _, _ := unstructured.NestedStringSlice(spec, "dnsNames"); !slices.Equal(dns, []string{svc, svc + ".cluster.local"}) {
			t.Errorf("%s dnsNames %v", c, dns)
		}
		if p, _, _ := unstructured.NestedString(spec, "privateKey", "rotationPolicy"); p != "Always" {
			t.Errorf("%s privateKey.rotationPolicy %q", c, p)
		}
		if ref, _, _ := unstructured.NestedMap(spec, "issuerRef"); !reflect.DeepEqual(ref, issuer) {
			t.Errorf("%s issuerRef %v, want %v", c, ref, issuer)
		}
	}
	mwc := o["MutatingWebhookConfiguration/latchkey-webhook"]
	if a := mwc.GetAnnotations()["cert-manager.io/inject-ca-from"]; a != "latchkey-system/latchkey-webhook" {
		t.Errorf("cert-manager.io/inject-ca-from %q", a)
	}
	hooks, _, _ := unstructured.NestedSlice(mwc.Object, "webhooks")
	if _, ok, _ := unstructured.NestedFieldNoCopy(hooks[0].(map[string]any), "clientConfig", "caBundle"); ok {
		t.Error("the chart sets a caBundle: cert-manager's cainjector must own it")
	}
	// The resolver publishes the CA of its serving certificate: ca.crt of
	// the Secret it serves from, at the --ca-bundle path.
	hasArg(t, o, "resolver", "--ca-bundle=/etc/latchkey/ca/ca.crt")
	vol := volume(t, o, "resolver", "ca-bundle")
	items, _, _ := unstructured.NestedSlice(vol, "secret", "items")
	if mountedSecret(t, o, "resolver", "ca-bundle") != "latchkey-resolver-cert-manager-tls" || len(items) != 1 ||
		!reflect.DeepEqual(items[0], map[string]any{"key": "ca.crt", "path": "ca.crt"}) {
		t.Errorf("the resolver's ca-bundle volume %v: want ca.crt of latchkey-resolver-cert-manager-tls", vol)
	}
}

// volume returns the named volume of a component's Deployment.
func volume(t *testing.T, o objects, component, name string) map[string]any {
	t.Helper()
	vols, _, _ := unstructured.NestedSlice(o["Deployment/latchkey-"+component].Object, "spec", "template", "spec", "volumes")
	for _, v := range vols {
		if m := v.(map[string]any); m["name"] == name {
			return m
		}
	}
	t.Fatalf("%s: no volume %s", component, name)
	return nil
}

// mountedSecret returns the Secret of a component's named volume.
func mountedSecret(t *testing.T, o objects, component, name string) string {
	t.Helper()
	s, _, _ := unstructured.NestedString(volume(t, o, component, name), "secret", "secretName")
	return s
}

// TestRefused: akv2k8s values that no longer make sense, and typos, fail
// `helm template`, and the error names the replacement.
func TestRefused(t *testing.T) {
	cases := []struct {
		set  string
		want string
		also []string // further --set values
	}{
		{set: "global.metrics.enabled=true", want: "the top-level metrics.serviceMonitor"},
		{set: "global.metrics.serviceMonitor.enabled=true", want: "the top-level metrics.serviceMonitor"},
		{set: "global.imageRegistry=x", want: "additional properties 'imageRegistry' not allowed"},
		{set: "global.logLevel=verbose", want: "value must be one of 'info', 'debug', 'trace', 'warn', 'error'"},
		{set: "global.keyVaultAuth=aks", want: "value must be one of"},
		{set: "global.userDefinedMSI.enabled=true", want: "'azureCloudConfig' or 'managed-identity', not 'environment'",
			also: []string{"global.userDefinedMSI.msi=x", "global.keyVaultAuth=environment"}},
		{set: "global.userDefinedMSI.enabled=true", want: "needs userDefinedMSI.msi (or global.userDefinedMSI.msi)"},
		{set: "controller.logLevel=verbose", want: "value must be one of 'debug', 'info', 'warn', 'error', 'trace'"},
		{set: "env_injector.authService=false", want: "replaced by the resolver: resolver.enabled"},
		{set: "installCrd=false", want: "crds/ folder"},
		{set: "crds.create=false", want: "crds/ folder"},
		{set: "rbac.create=false", want: "least-privilege RBAC is always created"},
		{set: "runningInsideAzureAks=false", want: "set keyVaultAuth"},
		{set: "kubeResyncPeriod=30", want: "azureKeyVaultResyncPeriod or controller.refreshInterval"},
		{set: "addAzurePodIdentityException=true", want: "keyVaultAuth=workload-identity"},
		{set: "controller.keyVaultAuth=environment", want: "set the top-level keyVaultAuth"},
		{set: "env_injector.certificate.useCertManager=true", want: "the chart makes the webhook certificate and keeps it across upgrades; for cert-manager, set certManager.enabled"},
		{set: "certManager.issuerRef.kind=ClusterIssuer", want: "needs certManager.issuerRef.name"},
		{set: "certManager.duration=90d", want: "/certManager/duration"},
		{set: "certManager.issuerRef.namespace=x", want: "additional properties 'namespace' not allowed"},
		{set: "env_injector.dockerImageInspection.timeout=20", want: "env_injector.timeoutSeconds"},
		{set: "env_injector.service.internalTlsPort=8443", want: "env_injector.port"},
		{set: "env_injector.certRotation=-1", want: "minimum: got -1, want 0"},
		{set: "env_injector.certRotation=x", want: "got string, want integer"},
		{set: "controller.metrics.enabled=true", want: "metrics.serviceMonitor.enabled"},
		{set: "controller.securityContext.allowPrivilegeEscalation=true", want: "restricted security contexts"},
		{set: "controller.serviceAccount.name=akv2k8s", want: "created by the chart"},
		{set: "cloudConfigHostPath=/x", want: "renamed cloudConfig"},
		{set: "controller.refreshIntreval=1m", want: "additional properties 'refreshIntreval' not allowed"},
		{set: "keyVaultAuth=aks", want: "value must be one of"},
		{set: "userDefinedMSI.enabled=true", want: "'azureCloudConfig' or 'managed-identity', not 'environment'",
			also: []string{"userDefinedMSI.msi=x", "keyVaultAuth=environment"}},
	}
	for _, tc := range cases {
		name := strings.Join(append([]string{tc.set}, tc.also...), ",")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			args := []string{"template", "latchkey", chartDir, "--namespace", "latchkey-system"}
			for _, s := range append([]string{tc.set}, tc.also...) {
				args = append(args, "--set", s)
			}
			out, err := helmRun(t, args...)
			if err == nil {
				t.Fatalf("helm template accepted --set %s", name)
			}
			if !strings.Contains(string(out), tc.want) {
				t.Errorf("the error does not say %q:\n%s", tc.want, out)
			}
		})
	}
}

// endpoint is the first endpoint of a component's ServiceMonitor.
func endpoint(t *testing.T, o objects, component string) map[string]any {
	t.Helper()
	sm := o["ServiceMonitor/latchkey-"+component]
	if sm == nil {
		t.Fatalf("no ServiceMonitor for the %s", component)
	}
	eps, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
	return eps[0].(map[string]any)
}

// num reads a number whichever type the decoder gave it.
func num(obj map[string]any, fields ...string) float64 {
	v, _, _ := unstructured.NestedFieldNoCopy(obj, fields...)
	switch n := v.(type) {
	case int64:
		return float64(n)
	case float64:
		return n
	}
	return -1
}

func present(t *testing.T, o objects, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if o[k] == nil {
			t.Errorf("%s not rendered", k)
		}
	}
}

func absent(t *testing.T, o objects, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if o[k] != nil {
			t.Errorf("%s rendered", k)
		}
	}
}

func hasArg(t *testing.T, o objects, component, arg string) {
	t.Helper()
	if args := containerArgs(t, o, component); !slices.Contains(args, arg) {
		t.Errorf("%s: no %s in %q", component, arg, args)
	}
}

func lacksArgPrefix(t *testing.T, o objects, component, prefix string) {
	t.Helper()
	for _, a := range containerArgs(t, o, component) {
		if strings.HasPrefix(a, prefix) {
			t.Errorf("%s: unexpected %s", component, a)
		}
	}
}

// env returns a component's environment, each variable's value read from
// the Secret its secretKeyRef names (the chart never writes a value into a
// pod spec: checkEnvFromSecrets).
func env(t *testing.T, o objects, component string) map[string]string {
	t.Helper()
	vars, _, _ := unstructured.NestedSlice(container(t, o, component), "env")
	m := map[string]string{}
	for _, v := range vars {
		e := v.(map[string]any)
		name := e["name"].(string)
		ref, ok, _ := unstructured.NestedStringMap(e, "valueFrom", "secretKeyRef")
		if !ok {
			t.Errorf("%s: variable %s is not read from a Secret", component, name)
			continue
		}
		m[name] = secretValue(t, o, ref["name"], ref["key"])
	}
	return m
}

// secretValue is a key of a rendered Secret, decoded.
func secretValue(t *testing.T, o objects, name, key string) string {
	t.Helper()
	s := o["Secret/"+name]
	if s == nil {
		t.Errorf("Secret %s not rendered", name)
		return ""
	}
	b64, ok, _ := unstructured.NestedString(s.Object, "data", key)
	if !ok {
		t.Errorf("Secret %s has no key %s", name, key)
		return ""
	}
	v, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Errorf("Secret %s key %s: %v", name, key, err)
	}
	return string(v)
}

func envFrom(t *testing.T, o objects, component string) []string {
	t.Helper()
	refs, _, _ := unstructured.NestedSlice(container(t, o, component), "envFrom")
	var names []string
	for _, r := range refs {
		n, _, _ := unstructured.NestedString(r.(map[string]any), "secretRef", "name")
		names = append(names, n)
	}
	return names
}

func runsAsNonRoot(o objects, component string) bool {
	d := o["Deployment/latchkey-"+component]
	v, _, _ := unstructured.NestedBool(d.Object, "spec", "template", "spec", "securityContext", "runAsNonRoot")
	return v
}

// checkRestricted: every pod meets Pod Security "restricted", except that a
// pod mounting the node's azure.json (hostPath, readable by root only) runs
// as root.
func checkRestricted(t *testing.T, o objects) {
	t.Helper()
	for key, spec := range podSpecs(o) {
		hostPath := false
		vols, _, _ := unstructured.NestedSlice(spec, "volumes")
		for _, v := range vols {
			if _, ok := v.(map[string]any)["hostPath"]; ok {
				hostPath = true
			}
		}
		if nonRoot, _, _ := unstructured.NestedBool(spec, "securityContext", "runAsNonRoot"); nonRoot == hostPath {
			t.Errorf("%s: runAsNonRoot %v with a hostPath volume %v", key, nonRoot, hostPath)
		}
		if p, _, _ := unstructured.NestedString(spec, "securityContext", "seccompProfile", "type"); p != "RuntimeDefault" {
			t.Errorf("%s: seccompProfile %q", key, p)
		}
		cs, _, _ := unstructured.NestedSlice(spec, "containers")
		for _, c := range cs {
			sc, _, _ := unstructured.NestedMap(c.(map[string]any), "securityContext")
			drop, _, _ := unstructured.NestedStringSlice(sc, "capabilities", "drop")
			if sc["allowPrivilegeEscalation"] != false || sc["readOnlyRootFilesystem"] != true || !slices.Equal(drop, []string{"ALL"}) {
				t.Errorf("%s: container securityContext %v", key, sc)
			}
		}
	}
}
