{{/* Names and labels shared by every template. */}}
{{- define "infercap.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "infercap.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "infercap.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "infercap.selectorLabels" -}}
app.kubernetes.io/name: {{ include "infercap.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "infercap.labels" -}}
{{ include "infercap.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "infercap.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "infercap.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "infercap.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/*
RBAC rules for what lives in the tenants' namespaces: ModelDeployments (watch, finalizer, annotations,
status), the namespace quota infercap owns (patch and delete only under its name; create and reads cannot
be limited by name), Events.
*/}}
{{- define "infercap.tenantRules" -}}
# ModelDeployments: watch, add the finalizer and cost annotations, write status (merge patches only).
- apiGroups: [infercap.dev]
  resources: [modeldeployments]
  verbs: [get, list, watch, patch]
- apiGroups: [infercap.dev]
  resources: [modeldeployments/status]
  verbs: [get, patch]
# The per-namespace quota: written only under its configured name.
- apiGroups: [""]
  resources: [resourcequotas]
  verbs: [get, list, watch, create]
- apiGroups: [""]
  resources: [resourcequotas]
  resourceNames: [{{ .Values.operator.quota.name | quote }}]
  verbs: [patch, delete]
# The serving workload (spec.serving), written with server-side apply, and the scale subresource of a
# spec.scaleTargetRef (patched, never updated).
- apiGroups: [apps]
  resources: [deployments]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [apps]
  resources: [deployments/scale, statefulsets/scale]
  verbs: [get, patch]
- apiGroups: [leaderworkerset.x-k8s.io]
  resources: [leaderworkersets]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [leaderworkerset.x-k8s.io]
  resources: [leaderworkersets/scale]
  verbs: [get, patch]
- apiGroups: [""]
  resources: [services, configmaps]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [policy]
  resources: [poddisruptionbudgets]
  verbs: [get, list, watch, create, patch, delete]
# Observed state: the serving pods (read only); HPAs and KEDA ScaledObjects on a scale target, to stand
# aside for them.
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list, watch]
- apiGroups: [autoscaling]
  resources: [horizontalpodautoscalers]
  verbs: [get, list, watch]
- apiGroups: [keda.sh]
  resources: [scaledobjects]
  verbs: [get, list, watch]
# Events about ModelDeployments.
- apiGroups: [""]
  resources: [events]
  verbs: [create, patch]
- apiGroups: [events.k8s.io]
  resources: [events]
  verbs: [create, patch]
{{- end }}
