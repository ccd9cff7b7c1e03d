{{/* Common names and labels. */}}
{{- define "latchkey.fullname" -}}
{{- if contains .Chart.Name .Release.Name }}{{ .Release.Name | trunc 63 | trimSuffix "-" }}{{ else }}{{ printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}{{ end }}
{{- end }}

{{- define "latchkey.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end }}

{{- define "latchkey.selector" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* The image of a component: its own tag (akv2k8s's <component>.image.tag)
     or the chart-wide one, which defaults to the appVersion. */}}
{{- define "latchkey.image" -}}
{{- $tag := .image.tag | default .root.Values.image.tag | default .root.Chart.AppVersion -}}
{{- if .root.Values.image.registry }}{{ printf "%s/%s:%s" .root.Values.image.registry .image.repository $tag }}{{ else }}{{ printf "%s:%s" .image.repository $tag }}{{ end }}
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
     and needs its client ID; a certManager.issuerRef needs its name. */}}
{{- define "latchkey.validate" -}}
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

{{/* Environment of a container: the chart-wide env (global.env and env,
     when .global), then the component's own (which wins), then the managed
     identity userDefinedMSI names when the component authenticates as a
     managed identity.
     Call with (dict "root" $ "c" <component values> "global" bool "mode" <auth mode>). */}}
{{- define "latchkey.env" -}}
{{- $env := dict }}
{{- if .global }}{{ $env = include "latchkey.chartEnv" .root | fromJson }}{{ end }}
{{- range $k, $v := (get .c "env" | default dict) }}{{ $_ := set $env $k (toString $v) }}{{ end }}
{{- $msi := include "latchkey.userDefinedMSI" .root | fromJson }}
{{- if and .global (eq .mode "managed-identity") $msi.enabled }}
{{- $_ := set $env "AZURE_CLIENT_ID" $msi.msi }}
{{- end }}
{{- range $k, $val := $env }}
- name: {{ $k }}
  value: {{ $val | quote }}
{{- end }}
{{- end }}

{{/* Secrets whose keys become env: the chart-wide ones (global.envFromSecret
     and envFromSecret) when .global, then the component's. */}}
{{- define "latchkey.envFrom" -}}
{{- $names := list }}
{{- if .global }}{{ $names = include "latchkey.envFromSecret" .root | fromJsonArray }}{{ end }}
{{- range (get .c "envFromSecret" | default list) }}{{ $names = append $names .name }}{{ end }}
{{- range $names | uniq }}
- secretRef:
    name: {{ . }}
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
{{- with .root.Values.imagePullSecrets }}
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

{{/* The component's ServiceAccount. */}}
{{- define "latchkey.serviceAccount" -}}
{{- $sa := .c.serviceAccount | default dict }}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ include "latchkey.fullname" .root }}-{{ .component }}
  namespace: {{ .root.Release.Namespace }}
  labels: {{- include "latchkey.labels" .root | nindent 4 }}
    app.kubernetes.io/component: {{ .component }}
    {{- with $sa.labels }}{{ toYaml . | nindent 4 }}{{ end }}
  {{- with $sa.annotations }}
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
  selector: {{- include "latchkey.selector" (dict "root" .root "component" .component) | nindent 4 }}
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
  {{- if hasKey $pdb "maxUnavailable" }}
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
