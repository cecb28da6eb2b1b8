{{/* Names, labels and the two RBAC modes of the visionroll chart. */}}

{{- define "visionroll.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "visionroll.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* fullname-<suffix> within 63 characters: the release part is shortened, the suffix kept. Usage: (list . "suffix") */}}
{{- define "visionroll.suffixed" -}}
{{- $root := index . 0 -}}
{{- $suffix := index . 1 -}}
{{- $prefix := include "visionroll.fullname" $root | trunc (int (sub 62 (len $suffix))) | trimSuffix "-" -}}
{{- printf "%s-%s" $prefix $suffix -}}
{{- end -}}

{{- define "visionroll.selectorLabels" -}}
app.kubernetes.io/name: {{ include "visionroll.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "visionroll.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "visionroll.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: visionroll
{{- end -}}

{{- define "visionroll.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "visionroll.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* "true" when the operator is confined to one namespace (Role) rather than all of them (ClusterRole). */}}
{{- define "visionroll.namespaced" -}}
{{- if or .Values.rbac.namespaced .Values.watchNamespace -}}true{{- end -}}
{{- end -}}

{{/* The namespace the operator watches; empty = all namespaces. */}}
{{- define "visionroll.watchNamespace" -}}
{{- if include "visionroll.namespaced" . -}}
{{- default .Release.Namespace .Values.watchNamespace -}}
{{- end -}}
{{- end -}}

{{- define "visionroll.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/*
The Prometheus job of the operator's metrics. The alert rules (files/alerts.yaml) select `job="visionroll-operator"`,
so the ServiceMonitor/PodMonitor take the job name from this label rather than from the release-dependent Service name.
*/}}
{{- define "visionroll.jobLabel" -}}visionroll.io/prometheus-job{{- end -}}
{{- define "visionroll.jobName" -}}visionroll-operator{{- end -}}

{{/* Whether to render a Prometheus Operator object: "auto" follows the cluster's API groups. Usage: (list . value) */}}
{{- define "visionroll.monitoringEnabled" -}}
{{- $root := index . 0 -}}
{{- $value := toString (index . 1) -}}
{{- if or (eq $value "true") (and (eq $value "auto") ($root.Capabilities.APIVersions.Has "monitoring.coreos.com/v1")) -}}true{{- end -}}
{{- end -}}

{{/*
The namespaces where VisionModels run their pods (routers, TorchServe): dataPlane.namespaces, plus the watched
namespace in namespaced mode. Each gets the router's ServiceAccount and Role, and the serving NetworkPolicy
(dataplane.yaml). One name per line.
*/}}
{{- define "visionroll.dataPlaneNamespaces" -}}
{{- $names := list -}}
{{- with include "visionroll.watchNamespace" . -}}{{- $names = append $names . -}}{{- end -}}
{{- range .Values.dataPlane.namespaces -}}{{- $names = append $names . -}}{{- end -}}
{{- $names | uniq | join "\n" -}}
{{- end -}}

{{/* The router's ServiceAccount: a fixed name the operator uses (visionroll.traffic.router.SERVICE_ACCOUNT). */}}
{{- define "visionroll.routerServiceAccount" -}}visionroll-router{{- end -}}

{{/* The operator's identity as the API server names it in requests. */}}
{{- define "visionroll.operatorUser" -}}
{{- printf "system:serviceaccount:%s:%s" .Release.Namespace (include "visionroll.serviceAccountName" .) -}}
{{- end -}}
