{{/* How akv2k8s 2.8.x values that latchkey spells or places differently
     become latchkey's, and the checks that refuse those that would
     otherwise render something that cannot work. The schema refuses what
     a key alone tells (values.schema.json); these need the value. */}}

{{/* The Azure identity the webhook uses to read image configs from ACR:
     env_injector.acrAuth; unset, azureCloudConfig when the Key Vault
     identity is the cloud config (keyVaultAuth, or akv2k8s's
     global.keyVaultAuth), as akv2k8s's env-injector read ACR with it; else
     none. "none" turns it off. Empty means none. */}}
{{- define "latchkey.acrAuth" -}}
{{- $a := .Values.env_injector.acrAuth | default "" }}
{{- if eq $a "none" }}
{{- else if $a }}{{ $a }}
{{- else if eq (include "latchkey.keyVaultAuth" .) "azureCloudConfig" }}azureCloudConfig
{{- end }}
{{- end }}

{{/* The label selector of the AzureKeyVaultSecrets the controller syncs:
     controller.objectLabels, else akv2k8s's OBJECT_LABELS variable of the
     controller's environment (global.env, env, controller.env): akv2k8s's
     documented way to shard, a list of key=value (a subset of a label
     selector's syntax). latchkey.validate refuses the two when both are
     set and differ. */}}
{{- define "latchkey.objectSelector" -}}
{{- $env := merge (include "latchkey.stringMap" (.Values.controller.env | default dict) | fromJson) (include "latchkey.chartEnv" . | fromJson) }}
{{- .Values.controller.objectLabels | default (get $env "OBJECT_LABELS") }}
{{- end }}

{{/* Whether a pod label, pod annotation or ServiceAccount annotation key
     configures a pod's Azure identity: Azure workload identity
     (azure.workload.identity/...) or aad-pod-identity (aadpodidbinding). */}}
{{- define "latchkey.isIdentityKey" -}}
{{- if or (hasPrefix "azure.workload.identity/" .) (eq . "aadpodidbinding") }}true{{ end }}
{{- end }}

{{/* Whether the webhook's ACR identity is a pod identity (workload or
     managed identity), which the identity keys of env_injector's labels
     and annotations configure: then those keys are the webhook's own. */}}
{{- define "latchkey.webhookPodIdentity" -}}
{{- if has (include "latchkey.acrAuth" .) (list "workload-identity" "managed-identity") }}true{{ end }}
{{- end }}

{{/* Whether the webhook's ACR identity reads the environment (modes
     environment, workload-identity, managed-identity): then
     env_injector.env's AZURE_* variables and env_injector.envFromSecret
     are the webhook's own. */}}
{{- define "latchkey.webhookEnvIdentity" -}}
{{- if has (include "latchkey.acrAuth" .) (list "environment" "workload-identity" "managed-identity") }}true{{ end }}
{{- end }}

{{/* Labels or annotations of a component (field podLabels, podAnnotations
     or serviceAccount.annotations), as JSON. akv2k8s's env-injector was
     also its auth service, which held the Key Vault identity: the identity
     keys users set on env_injector go to the resolver, which holds that
     identity now (its own values win) — unless the webhook reads ACR with
     a pod identity: then they configure that, and stay the webhook's.
     Call with (dict "root" $ "component" name "field" name). */}}
{{- define "latchkey.identityMap" -}}
{{- $v := .root.Values }}
{{- $get := dict
      "podLabels" (dict "controller" $v.controller.podLabels "webhook" $v.env_injector.podLabels "resolver" $v.resolver.podLabels)
      "podAnnotations" (dict "controller" $v.controller.podAnnotations "webhook" $v.env_injector.podAnnotations "resolver" $v.resolver.podAnnotations)
      "serviceAccount.annotations" (dict
        "controller" (($v.controller.serviceAccount | default dict).annotations)
        "webhook" (($v.env_injector.serviceAccount | default dict).annotations)
        "resolver" (($v.resolver.serviceAccount | default dict).annotations)) }}
{{- $own := index (index $get .field) .component | default dict }}
{{- $inj := index (index $get .field) "webhook" | default dict }}
{{- $out := dict }}
{{- if eq .component "webhook" }}
{{- $keep := include "latchkey.webhookPodIdentity" .root }}
{{- range $k, $val := $own }}{{ if or $keep (not (include "latchkey.isIdentityKey" $k)) }}{{ $_ := set $out $k $val }}{{ end }}{{ end }}
{{- else if eq .component "resolver" }}
{{- if not (include "latchkey.webhookPodIdentity" .root) }}
{{- range $k, $val := $inj }}{{ if include "latchkey.isIdentityKey" $k }}{{ $_ := set $out $k $val }}{{ end }}{{ end }}
{{- end }}
{{- range $k, $val := $own }}{{ $_ := set $out $k $val }}{{ end }}
{{- else }}
{{- $out = $own }}
{{- end }}
{{- toJson $out }}
{{- end }}

{{/* akv2k8s's images (spvest/azure-keyvault-controller, -webhook, -env)
     and their tags (akv2k8s released 0.1.x to 1.8.x, never with a "v";
     latchkey's images are tagged v<version>) do not run latchkey: a
     reference mixing them with latchkey's registry names no image at all,
     and an env image that cannot be pulled stops every injected pod. Each
     is refused, naming the value to use. */}}
{{- define "latchkey.validateImages" -}}
{{- $v := .Values }}
{{- $images := list
      (list "controller.image" $v.controller.image "latchkey-controller")
      (list "env_injector.image" $v.env_injector.image "latchkey-webhook")
      (list "env_injector.envImage" $v.env_injector.envImage "latchkey-env")
      (list "resolver.image" $v.resolver.image "latchkey-resolver") }}
{{- $akvTag := `^[01]\.[0-9]+\.[0-9]+([-.+].*)?$` }}
{{- if regexMatch $akvTag ($v.image.tag | default "" | toString) }}
{{- fail (printf "image.tag %q is an akv2k8s version: latchkey's images are tagged v<version> (default: the chart's appVersion, %s); remove image.tag or set a latchkey version" (toString $v.image.tag) $.Chart.AppVersion) }}
{{- end }}
{{- range $images }}
{{- $path := index . 0 }}{{ $img := index . 1 | default dict }}{{ $ours := index . 2 }}
{{- $repo := $img.repository | default "" }}
{{- if hasPrefix "azure-keyvault-" (last (splitList "/" $repo)) }}
{{- fail (printf "%s.repository %q is akv2k8s's image, which does not run latchkey: remove it (default: %s under image.registry, %s), or name your mirror of latchkey's image (image.registry, or a repository such as myregistry.example.com/latchkey/%s)" $path $repo $ours $v.image.registry $ours) }}
{{- end }}
{{- if regexMatch $akvTag ($img.tag | default "" | toString) }}
{{- fail (printf "%s.tag %q is an akv2k8s version: latchkey's images are tagged v<version> (default: image.tag, else the chart's appVersion, %s); remove %s.tag or set a latchkey version" $path (toString $img.tag) $.Chart.AppVersion $path) }}
{{- end }}
{{- end }}
{{- end }}

{{/* akv2k8s's components read settings from environment variables its
     chart set, and users added some through <component>.env (akv2k8s's
     "runtime configuration"). latchkey's components read none of them; each
     is refused naming its value, except OBJECT_LABELS, which becomes the
     controller's selector. Checked in global.env, env and each component's
     env. */}}
{{- define "latchkey.validateEnv" -}}
{{- $v := .Values }}
{{- $replaced := dict
      "AUTH_TYPE" "keyVaultAuth (the controller's and the resolver's Key Vault identity) and env_injector.acrAuth (the webhook's ACR lookups)"
      "USE_AUTH_SERVICE" "resolver.enabled (false: direct mode)"
      "AZUREKEYVAULT_ENV_IMAGE" "env_injector.envImage"
      "WEBHOOK_CONTAINER_IMAGE_PULL_POLICY" "env_injector.envImage.pullPolicy"
      "DOCKER_IMAGE_INSPECTION_TIMEOUT" "env_injector.timeoutSeconds"
      "METRICS_ENABLED" "metrics are always served; ServiceMonitors: metrics.serviceMonitor.enabled"
      "HTTP_PORT" "<component>.metrics.port" }}
{{- $sources := dict "global.env" (($v.global | default dict).env) "env" $v.env "controller.env" $v.controller.env "env_injector.env" $v.env_injector.env "resolver.env" $v.resolver.env }}
{{- range $src, $env := $sources }}
{{- range $k, $_ := ($env | default dict) }}
{{- if hasKey $replaced $k }}
{{- fail (printf "%s.%s is read by akv2k8s's components, not latchkey's: use %s" $src $k (get $replaced $k)) }}
{{- else if hasPrefix "WEBHOOK_INIT_CONTAINER_" $k }}
{{- fail (printf "%s.%s is read by akv2k8s's env-injector, not latchkey's: the injected init container's resources are fixed (10m CPU, 16Mi-32Mi memory)" $src $k) }}
{{- else if hasPrefix "WEBHOOK_CONTAINER_SECURITY_CONTEXT_" $k }}
{{- fail (printf "%s.%s is read by akv2k8s's env-injector, not latchkey's: the injected init container always runs as non-root, read-only, without privileges (Pod Security restricted)" $src $k) }}
{{- end }}
{{- end }}
{{- end }}
{{- $env := merge (include "latchkey.stringMap" ($v.controller.env | default dict) | fromJson) (include "latchkey.chartEnv" . | fromJson) }}
{{- if and $v.controller.objectLabels (hasKey $env "OBJECT_LABELS") (ne $v.controller.objectLabels (get $env "OBJECT_LABELS")) }}
{{- fail (printf "controller.objectLabels %q and akv2k8s's OBJECT_LABELS %q (controller.env, env or global.env) differ: set one (both are the label selector of the AzureKeyVaultSecrets the controller syncs)" $v.controller.objectLabels (get $env "OBJECT_LABELS")) }}
{{- end }}
{{- end }}

{{/* akv2k8s switches whose only value latchkey can honour is akv2k8s's
     default: <component>.automountServiceAccountToken and
     <component>.serviceAccount.create (every latchkey component reads the
     API server as its own ServiceAccount, which the chart makes and binds
     its RBAC to), and env_injector.namespaceLabelSelector.label.value (the
     opt-in label's value is always enabled). */}}
{{- define "latchkey.validateSwitches" -}}
{{- $v := .Values }}
{{- range $path, $c := dict "controller" $v.controller "env_injector" $v.env_injector "resolver" $v.resolver }}
{{- if and (hasKey $c "automountServiceAccountToken") (eq (toString $c.automountServiceAccountToken) "false") }}
{{- fail (printf "%s.automountServiceAccountToken false: latchkey's %s reads the API server with its ServiceAccount's token, which the chart always mounts (only true is accepted)" $path $path) }}
{{- end }}
{{- if eq (toString (($c.serviceAccount | default dict).create)) "false" }}
{{- fail (printf "%s.serviceAccount.create false: the chart always creates the ServiceAccount <release>-%s and binds its least-privilege RBAC to it (only true is accepted); annotate it with %s.serviceAccount.annotations" $path (ternary "webhook" $path (eq $path "env_injector")) $path) }}
{{- end }}
{{- end }}
{{- $value := ((($v.env_injector.namespaceLabelSelector | default dict).label | default dict).value) }}
{{- if and (not (kindIs "invalid" $value)) (ne (toString $value) "enabled") }}
{{- fail (printf "env_injector.namespaceLabelSelector.label.value %q: the opt-in label's value is always enabled (only enabled is accepted); its key is env_injector.namespaceLabel (or namespaceLabelSelector.label.name)" (toString $value)) }}
{{- end }}
{{- end }}

{{/* A Deployment strategy: akv2k8s rendered type Recreate without its
     rollingUpdate (which the API server refuses beside Recreate). */}}
{{- define "latchkey.strategy" -}}
{{- if eq (toString (.type | default "")) "Recreate" }}
type: Recreate
{{- else }}
{{- toYaml . }}
{{- end }}
{{- end }}
