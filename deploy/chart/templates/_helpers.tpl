{{/* Labels on every object. No release name: one GrowthRS runs per cluster. */}}
{{- define "growthrs.labels" -}}
app.kubernetes.io/name: growthrs
app.kubernetes.io/part-of: growthrs
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}

{{/* The operator's ServiceAccount as an RBAC subject. */}}
{{- define "growthrs.subject" -}}
- kind: ServiceAccount
  name: growthrs
  namespace: {{ .Values.namespace.name }}
{{- end }}

{{/* Provider plugins switched off in values: GROWTHRS_DISABLED_PLUGINS. */}}
{{- define "growthrs.disabledPlugins" -}}
{{- $off := list -}}
{{- range $name, $provider := .Values.providers -}}
{{- if not $provider.enabled }}{{ $off = append $off $name }}{{ end -}}
{{- end -}}
{{- join "," $off -}}
{{- end }}

{{/* Namespaces with a reader Role: those listed under read.secrets or read.configMaps. */}}
{{- define "growthrs.readNamespaces" -}}
{{- concat .Values.read.secrets .Values.read.configMaps | uniq | sortAlpha | toJson -}}
{{- end }}
