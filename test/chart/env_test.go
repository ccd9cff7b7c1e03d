package chart

import (
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// podSpecs are the pod specs of every rendered workload (Deployments and
// the test Pod), by kind/name.
func podSpecs(o objects) map[string]map[string]any {
	specs := map[string]map[string]any{}
	for k, u := range o {
		switch u.GetKind() {
		case "Deployment":
			spec, _, _ := unstructured.NestedMap(u.Object, "spec", "template", "spec")
			specs[k] = spec
		case "Pod":
			spec, _, _ := unstructured.NestedMap(u.Object, "spec")
			specs[k] = spec
		}
	}
	return specs
}

// checkEnvFromSecrets: no container of any rendered pod has a variable
// with a value: each is read from a Secret (secretKeyRef) the chart
// renders, or comes from the user's Secrets (envFrom secretRef). A
// render without a workload fails: there would be nothing to check.
func checkEnvFromSecrets(t *testing.T, o objects) {
	t.Helper()
	specs := podSpecs(o)
	if len(specs) == 0 {
		t.Errorf("no workload rendered (%d objects)", len(o))
	}
	for key, spec := range specs {
		for _, list := range []string{"containers", "initContainers"} {
			cs, _, _ := unstructured.NestedSlice(spec, list)
			for _, c := range cs {
				vars, _, _ := unstructured.NestedSlice(c.(map[string]any), "env")
				for _, v := range vars {
					e := v.(map[string]any)
					ref, ok, _ := unstructured.NestedStringMap(e, "valueFrom", "secretKeyRef")
					if _, literal := e["value"]; literal || !ok {
						t.Errorf("%s: variable %v is not read from a Secret", key, e["name"])
						continue
					}
					if o["Secret/"+ref["name"]] == nil {
						t.Errorf("%s: variable %v reads Secret %s, which the chart does not render", key, e["name"], ref["name"])
					}
				}
				from, _, _ := unstructured.NestedSlice(c.(map[string]any), "envFrom")
				for _, f := range from {
					if _, ok := f.(map[string]any)["secretRef"]; !ok {
						t.Errorf("%s: envFrom %v is not a Secret", key, f)
					}
				}
			}
		}
	}
}

// TestCredentialsNeverLiteral: a credential set in any of akv2k8s's env
// values, for any authentication mode and component set, never appears in
// the rendered manifests as it is (Secret data is base64); it is in the
// data of the Secret of each component that gets it, and every variable
// of every pod is read from a Secret.
func TestCredentialsNeverLiteral(t *testing.T) {
	const literal = "client-secret-Xq7Lm2Pz9"
	sources := []string{"global.env", "env", "controller.env", "env_injector.env", "resolver.env"}
	// Each way the webhook may hold an identity, and component sets.
	modes := [][]string{
		{"keyVaultAuth=environment"},
		{"keyVaultAuth=azureCloudConfig"},
		{"keyVaultAuth=environment", "env_injector.acrAuth=environment"},
		{"keyVaultAuth=environment", "resolver.enabled=false"},
	}
	for _, src := range sources {
		for _, mode := range modes {
			name := src + "," + strings.Join(mode, ",")
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				args := []string{"template", "latchkey", chartDir, "--namespace", "latchkey-system",
					"--set", src + ".AZURE_CLIENT_SECRET=" + literal, "--set", src + ".AZURE_TENANT_ID=tenant-1"}
				for _, m := range mode {
					args = append(args, "--set", m)
				}
				out := helm(t, args...)
				if strings.Contains(string(out), literal) {
					t.Fatalf("the credential appears in the rendered manifests:\n%s", grepLines(string(out), literal))
				}
				o := decodeObjects(t, out)
				checkEnvFromSecrets(t, o)
				holders := 0
				for k, u := range o {
					if u.GetKind() != "Secret" {
						continue
					}
					data, _, _ := unstructured.NestedStringMap(u.Object, "data")
					for key, b64 := range data {
						if v, _ := base64.StdEncoding.DecodeString(b64); string(v) == literal {
							if key != "AZURE_CLIENT_SECRET" || !strings.HasSuffix(k, "-env") {
								t.Errorf("the credential is in %s under %s", k, key)
							}
							holders++
						}
					}
				}
				// A credential reaches no component only when none that
				// may hold it runs: without the resolver, those of
				// resolver.env and (the webhook holding no identity of
				// its own) of env_injector.env.
				noResolver := slices.Contains(mode, "resolver.enabled=false")
				reaches := !noResolver || (src != "resolver.env" && src != "env_injector.env")
				if reaches != (holders > 0) {
					t.Errorf("%d Secrets hold the credential; want some: %v", holders, reaches)
				}
			})
		}
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestWhoGetsTheEnvironment: which component receives which variable and
// Secret, for each place akv2k8s's values put them and each identity the
// webhook may have for ACR.
func TestWhoGetsTheEnvironment(t *testing.T) {
	base := []string{
		"global.env.G_PLAIN=g", "env.T_PLAIN=t", "env.AZURE_TENANT_ID=tenant", "env.AZURE_CLIENT_SECRET=top-secret",
		"controller.env.C_PLAIN=c", "env_injector.env.I_PLAIN=i", "env_injector.env.AZURE_CLIENT_ID=injector-id",
		"env_injector.env.AZURE_PASSWORD=injector-password", "resolver.env.R_PLAIN=r",
		"global.envFromSecret[0].name=global-secret", "envFromSecret=top-secret-ref",
		"controller.envFromSecret[0].name=controller-secret", "env_injector.envFromSecret[0].name=injector-secret",
		"resolver.envFromSecret[0].name=resolver-secret",
	}
	all := func(names ...string) []string { return names }
	cases := []struct {
		name                             string
		mode                             []string
		controller, webhook, resolver    []string // variables
		controllerS, webhookS, resolverS []string // Secrets, in envFrom order
	}{
		{
			name:        "webhook without ACR identity (keyVaultAuth environment)",
			mode:        []string{"keyVaultAuth=environment"},
			controller:  all("AZURE_CLIENT_SECRET", "AZURE_TENANT_ID", "C_PLAIN", "G_PLAIN", "T_PLAIN"),
			webhook:     all("I_PLAIN"),
			resolver:    all("AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_PASSWORD", "AZURE_TENANT_ID", "G_PLAIN", "R_PLAIN", "T_PLAIN"),
			controllerS: all("global-secret", "top-secret-ref", "controller-secret"),
			webhookS:    nil,
			resolverS:   all("global-secret", "top-secret-ref", "injector-secret", "resolver-secret"),
		},
		{
			name:        "webhook with the cloud config (default): no secret variable, no Secret",
			mode:        []string{"keyVaultAuth=azureCloudConfig"},
			controller:  all("AZURE_CLIENT_SECRET", "AZURE_TENANT_ID", "C_PLAIN", "G_PLAIN", "T_PLAIN"),
			webhook:     all("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "G_PLAIN", "I_PLAIN", "T_PLAIN"),
			resolver:    all("AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_PASSWORD", "AZURE_TENANT_ID", "G_PLAIN", "R_PLAIN", "T_PLAIN"),
			controllerS: all("global-secret", "top-secret-ref", "controller-secret"),
			webhookS:    nil,
			resolverS:   all("global-secret", "top-secret-ref", "injector-secret", "resolver-secret"),
		},
		{
			name:        "webhook with acrAuth environment: env_injector's credentials are its own",
			mode:        []string{"keyVaultAuth=environment", "env_injector.acrAuth=environment"},
			controller:  all("AZURE_CLIENT_SECRET", "AZURE_TENANT_ID", "C_PLAIN", "G_PLAIN", "T_PLAIN"),
			webhook:     all("AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_PASSWORD", "AZURE_TENANT_ID", "G_PLAIN", "I_PLAIN", "T_PLAIN"),
			resolver:    all("AZURE_CLIENT_SECRET", "AZURE_TENANT_ID", "G_PLAIN", "R_PLAIN", "T_PLAIN"),
			controllerS: all("global-secret", "top-secret-ref", "controller-secret"),
			webhookS:    all("global-secret", "top-secret-ref", "injector-secret"),
			resolverS:   all("global-secret", "top-secret-ref", "resolver-secret"),
		},
		{
			name:        "webhook with acrAuth workload-identity: no secret variable; env_injector's credentials are its own",
			mode:        []string{"keyVaultAuth=environment", "env_injector.acrAuth=workload-identity"},
			controller:  all("AZURE_CLIENT_SECRET", "AZURE_TENANT_ID", "C_PLAIN", "G_PLAIN", "T_PLAIN"),
			webhook:     all("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "G_PLAIN", "I_PLAIN", "T_PLAIN"),
			resolver:    all("AZURE_CLIENT_SECRET", "AZURE_TENANT_ID", "G_PLAIN", "R_PLAIN", "T_PLAIN"),
			controllerS: all("global-secret", "top-secret-ref", "controller-secret"),
			webhookS:    all("global-secret", "top-secret-ref", "injector-secret"),
			resolverS:   all("global-secret", "top-secret-ref", "resolver-secret"),
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var args []string
			for _, s := range append(append([]string(nil), base...), tc.mode...) {
				args = append(args, "--set", s)
			}
			o := renderArgs(t, args...)
			checkEnvFromSecrets(t, o)
			for _, c := range []struct {
				component     string
				vars, secrets []string
			}{{"controller", tc.controller, tc.controllerS}, {"webhook", tc.webhook, tc.webhookS}, {"resolver", tc.resolver, tc.resolverS}} {
				e := env(t, o, c.component)
				var names []string
				for n := range e {
					names = append(names, n)
				}
				slices.Sort(names)
				if !slices.Equal(names, c.vars) {
					t.Errorf("%s variables %v, want %v", c.component, names, c.vars)
				}
				if got := envFrom(t, o, c.component); !slices.Equal(got, c.secrets) {
					t.Errorf("%s Secrets %v, want %v", c.component, got, c.secrets)
				}
			}
			if e := env(t, o, "resolver"); slices.Contains(tc.resolver, "AZURE_CLIENT_ID") && e["AZURE_CLIENT_ID"] != "injector-id" {
				t.Errorf("resolver AZURE_CLIENT_ID %q, want env_injector.env's", e["AZURE_CLIENT_ID"])
			}
		})
	}
}

// TestEnvGeneration: the pod template of a component carries the
// generation of its environment, which its Secret carries too (an upgrade
// then rolls the pods only when a variable changed; see
// test/e2e TestUpgradeChangesNothing), and nothing derived from a value.
func TestEnvGeneration(t *testing.T) {
	o := render(t, "env.AZURE_CLIENT_SECRET=s", "env_injector.env.HTTP_PROXY=p")
	for _, c := range []string{"controller", "webhook", "resolver"} {
		s := o["Secret/latchkey-"+c+"-env"]
		if s == nil {
			t.Fatalf("no environment Secret for the %s", c)
		}
		gen := s.GetAnnotations()["latchkey.dev/env-generation"]
		if gen != "1" || podMeta(t, o, c, "annotations")["latchkey.dev/env-generation"] != gen {
			t.Errorf("%s: Secret generation %q, pod template %q; want 1 and 1", c, gen, podMeta(t, o, c, "annotations")["latchkey.dev/env-generation"])
		}
	}
	o = render(t)
	for _, c := range []string{"controller", "webhook", "resolver"} {
		absent(t, o, "Secret/latchkey-"+c+"-env")
		if _, ok := podMeta(t, o, c, "annotations")["latchkey.dev/env-generation"]; ok {
			t.Errorf("%s: a generation without an environment", c)
		}
	}
}

// TestIdentityToResolver: the identity values akv2k8s users set on
// env_injector (its auth service held the Key Vault identity) reach the
// resolver, which holds it in latchkey, unless the webhook reads ACR with
// a pod identity: then they configure that, and stay the webhook's only.
// Other values stay the webhook's.
func TestIdentityToResolver(t *testing.T) {
	values := []string{
		"--set-string", `env_injector.podLabels.azure\.workload\.identity/use=true`,
		"--set", "env_injector.podLabels.aadpodidbinding=akv2k8s-identity",
		"--set", "env_injector.podLabels.team=platform",
		"--set-string", `env_injector.podAnnotations.azure\.workload\.identity/service-account-token-expiration=3600`,
		"--set", `env_injector.serviceAccount.annotations.azure\.workload\.identity/client-id=00000000-0000-4000-8000-0000000000c1`,
		"--set", `env_injector.serviceAccount.annotations.azure\.workload\.identity/tenant-id=00000000-0000-4000-8000-0000000000c2`,
		"--set", "env_injector.serviceAccount.annotations.team=platform",
	}
	identityLabels := map[string]string{"azure.workload.identity/use": "true", "aadpodidbinding": "akv2k8s-identity"}
	identityAnnotations := map[string]string{"azure.workload.identity/client-id": "00000000-0000-4000-8000-0000000000c1", "azure.workload.identity/tenant-id": "00000000-0000-4000-8000-0000000000c2"}
	for _, tc := range []struct {
		name         string
		mode         []string
		webhookKeeps bool
	}{
		{"keyVaultAuth workload-identity", []string{"keyVaultAuth=workload-identity"}, false},
		{"the default (cloud config)", nil, false},
		{"the webhook reads ACR with workload identity", []string{"keyVaultAuth=workload-identity", "env_injector.acrAuth=workload-identity"}, true},
		{"the webhook reads ACR with a managed identity", []string{"keyVaultAuth=managed-identity", "env_injector.acrAuth=managed-identity"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string(nil), values...)
			for _, m := range tc.mode {
				args = append(args, "--set", m)
			}
			o := renderArgs(t, args...)
			rl, wl := podMeta(t, o, "resolver", "labels"), podMeta(t, o, "webhook", "labels")
			ra, wa := o["ServiceAccount/latchkey-resolver"].GetAnnotations(), o["ServiceAccount/latchkey-webhook"].GetAnnotations()
			// One of the two holds them: the webhook when they configure
			// its own ACR identity, else the resolver.
			holder, other := rl, wl
			if tc.webhookKeeps {
				holder, other = wl, rl
			}
			for k, v := range identityLabels {
				if holder[k] != v {
					t.Errorf("pod label %s = %q, want %q", k, holder[k], v)
				}
				if _, ok := other[k]; ok {
					t.Errorf("pod label %s on both", k)
				}
			}
			holder, other = ra, wa
			if tc.webhookKeeps {
				holder, other = wa, ra
			}
			for k, v := range identityAnnotations {
				if holder[k] != v {
					t.Errorf("ServiceAccount annotation %s = %q, want %q", k, holder[k], v)
				}
				if _, ok := other[k]; ok {
					t.Errorf("ServiceAccount annotation %s on both", k)
				}
			}
			component := map[bool]string{true: "webhook", false: "resolver"}[tc.webhookKeeps]
			if podMeta(t, o, component, "annotations")["azure.workload.identity/service-account-token-expiration"] != "3600" {
				t.Errorf("the workload identity pod annotation does not reach the %s", component)
			}
			if wl["team"] != "platform" || wa["team"] != "platform" || rl["team"] != "" || ra["team"] != "" {
				t.Error("the webhook's own labels and annotations must stay the webhook's only")
			}
		})
	}
	// The resolver's own values win over the ones taken from env_injector.
	o := renderArgs(t, append(values, "--set", `resolver.serviceAccount.annotations.azure\.workload\.identity/client-id=resolver-own`)...)
	if got := o["ServiceAccount/latchkey-resolver"].GetAnnotations()["azure.workload.identity/client-id"]; got != "resolver-own" {
		t.Errorf("resolver client-id %q: its own value must win", got)
	}
}

// TestObjectLabelsRendering: akv2k8s's OBJECT_LABELS, wherever akv2k8s
// read it from (the controller's environment: controller.env, and
// global.env, which reached every component), is the controller's
// --selector and is in no component's environment; controller.objectLabels too; both
// set and different are refused.
func TestObjectLabelsRendering(t *testing.T) {
	for _, src := range []string{"controller.env", "env", "global.env"} {
		t.Run(src, func(t *testing.T) {
			t.Parallel()
			o := render(t, src+".OBJECT_LABELS=someSecretLabel=someSecretValue")
			hasArg(t, o, "controller", "--selector=someSecretLabel=someSecretValue")
			for _, c := range []string{"controller", "webhook", "resolver"} {
				if _, ok := env(t, o, c)["OBJECT_LABELS"]; ok {
					t.Errorf("%s: OBJECT_LABELS left in the environment", c)
				}
			}
		})
	}
	o := render(t, "controller.objectLabels=shard=1")
	hasArg(t, o, "controller", "--selector=shard=1")
	o = render(t, "controller.objectLabels=shard=1", "controller.env.OBJECT_LABELS=shard=1")
	hasArg(t, o, "controller", "--selector=shard=1")
	out, err := helmRun(t, "template", "latchkey", chartDir, "--set", "controller.objectLabels=shard=1", "--set", "controller.env.OBJECT_LABELS=shard=2")
	if err == nil || !strings.Contains(string(out), `controller.objectLabels "shard=1" and akv2k8s's OBJECT_LABELS "shard=2" (controller.env, env or global.env) differ`) {
		t.Errorf("err %v:\n%s", err, out)
	}
	lacksArgPrefix(t, render(t), "controller", "--selector")
}

// TestAkv2k8sRuntimeVariables: akv2k8s's components read settings from
// variables ("runtime configuration") latchkey's do not: set in any env
// value, each is refused naming the value that does it now.
func TestAkv2k8sRuntimeVariables(t *testing.T) {
	sources := []string{"global.env", "env", "controller.env", "env_injector.env", "resolver.env"}
	for i, tc := range []struct{ name, want string }{
		{"AUTH_TYPE", "use keyVaultAuth"},
		{"USE_AUTH_SERVICE", "use resolver.enabled"},
		{"AZUREKEYVAULT_ENV_IMAGE", "use env_injector.envImage"},
		{"WEBHOOK_CONTAINER_IMAGE_PULL_POLICY", "use env_injector.envImage.pullPolicy"},
		{"DOCKER_IMAGE_INSPECTION_TIMEOUT", "use env_injector.timeoutSeconds"},
		{"METRICS_ENABLED", "metrics.serviceMonitor.enabled"},
		{"HTTP_PORT", "<component>.metrics.port"},
		{"WEBHOOK_INIT_CONTAINER_REQUESTS_CPU", "the injected init container's resources are fixed"},
		{"WEBHOOK_CONTAINER_SECURITY_CONTEXT_PRIVILEGED", "always runs as non-root"},
	} {
		// Each variable in one of the env values, each value in turn.
		src := sources[i%len(sources)]
		t.Run(src+"."+tc.name, func(t *testing.T) {
			t.Parallel()
			out, err := helmRun(t, "template", "latchkey", chartDir, "--set", src+"."+tc.name+"=x")
			want := fmt.Sprintf("%s.%s is read by akv2k8s's", src, tc.name)
			if err == nil || !strings.Contains(string(out), want) || !strings.Contains(string(out), tc.want) {
				t.Errorf("want %q and %q; err %v:\n%s", want, tc.want, err, out)
			}
		})
	}
}
