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

{{- define "latchkey.image" -}}
{{- $tag := .root.Values.image.tag | default .root.Chart.AppVersion -}}
{{- if .root.Values.image.registry }}{{ printf "%s/%s:%s" .root.Values.image.registry .image.repository $tag }}{{ else }}{{ printf "%s:%s" .image.repository $tag }}{{ end }}
{{- end }}

{{/* Restricted security context, except in azureCloudConfig mode: the node's
     azure.json is readable by root only. */}}
{{- define "latchkey.podSecurityContext" -}}
{{- if eq .Values.keyVaultAuth "azureCloudConfig" }}
runAsUser: 0
{{- else }}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
{{- end }}
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "latchkey.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
{{- end }}

{{/* Environment shared by every component that talks to Key Vault. */}}
{{- define "latchkey.env" -}}
{{- range $k, $v := .Values.env }}
- name: {{ $k }}
  value: {{ $v | quote }}
{{- end }}
{{- end }}

{{/* Volumes for authentication: the node's cloud config in azureCloudConfig mode. */}}
{{- define "latchkey.authVolumes" -}}
{{- if eq .Values.keyVaultAuth "azureCloudConfig" }}
- name: azure-config
  hostPath:
    path: {{ .Values.cloudConfigHostPath }}
    type: File
{{- end }}
{{- end }}

{{- define "latchkey.authVolumeMounts" -}}
{{- if eq .Values.keyVaultAuth "azureCloudConfig" }}
- name: azure-config
  mountPath: /etc/kubernetes/azure.json
  readOnly: true
{{- end }}
{{- end }}

{{/* The audience of the tokens pods present to the resolver: one per
     install, so a token minted for this resolver is useless to any other
     service (and another install's resolver), and theirs to it. */}}
{{- define "latchkey.resolverAudience" -}}
latchkey-resolver.{{ .Release.Namespace }}.{{ .Release.Name }}
{{- end }}
