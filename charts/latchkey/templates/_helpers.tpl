{{/* Common names and labels. The name is the chart's, or nameOverride;
     the full name, the prefix of every object, is fullnameOverride, else
     the release name (when it holds the name), else <release>-<name>.
     akv2k8s's templates read both values the same way. */}}
{{- define "latchkey.name" -}}
{{- .Values.nameOverride | default .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "latchkey.fullname" -}}
{{- $name := include "latchkey.name" . }}
{{- if .Values.fullnameOverride }}{{ .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else if contains $name .Release.Name }}{{ .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}{{ printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}{{ end }}
{{- end }}

{{- define "latchkey.labels" -}}
app.kubernetes.io/name: {{ include "latchkey.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end }}

{{- define "latchkey.selector" -}}
app.kubernetes.io/name: {{ include "latchkey.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* A component's pod labels beyond its selector: latchkey.dev/metrics,
     which its metrics Service selects too, so that the metrics Service's
     selector differs from the serving Service's (AKS Deployment
     Safeguards refuse two Services of a namespace with the same selector:
     "Kubernetes cluster services should use unique selectors"). */}}
{{- define "latchkey.podLabels" -}}
{{ include "latchkey.selector" . }}
latchkey.dev/metrics: "true"
{{- end }}

{{/* The image of a component: its repository below image.registry, with
     its own tag (akv2k8s's <component>.image.tag) or the chart-wide one,
     which defaults to the appVersion. A repository that starts with a
     registry host (a first path segment with a dot or a port, or
     localhost), as akv2k8s's full repositories did, is used as it is: a
     mirror of latchkey's images can be named either way.
     latchkey.validateImages refuses akv2k8s's repositories and tags.
     Call with (dict "root" $ "image" <image values>). */}}
{{- define "latchkey.image" -}}
{{- $tag := .image.tag | default .root.Values.image.tag | default .root.Chart.AppVersion -}}
{{- $repo := .image.repository -}}
{{- $first := index (splitList "/" $repo) 0 -}}
{{- $hasRegistry := and (contains "/" $repo) (or (contains "." $first) (contains ":" $first) (eq $first "localhost")) -}}
{{- if and .root.Values.image.registry (not $hasRegistry) }}{{ printf "%s/%s:%s" .root.Values.image.registry $repo $tag }}{{ else }}{{ printf "%s:%s" $repo $tag }}{{ end }}
{{- end }}

{{- define "latchkey.pullPolicy" -}}
{{- .image.pullPolicy | default .root.Values.image.pullPolicy }}
{{- end }}

{{/* replicas, or akv2k8s's replicaCount when a values file sets it. */}}
{{- define "latchkey.replicas" -}}
{{- if hasKey . "replicaCount" }}{{ .replicaCount }}{{ else }}{{ .replicas }}{{ end }}
{{- end }}

{{/* The resolver serves only pods the webhook rewrote: it runs only beside
     the webhook. Empty means off (direct mode). */}}
{{- define "latchkey.resolverOn" -}}
{{- if and .Values.env_injector.enabled .Values.resolver.enabled }}true{{ end }}
{{- end }}

{{/* The refresh interval: akv2k8s's azureKeyVaultResyncPeriod (seconds) when
     set, else controller.refreshInterval. */}}
{{- define "latchkey.refreshInterval" -}}
{{- if hasKey .Values "azureKeyVaultResyncPeriod" }}{{ printf "%ds" (int .Values.azureKeyVaultResyncPeriod) }}{{ else }}{{ .Values.controller.refreshInterval }}{{ end }}
{{- end }}

{{/* akv2k8s's top-level watchAllNamespaces wins over controller.watchAllNamespaces. */}}
{{- define "latchkey.watchAllNamespaces" -}}
{{- if hasKey .Values "watchAllNamespaces" }}{{ .Values.watchAllNamespaces }}{{ else }}{{ .Values.controller.watchAllNamespaces }}{{ end }}
{{- end }}

{{/* The Secret a serving component (webhook or resolver) mounts its
     certificate from, given the component's full name. cert-manager's
     has a name of its own, so that turning certManager.enabled on or off
     in an installed release never has Helm delete (or adopt) a Secret the
     other mechanism is writing under the same name: the Deployments move
     to the new Secret in a rolling update, their former pods keep serving
     from the former one meanwhile. */}}
{{- define "latchkey.tlsSecret" -}}
{{- .name }}-{{ if .root.Values.certManager.enabled }}cert-manager-{{ end }}tls
{{- end }}

{{/* The injection opt-in label: akv2k8s's namespaceLabelSelector.label.name
     when a values file sets it. */}}
{{- define "latchkey.namespaceLabel" -}}
{{- $e := .Values.env_injector }}
{{- ((($e.namespaceLabelSelector | default dict).label | default dict).name) | default $e.namespaceLabel }}
{{- end }}

{{/* akv2k8s 2.x keeps keyVaultAuth, userDefinedMSI, env, envFromSecret,
     logLevel and logFormat under global. Each is read through one helper
     below, which merges the akv2k8s spelling with ours: the top-level (or,
     for the log settings, the component's) value wins when both are set. */}}

{{/* The effective keyVaultAuth: keyVaultAuth, else global.keyVaultAuth, else
     azureCloudConfig (akv2k8s's default). */}}
{{- define "latchkey.keyVaultAuth" -}}
{{- $g := .Values.global | default dict }}
{{- get .Values "keyVaultAuth" | default (get $g "keyVaultAuth") | default "azureCloudConfig" }}
{{- end }}

{{/* The effective userDefinedMSI, as JSON (read it with fromJson): each of
     its fields from userDefinedMSI when set there, else from
     global.userDefinedMSI; enabled defaults to false. */}}
{{- define "latchkey.userDefinedMSI" -}}
{{- $top := get .Values "userDefinedMSI" | default dict }}
{{- $g := get (.Values.global | default dict) "userDefinedMSI" | default dict }}
{{- $m := dict "enabled" false }}
{{- range $src := list $g $top }}
{{- range $k, $v := $src }}{{ if not (kindIs "invalid" $v) }}{{ $_ := set $m $k $v }}{{ end }}{{ end }}
{{- end }}
{{- toJson $m }}
{{- end }}

{{/* The chart-wide environment, as JSON (read it with fromJson): global.env,
     then env, which wins for a variable both set. */}}
{{- define "latchkey.chartEnv" -}}
{{- $env := dict }}
{{- range $src := list (get (.Values.global | default dict) "env") (get .Values "env") }}
{{- range $k, $v := ($src | default dict) }}{{ $_ := set $env $k (toString $v) }}{{ end }}
{{- end }}
{{- toJson $env }}
{{- end }}

{{/* The chart-wide Secrets whose keys become env, as a JSON list of names
     (read it with fromJsonArray): global.envFromSecret, then envFromSecret.
     Each is a Secret name or akv2k8s's list of {name}. In envFrom the last
     Secret wins for a key several hold, so envFromSecret wins over
     global.envFromSecret (and a component's own over both). */}}
{{- define "latchkey.envFromSecret" -}}
{{- $names := list }}
{{- range $src := list (get (.Values.global | default dict) "envFromSecret") (get .Values "envFromSecret") }}
{{- if kindIs "string" $src }}{{ if $src }}{{ $names = append $names $src }}{{ end }}
{{- else }}{{ range $src }}{{ $names = append $names .name }}{{ end }}{{ end }}
{{- end }}
{{- toJson $names }}
{{- end }}

{{/* akv2k8s's log levels are info, debug and trace (klog verbosity 2, 4
     and 6); ours have no trace, which maps to debug. */}}
{{- define "latchkey.mapLogLevel" -}}
{{- if eq . "trace" }}debug{{ else }}{{ . }}{{ end }}
{{- end }}

{{/* A component's log level: its own logLevel, else global.logLevel, else info.
     Call with (dict "root" $ "c" <component values>). */}}
{{- define "latchkey.logLevel" -}}
{{- $g := .root.Values.global | default dict }}
{{- include "latchkey.mapLogLevel" (get .c "logLevel" | default (get $g "logLevel") | default "info") }}
{{- end }}

{{/* A component's log format: its own logFormat, else global.logFormat, else json.
     Call with (dict "root" $ "c" <component values>). */}}
{{- define "latchkey.logFormat" -}}
{{- $g := .root.Values.global | default dict }}
{{- get .c "logFormat" | default (get $g "logFormat") | default "json" }}
{{- end }}

{{/* Checks across values the schema cannot relate (the effective values
     come from two places): a userDefinedMSI is a managed identity, used as
     a cloud config (azureCloudConfig) or as AZURE_CLIENT_ID (managed-identity),
     and needs its client ID; a certManager.issuerRef needs its name; and
     the akv2k8s checks that need a value (_akv2k8s.tpl). */}}
{{- define "latchkey.validate" -}}
{{- include "latchkey.validateImages" . }}
{{- include "latchkey.validateEnv" . }}
{{- include "latchkey.validateSwitches" . }}
{{- $msi := include "latchkey.userDefinedMSI" . | fromJson }}
{{- if $msi.enabled }}
{{- $mode := include "latchkey.keyVaultAuth" . }}
{{- if not (has $mode (list "azureCloudConfig" "managed-identity")) }}
{{- fail (printf "userDefinedMSI.enabled (or global.userDefinedMSI.enabled) needs keyVaultAuth (or global.keyVaultAuth) 'azureCloudConfig' or 'managed-identity', not '%s'" $mode) }}
{{- end }}
{{- if not $msi.msi }}
{{- fail "userDefinedMSI.enabled (or global.userDefinedMSI.enabled) needs userDefinedMSI.msi (or global.userDefinedMSI.msi): the identity's client ID" }}
{{- end }}
{{- end }}
{{- $ref := .Values.certManager.issuerRef | default dict }}
{{- if and (or $ref.kind $ref.group) (not $ref.name) }}
{{- fail "certManager.issuerRef.kind or .group needs certManager.issuerRef.name (empty issuerRef: the chart's own CA)" }}
{{- end }}
{{- end }}

{{/* Whether a component reading azure.json (mode azureCloudConfig) reads
     the node's file, which is readable by root only, rather than the one the
     chart makes from userDefinedMSI. Call with (dict "root" $ "mode" <auth mode>). */}}
{{- define "latchkey.nodeCloudConfig" -}}
{{- $msi := include "latchkey.userDefinedMSI" .root | fromJson }}
{{- if and (eq .mode "azureCloudConfig") (not $msi.enabled) }}true{{ end }}
{{- end }}

{{/* Pod security context: Pod Security "restricted", except as root when a
     container reads the node's azure.json. Call with (dict "root" $ "asRoot" bool). */}}
{{- define "latchkey.podSecurityContext" -}}
{{- if .asRoot }}
# The node's azure.json is readable by root only.
runAsUser: 0
{{- else }}
runAsNonRoot: true
runAsUser: 65532
{{- end }}
runAsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "latchkey.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
{{- end }}

{{/* Environment variables never appear as values in a pod spec: each
     component's are kept in a Secret the chart makes,
     <fullname>-<component>-env (as akv2k8s kept global.env and
     <component>.env in Secrets), and its container reads each through a
     secretKeyRef. The user's own Secrets (envFromSecret) are listed in
     envFrom; a variable of the chart's Secret wins over the same key in them.

     latchkey.componentEnv is what each component gets, as JSON (read it
     with fromJson): {"env": {name: value}, "secrets": [Secret names]}.
       controller  global.env, env, controller.env (each wins over the one
                   before).
       resolver    global.env, env, the AZURE_* variables of
                   env_injector.env, resolver.env. akv2k8s's env-injector
                   was also its auth service, which held the Key Vault
                   identity the resolver holds now: the credentials its
                   values carry go to the resolver, unless the webhook
                   reads ACR with an identity from the environment
                   (latchkey.webhookEnvIdentity: then they are its own).
                   Secrets: the chart-wide ones, env_injector.envFromSecret
                   (on the same terms), resolver.envFromSecret.
       webhook     env_injector.env, and global.env and env when it has an
                   Azure identity for ACR (latchkey.acrAuth), as far as that
                   identity reads them: without one, no AZURE_* variable;
                   the secret ones (latchkey.isCredentialVar) only in mode
                   environment; the user's Secrets (chart-wide and
                   env_injector.envFromSecret) only in the modes that read
                   the environment.
       OBJECT_LABELS is in no component's environment: it is the
       controller's --selector (latchkey.objectSelector).
     A component authenticating as a managed identity (managed-identity
     mode) with userDefinedMSI gets its client ID as AZURE_CLIENT_ID.
     Call with (dict "root" $ "component" <controller|webhook|resolver>). */}}
{{- define "latchkey.componentEnv" -}}
{{- $v := .root.Values }}
{{- $e := $v.env_injector }}
{{- $chartEnv := include "latchkey.chartEnv" .root | fromJson }}
{{- $chartSecrets := include "latchkey.envFromSecret" .root | fromJsonArray }}
{{- $injSecrets := list }}{{ range ($e.envFromSecret | default list) }}{{ $injSecrets = append $injSecrets .name }}{{ end }}
{{- $env := dict }}{{ $secrets := list }}{{ $mode := "" }}
{{- if eq .component "controller" }}
{{- $mode = include "latchkey.keyVaultAuth" .root }}
{{- $env = merge (include "latchkey.stringMap" ($v.controller.env | default dict) | fromJson) $chartEnv }}
{{- $secrets = concat $chartSecrets (include "latchkey.secretNames" $v.controller.envFromSecret | fromJsonArray) }}
{{- else if eq .component "resolver" }}
{{- $mode = include "latchkey.keyVaultAuth" .root }}
{{- $inj := dict }}
{{- if include "latchkey.webhookEnvIdentity" .root }}{{ $injSecrets = list }}
{{- else }}
{{- range $k, $val := ($e.env | default dict) }}{{ if hasPrefix "AZURE_" $k }}{{ $_ := set $inj $k (toString $val) }}{{ end }}{{ end }}
{{- end }}
{{- $env = merge (include "latchkey.stringMap" ($v.resolver.env | default dict) | fromJson) $inj $chartEnv }}
{{- $secrets = concat $chartSecrets $injSecrets (include "latchkey.secretNames" $v.resolver.envFromSecret | fromJsonArray) }}
{{- else }}
{{- $mode = include "latchkey.acrAuth" .root }}
{{- $all := include "latchkey.stringMap" ($e.env | default dict) | fromJson }}
{{- if $mode }}{{ $all = merge $all $chartEnv }}{{ end }}
{{- range $k, $val := $all }}
{{- if or (not (hasPrefix "AZURE_" $k)) (and $mode (or (eq $mode "environment") (not (include "latchkey.isCredentialVar" $k)))) }}
{{- $_ := set $env $k $val }}
{{- end }}
{{- end }}
{{- if include "latchkey.webhookEnvIdentity" .root }}
{{- $secrets = concat $chartSecrets $injSecrets }}
{{- end }}
{{- end }}
{{- $_ := unset $env "OBJECT_LABELS" }}
{{- $msi := include "latchkey.userDefinedMSI" .root | fromJson }}
{{- if and (eq $mode "managed-identity") $msi.enabled }}
{{- $_ := set $env "AZURE_CLIENT_ID" (toString $msi.msi) }}
{{- end }}
{{- toJson (dict "env" $env "secrets" ($secrets | uniq)) }}
{{- end }}

{{/* Whether an environment variable holds a secret of an Azure identity
     (keyvault.EnvClientSecret, EnvCertificatePassword,
     EnvClientCertificatePassword, EnvPassword). */}}
{{- define "latchkey.isCredentialVar" -}}
{{- if has . (list "AZURE_CLIENT_SECRET" "AZURE_CERTIFICATE_PASSWORD" "AZURE_CLIENT_CERTIFICATE_PASSWORD" "AZURE_PASSWORD") }}true{{ end }}
{{- end }}

{{/* A map's values as strings, as JSON. */}}
{{- define "latchkey.stringMap" -}}
{{- $m := dict }}{{ range $k, $v := . }}{{ $_ := set $m $k (toString $v) }}{{ end }}{{ toJson $m }}
{{- end }}

{{/* The names of akv2k8s's list of {name}, as a JSON list. */}}
{{- define "latchkey.secretNames" -}}
{{- $n := list }}{{ range (. | default list) }}{{ $n = append $n .name }}{{ end }}{{ toJson $n }}
{{- end }}

{{/* The name of a component's environment Secret.
     Call with (dict "root" $ "component" name). */}}
{{- define "latchkey.envSecretName" -}}
{{- include "latchkey.fullname" .root }}-{{ .component }}-env
{{- end }}

{{/* The generation of a component's environment: 1 on the first install,
     raised by one on every upgrade that changes a variable, else kept
     (read back from the Secret, like the certificates). The pod template
     carries it, so a changed variable rolls the Deployment while an
     upgrade that changes nothing restarts nothing; a hash of the values
     would put something derived from a credential into the pod spec.
     Call with (dict "root" $ "component" name "env" <env map>). */}}
{{- define "latchkey.envGeneration" -}}
{{- $existing := lookup "v1" "Secret" .root.Release.Namespace (include "latchkey.envSecretName" .) }}
{{- $data := dict }}{{ range $k, $v := .env }}{{ $_ := set $data $k (b64enc $v) }}{{ end }}
{{- $gen := 1 }}
{{- if and $existing $existing.metadata }}
{{- $gen = int (index ($existing.metadata.annotations | default dict) "latchkey.dev/env-generation" | default "1") }}
{{- if ne (toJson ($existing.data | default dict)) (toJson $data) }}{{ $gen = add1 $gen }}{{ end }}
{{- end }}
{{- $gen }}
{{- end }}

{{/* A component's environment Secret, when it has variables.
     Call with (dict "root" $ "component" name). */}}
{{- define "latchkey.envSecret" -}}
{{- $ce := include "latchkey.componentEnv" . | fromJson }}
{{- if $ce.env }}
apiVersion: v1
kind: Secret
metadata:
  name: {{ include "latchkey.envSecretName" . }}
  namespace: {{ .root.Release.Namespace }}
  labels: {{- include "latchkey.labels" .root | nindent 4 }}
    app.kubernetes.io/component: {{ .component }}
  annotations:
    latchkey.dev/env-generation: {{ include "latchkey.envGeneration" (dict "root" .root "component" .component "env" $ce.env) | quote }}
type: Opaque
data:
  {{- range $k, $v := $ce.env }}
  {{ $k }}: {{ b64enc $v | quote }}
  {{- end }}
{{- end }}
{{- end }}

{{/* The pod-template annotation that rolls a component when its
     environment changes (see latchkey.envGeneration).
     Call with (dict "root" $ "component" name). */}}
{{- define "latchkey.envAnnotation" -}}
{{- $ce := include "latchkey.componentEnv" . | fromJson }}
{{- if $ce.env }}
latchkey.dev/env-generation: {{ include "latchkey.envGeneration" (dict "root" .root "component" .component "env" $ce.env) | quote }}
{{- end }}
{{- end }}

{{/* A container's env and envFrom (see latchkey.componentEnv).
     Call with (dict "root" $ "component" name). */}}
{{- define "latchkey.containerEnv" -}}
{{- $ce := include "latchkey.componentEnv" . | fromJson }}
{{- $secret := include "latchkey.envSecretName" . }}
{{- with $ce.env }}
env:
  {{- range $k, $_ := . }}
  - name: {{ $k }}
    valueFrom:
      secretKeyRef: {name: {{ $secret }}, key: {{ $k }}}
  {{- end }}
{{- end }}
{{- with $ce.secrets }}
envFrom:
  {{- range . }}
  - secretRef:
      name: {{ . }}
  {{- end }}
{{- end }}
{{- end }}

{{/* Volumes for authentication in azureCloudConfig mode: the node's cloud
     config, or the one made from userDefinedMSI, both seen at the AKS path.
     Call with (dict "root" $ "mode" <auth mode>). */}}
{{- define "latchkey.authVolumes" -}}
{{- if eq .mode "azureCloudConfig" }}
{{- if include "latchkey.nodeCloudConfig" . }}
- name: azure-config
  hostPath:
    path: {{ .root.Values.cloudConfig }}
    type: File
{{- else }}
- name: azure-config
  configMap: {name: {{ include "latchkey.fullname" .root }}-azure-config}
{{- end }}
{{- end }}
{{- end }}

{{- define "latchkey.authVolumeMounts" -}}
{{- if eq .mode "azureCloudConfig" }}
{{- if include "latchkey.nodeCloudConfig" . }}
- name: azure-config
  mountPath: /etc/kubernetes/azure.json
  readOnly: true
{{- else }}
- name: azure-config
  mountPath: /etc/kubernetes
  readOnly: true
{{- end }}
{{- end }}
{{- end }}

{{/* Scheduling and pod-level settings every component shares.
     Call with (dict "root" $ "c" <component values> "component" name). */}}
{{- define "latchkey.podScheduling" -}}
{{- /* imagePullSecrets, then akv2k8s's <component>.image.pullSecret (one name). */}}
{{- $pull := .root.Values.imagePullSecrets | default list }}
{{- with ((.c.image | default dict).pullSecret) }}{{ $pull = append $pull (dict "name" .) }}{{ end }}
{{- with $pull }}
imagePullSecrets: {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .root.Values.hostAliases }}
hostAliases: {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .c.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- /* Replicas on different nodes, so one node's loss leaves the others. */}}
topologySpreadConstraints:
{{- if .c.topologySpreadConstraints }}
{{- toYaml .c.topologySpreadConstraints | nindent 2 }}
{{- else }}
  - maxSkew: 1
    topologyKey: kubernetes.io/hostname
    whenUnsatisfiable: ScheduleAnyway
    labelSelector:
      matchLabels: {{- include "latchkey.selector" (dict "root" .root "component" .component) | nindent 8 }}
{{- end }}
{{- with .c.nodeSelector }}
nodeSelector: {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .c.tolerations }}
tolerations: {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .c.affinity }}
affinity: {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* The component's ServiceAccount; its annotations as latchkey.identityMap
     says (akv2k8s's identity annotations set on env_injector are the
     resolver's). */}}
{{- define "latchkey.serviceAccount" -}}
{{- $sa := .c.serviceAccount | default dict }}
{{- $annotations := include "latchkey.identityMap" (dict "root" .root "component" .component "field" "serviceAccount.annotations") | fromJson }}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ include "latchkey.fullname" .root }}-{{ .component }}
  namespace: {{ .root.Release.Namespace }}
  labels: {{- include "latchkey.labels" .root | nindent 4 }}
    app.kubernetes.io/component: {{ .component }}
    {{- with $sa.labels }}{{ toYaml . | nindent 4 }}{{ end }}
  {{- with $annotations }}
  annotations: {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}

{{/* The metrics Service of a component, which ServiceMonitors select. */}}
{{- define "latchkey.metricsService" -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "latchkey.fullname" .root }}-{{ .component }}-metrics
  namespace: {{ .root.Release.Namespace }}
  labels: {{- include "latchkey.labels" .root | nindent 4 }}
    app.kubernetes.io/component: {{ .component }}
    latchkey.dev/metrics: "true"
spec:
  selector: {{- include "latchkey.podLabels" (dict "root" .root "component" .component) | nindent 4 }}
  ports:
    - {name: metrics, port: {{ .c.metrics.port }}, targetPort: metrics}
{{- end }}

{{/* A PodDisruptionBudget, only with more than one replica: with one,
     minAvailable 1 would block every node drain. */}}
{{- define "latchkey.pdb" -}}
{{- $pdb := .c.podDisruptionBudget }}
{{- if and $pdb.enabled (gt (int (include "latchkey.replicas" .c)) 1) }}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "latchkey.fullname" .root }}-{{ .component }}
  namespace: {{ .root.Release.Namespace }}
  labels: {{- include "latchkey.labels" .root | nindent 4 }}
    app.kubernetes.io/component: {{ .component }}
spec:
  {{- /* akv2k8s's values file leaves maxUnavailable empty (null): unset. */}}
  {{- if not (kindIs "invalid" $pdb.maxUnavailable) }}
  maxUnavailable: {{ $pdb.maxUnavailable }}
  {{- else }}
  minAvailable: {{ $pdb.minAvailable }}
  {{- end }}
  selector:
    matchLabels: {{- include "latchkey.selector" (dict "root" .root "component" .component) | nindent 6 }}
{{- end }}
{{- end }}

{{/* The audience of the tokens pods present to the resolver: one per
     install, so a token minted for this resolver is useless to any other
     service (and another install's resolver), and theirs to it. */}}
{{- define "latchkey.resolverAudience" -}}
latchkey-resolver.{{ .Release.Namespace }}.{{ .Release.Name }}
{{- end }}

{{/*
The HashiCorp Vault backend's flags (hashicorpVault), empty when it is off.
*/}}
{{- define "latchkey.vaultArgs" -}}
{{- $v := .Values.hashicorpVault -}}
{{- if $v.enabled }}
- --hashicorp-vault=true
{{- with $v.address }}
- --hashicorp-vault-address={{ . }}
{{- end }}
{{- with $v.caCert }}
- --hashicorp-vault-ca-file=/etc/latchkey/hashicorp-vault/ca.crt
{{- end }}
- --hashicorp-vault-auth-mount={{ $v.authMount }}
{{- with $v.role }}
- --hashicorp-vault-role={{ . }}
{{- end }}
{{- with $v.serviceAccountName }}
- --hashicorp-vault-service-account={{ . }}
{{- end }}
- --hashicorp-vault-audience={{ $v.audience }}
- --hashicorp-vault-token-expiry={{ $v.tokenExpiry }}
{{- end }}
{{- end }}

{{/*
The webhook's HashiCorp Vault flags: the defaults it records for
direct-mode containers, and the audience of the token it projects for
them (no CA: the container checks Vault with its own roots).
*/}}
{{- define "latchkey.webhookVaultArgs" -}}
{{- $v := .Values.hashicorpVault -}}
{{- if $v.enabled }}
- --hashicorp-vault=true
{{- with $v.address }}
- --hashicorp-vault-address={{ . }}
{{- end }}
- --hashicorp-vault-auth-mount={{ $v.authMount }}
{{- with $v.role }}
- --hashicorp-vault-role={{ . }}
{{- end }}
- --hashicorp-vault-audience={{ $v.audience }}
{{- end }}
{{- end }}

{{/*
The HashiCorp Vault CA's volume mount and volume, when one is given.
*/}}
{{- define "latchkey.vaultVolumeMounts" -}}
{{- if and .Values.hashicorpVault.enabled .Values.hashicorpVault.caCert }}
- {name: hashicorp-vault-ca, mountPath: /etc/latchkey/hashicorp-vault, readOnly: true}
{{- end }}
{{- end }}
{{- define "latchkey.vaultVolumes" -}}
{{- if and .Values.hashicorpVault.enabled .Values.hashicorpVault.caCert }}
- name: hashicorp-vault-ca
  configMap: {name: {{ include "latchkey.fullname" . }}-hashicorp-vault-ca}
{{- end }}
{{- end }}
