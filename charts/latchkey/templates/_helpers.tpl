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

{{/* The injection opt-in label: akv2k8s's namespaceLabelSelector.label.name
     when a values file sets it. */}}
{{- define "latchkey.namespaceLabel" -}}
{{- $e := .Values.env_injector }}
{{- ((($e.namespaceLabelSelector | default dict).label | default dict).name) | default $e.namespaceLabel }}
{{- end }}

{{/* Whether a component reading azure.json (mode azureCloudConfig) reads
     the node's file, which is readable by root only, rather than the one the
     chart makes from userDefinedMSI. Call with (dict "root" $ "mode" <auth mode>). */}}
{{- define "latchkey.nodeCloudConfig" -}}
{{- if and (eq .mode "azureCloudConfig") (not .root.Values.userDefinedMSI.enabled) }}true{{ end }}
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

{{/* Environment of a container: the chart-wide env (when .global), then the
     component's own (which wins), then the managed identity userDefinedMSI
     names when the component authenticates as a managed identity.
     Call with (dict "root" $ "c" <component values> "global" bool "mode" <auth mode>). */}}
{{- define "latchkey.env" -}}
{{- $env := dict }}
{{- if .global }}{{ $env = merge $env .root.Values.env }}{{ end }}
{{- $env = merge (deepCopy (.c.env | default dict)) $env }}
{{- $v := .root.Values }}
{{- if and .global (eq .mode "managed-identity") $v.userDefinedMSI.enabled }}
{{- $_ := set $env "AZURE_CLIENT_ID" $v.userDefinedMSI.msi }}
{{- end }}
{{- range $k, $val := $env }}
- name: {{ $k }}
  value: {{ $val | quote }}
{{- end }}
{{- end }}

{{/* Secrets whose keys become env: envFromSecret (a name or akv2k8s's list
     of {name}), chart-wide when .global, and the component's. */}}
{{- define "latchkey.envFrom" -}}
{{- $names := list }}
{{- if .global }}
{{- $g := .root.Values.envFromSecret }}
{{- if kindIs "string" $g }}{{ if $g }}{{ $names = append $names $g }}{{ end }}
{{- else }}{{ range $g }}{{ $names = append $names .name }}{{ end }}{{ end }}
{{- end }}
{{- range .c.envFromSecret }}{{ $names = append $names .name }}{{ end }}
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
{{- if .root.Values.userDefinedMSI.enabled }}
- name: azure-config
  configMap: {name: {{ include "latchkey.fullname" .root }}-azure-config}
{{- else }}
- name: azure-config
  hostPath:
    path: {{ .root.Values.cloudConfig }}
    type: File
{{- end }}
{{- end }}
{{- end }}

{{- define "latchkey.authVolumeMounts" -}}
{{- if eq .mode "azureCloudConfig" }}
{{- if .root.Values.userDefinedMSI.enabled }}
- name: azure-config
  mountPath: /etc/kubernetes
  readOnly: true
{{- else }}
- name: azure-config
  mountPath: /etc/kubernetes/azure.json
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
