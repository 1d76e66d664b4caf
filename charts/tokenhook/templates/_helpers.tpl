{{/*
The chart name, or nameOverride.
*/}}
{{- define "tokenhook.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The full name of the release's objects: fullnameOverride, else the release
name when it already contains the chart name, else "<release>-<chart>".
Truncated so that "-manager" and the other suffixes still fit in 63 characters.
*/}}
{{- define "tokenhook.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
"<chart>-<version>", for the helm.sh/chart label.
*/}}
{{- define "tokenhook.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels of every object.
*/}}
{{- define "tokenhook.labels" -}}
helm.sh/chart: {{ include "tokenhook.chart" . }}
{{ include "tokenhook.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: tokenhook
{{- end }}

{{/*
Labels that select the operator's pods.
*/}}
{{- define "tokenhook.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tokenhook.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: manager
{{- end }}

{{/*
The operator's ServiceAccount.
*/}}
{{- define "tokenhook.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "tokenhook.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The operator's image: repository@digest, or repository:tag (the tag defaults
to the chart's appVersion).
*/}}
{{- define "tokenhook.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/*
The hook server image: hookServer.image, else the operator's own.
*/}}
{{- define "tokenhook.hookServerImage" -}}
{{- .Values.hookServer.image | default (include "tokenhook.image" .) }}
{{- end }}

{{/*
Checks across values, as values.schema.json makes them, for installs that
skip schema validation.
*/}}
{{- define "tokenhook.validate" -}}
{{- if and (gt (int .Values.replicas) 1) (not .Values.leaderElection.enabled) }}
{{- fail "replicas: more than 1 replica needs leaderElection.enabled=true, or the replicas would fight over every TokenHook" }}
{{- end }}
{{- if and .Values.metrics.enabled (eq (int .Values.metrics.port) 8081) }}
{{- fail "metrics.port: 8081 is the health probe port; pick another" }}
{{- end }}
{{- if and .Values.metrics.serviceMonitor.enabled (not .Values.metrics.enabled) }}
{{- fail "metrics.serviceMonitor.enabled needs metrics.enabled=true" }}
{{- end }}
{{- end }}
