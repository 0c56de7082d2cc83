{{/* Chart name, overridable. */}}
{{- define "relay.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Prefix of every object name: <release>-<chart>, or the release name when it already contains the chart name. */}}
{{- define "relay.fullname" -}}
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

{{- define "relay.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels that select the relay pods; never change between upgrades. */}}
{{- define "relay.selectorLabels" -}}
app.kubernetes.io/name: {{ include "relay.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: relay
{{- end -}}

{{/* Labels on every object. */}}
{{- define "relay.labels" -}}
helm.sh/chart: {{ include "relay.chart" . }}
app.kubernetes.io/name: {{ include "relay.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: tokenplace
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Image reference: repository@digest when a digest is set, else repository:tag (tag defaults to appVersion). */}}
{{- define "relay.image" -}}
{{- $image := .image -}}
{{- if $image.digest -}}
{{- printf "%s@%s" $image.repository $image.digest -}}
{{- else -}}
{{- printf "%s:%s" $image.repository (default .defaultTag $image.tag) -}}
{{- end -}}
{{- end -}}

{{- define "relay.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "relay.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The Secret holding the server token. */}}
{{- define "relay.secretName" -}}
{{- if .Values.secret.create -}}
{{- printf "%s-secrets" (include "relay.fullname" .) -}}
{{- else -}}
{{- .Values.secret.existingSecret -}}
{{- end -}}
{{- end -}}

{{- define "relay.upstreamUrl" -}}
{{- default (printf "http://%s:%d" .Values.gpuExternalName.name (int .Values.gpuExternalName.port)) .Values.env.upstream.url -}}
{{- end -}}

{{/* The TCP port the relay dials upstream: from env.upstream.url when set, else gpuExternalName.port. */}}
{{- define "relay.upstreamPort" -}}
{{- if .Values.env.upstream.url -}}
{{- $url := urlParse .Values.env.upstream.url -}}
{{- $hostPort := regexFind ":[0-9]+$" $url.host -}}
{{- if $hostPort -}}
{{- trimPrefix ":" $hostPort -}}
{{- else if eq $url.scheme "https" -}}
443
{{- else -}}
80
{{- end -}}
{{- else -}}
{{- .Values.gpuExternalName.port -}}
{{- end -}}
{{- end -}}

{{/* Replicas that can exist at once at most (for the PodDisruptionBudget rule). */}}
{{- define "relay.maxReplicas" -}}
{{- if .Values.autoscaling.enabled -}}
{{- .Values.autoscaling.maxReplicas -}}
{{- else -}}
{{- .Values.replicaCount -}}
{{- end -}}
{{- end -}}

{{/* Pod and container security settings of the restricted Pod Security Standard, shared by the relay and test pods. */}}
{{- define "relay.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.securityContext.runAsUser }}
runAsGroup: {{ .Values.securityContext.runAsGroup }}
fsGroup: {{ .Values.securityContext.runAsGroup }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "relay.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.securityContext.runAsUser }}
runAsGroup: {{ .Values.securityContext.runAsGroup }}
allowPrivilegeEscalation: false
privileged: false
readOnlyRootFilesystem: true
capabilities:
  drop:
    - ALL
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Every check that needs more than the schema: fails the render with a message naming the values. */}}
{{- define "relay.validate" -}}
{{- if and .Values.env.metricsPort (eq (int .Values.env.metricsPort) (int .Values.env.port)) -}}
{{- fail (printf "env.metricsPort (%d) must differ from env.port: /metrics gets a port of its own so that the Ingress, which routes env.port, cannot reach it" (int .Values.env.metricsPort)) -}}
{{- end -}}
{{- $grace := int .Values.terminationGracePeriodSeconds -}}
{{- $drain := float64 .Values.env.drainSeconds -}}
{{- $shutdown := float64 .Values.env.shutdownTimeoutSeconds -}}
{{- if le (float64 $grace) (addf $drain $shutdown) -}}
{{- fail (printf "terminationGracePeriodSeconds (%d) must be greater than env.drainSeconds (%v) + env.shutdownTimeoutSeconds (%v) = %v, or Kubernetes kills the relay before it has finished in-flight requests" $grace $drain $shutdown (addf $drain $shutdown)) -}}
{{- end -}}
{{- include "relay.validateUpstreamOff" . -}}
{{- if and .Values.env.upstream.enabled (not .Values.gpuExternalName.headless.enabled) (regexMatch "^[0-9]+(\\.[0-9]+){3}$" .Values.gpuExternalName.host) -}}
{{- fail (printf "gpuExternalName.host (%s) is an IP address, but an ExternalName Service needs a DNS name: set gpuExternalName.headless.enabled=true and gpuExternalName.headless.ips instead" .Values.gpuExternalName.host) -}}
{{- end -}}
{{- if and .Values.service.loadBalancerSourceRanges (ne .Values.service.type "LoadBalancer") -}}
{{- fail (printf "service.loadBalancerSourceRanges only applies to service.type LoadBalancer, not %s" .Values.service.type) -}}
{{- end -}}
{{- if and .Values.service.externalTrafficPolicy (eq .Values.service.type "ClusterIP") -}}
{{- fail "service.externalTrafficPolicy only applies to service.type NodePort or LoadBalancer, not ClusterIP" -}}
{{- end -}}
{{- if and .Values.autoscaling.enabled (gt (int .Values.autoscaling.minReplicas) (int .Values.autoscaling.maxReplicas)) -}}
{{- fail (printf "autoscaling.minReplicas (%d) must not exceed autoscaling.maxReplicas (%d)" (int .Values.autoscaling.minReplicas) (int .Values.autoscaling.maxReplicas)) -}}
{{- end -}}
{{- if and (has "*" .Values.env.cors.origins) (gt (len .Values.env.cors.origins) 1) -}}
{{- fail "env.cors.origins: \"*\" allows every origin and cannot be combined with a list" -}}
{{- end -}}
{{- if and (has "*" .Values.env.cors.origins) .Values.env.cors.credentials -}}
{{- fail "env.cors.origins \"*\" cannot be used with env.cors.credentials=true: list the exact origins" -}}
{{- end -}}
{{- if and .Values.tests.image.repository (not (or .Values.tests.image.tag .Values.tests.image.digest)) -}}
{{- fail "tests.image.repository is set: set tests.image.tag or tests.image.digest too" -}}
{{- end -}}
{{- $managed := list "RELAY_PORT" "TOKENPLACE_RELAY_METRICS_PORT" "TOKENPLACE_RELAY_UPSTREAM_URL" "TOKENPLACE_RELAY_UPSTREAM_CONNECT_TIMEOUT_MS" "TOKENPLACE_RELAY_UPSTREAM_HEADERS_TIMEOUT_MS" "TOKENPLACE_RELAY_UPSTREAM_IDLE_TIMEOUT_MS" "TOKENPLACE_RELAY_DRAIN_SECONDS" "TOKENPLACE_RELAY_SHUTDOWN_TIMEOUT_SECONDS" "TOKENPLACE_RELAY_MAX_BODY_BYTES" "TOKENPLACE_RELAY_MAX_CONNECTIONS" "TOKENPLACE_RELAY_TRUST_FORWARDED_HEADERS" "TOKENPLACE_RELAY_LOG_LEVEL" "TOKEN_PLACE_RELAY_SERVER_TOKEN" "TOKENPLACE_RELAY_UPSTREAM_MAX_CONCURRENCY" "TOKENPLACE_RELAY_QUEUE_LENGTH" "TOKENPLACE_RELAY_QUEUE_TIMEOUT_MS" "TOKENPLACE_RELAY_ALLOWED_UPSTREAMS" "TOKENPLACE_RELAY_SERVER_LEASE_SECONDS" "TOKENPLACE_RELAY_CORS_ORIGINS" "TOKENPLACE_RELAY_CORS_CREDENTIALS" "TOKENPLACE_METRICS_TOKEN" "TOKEN_PLACE_API_V1_RELAY_POLL_WAIT_SECONDS" "TOKEN_PLACE_API_V1_RELAY_SERVER_LEASE_SECONDS" "TOKEN_PLACE_API_V1_MAX_QUEUE_DEPTH_PER_NODE" "TOKEN_PLACE_API_V1_REQUEST_DEADLINE_SECONDS" "API_RATE_LIMIT" "API_DAILY_QUOTA" "API_RELAY_CONTROL_PLANE_IP_RATE_LIMIT" "TOKENPLACE_RELAY_TRUSTED_PROXIES" "TOKENPLACE_RELAY_OPEN_REGISTRATION" "TOKENPLACE_RELAY_MAX_NODES" "TOKENPLACE_RELAY_MAX_ENVELOPE_BYTES" "TOKENPLACE_RELAY_MAX_STORED_BYTES" -}}
{{- range .Values.extraEnv -}}
{{- if has .name $managed -}}
{{- fail (printf "extraEnv sets %s, which the chart sets from its own values: use env.* or secret.* instead" .name) -}}
{{- end -}}
{{- if and (hasKey . "value") (hasKey . "valueFrom") -}}
{{- fail (printf "extraEnv entry %s has both value and valueFrom: give one" .name) -}}
{{- end -}}
{{- end -}}
{{- range .Values.extraEnvFrom -}}
{{- if eq (len (pick . "secretRef" "configMapRef")) 1 | not -}}
{{- fail "each extraEnvFrom entry needs exactly one of secretRef or configMapRef" -}}
{{- end -}}
{{- end -}}
{{- $chartLabels := list "helm.sh/chart" "app.kubernetes.io/name" "app.kubernetes.io/instance" "app.kubernetes.io/version" "app.kubernetes.io/managed-by" "app.kubernetes.io/part-of" "app.kubernetes.io/component" -}}
{{- range $key, $_ := merge (dict) .Values.commonLabels .Values.podLabels -}}
{{- if has $key $chartLabels -}}
{{- fail (printf "commonLabels/podLabels must not set %s: the chart sets it" $key) -}}
{{- end -}}
{{- end -}}
{{- range .Values.ingress.tls -}}
{{- range .hosts -}}
{{- $host := . -}}
{{- $found := false -}}
{{- range $.Values.ingress.hosts -}}
{{- if eq .host $host -}}{{- $found = true -}}{{- end -}}
{{- end -}}
{{- if not $found -}}
{{- fail (printf "ingress.tls lists host %s, which is not in ingress.hosts" $host) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
With the HTTP upstream off, values that only serve it would silently do nothing: refuse them, so an
install whose values still describe a GPU server learns that env.upstream.enabled must now be set.
*/}}
{{- define "relay.validateUpstreamOff" -}}
{{- if not .Values.env.upstream.enabled -}}
{{- $set := list -}}
{{- if .Values.gpuExternalName.host -}}{{- $set = append $set "gpuExternalName.host" -}}{{- end -}}
{{- if .Values.gpuExternalName.headless.enabled -}}{{- $set = append $set "gpuExternalName.headless.enabled" -}}{{- end -}}
{{- if .Values.networkPolicy.gpuServer.cidrs -}}{{- $set = append $set "networkPolicy.gpuServer.cidrs" -}}{{- end -}}
{{- if .Values.env.upstream.url -}}{{- $set = append $set "env.upstream.url" -}}{{- end -}}
{{- if .Values.env.registration.allowedUpstreams -}}{{- $set = append $set "env.registration.allowedUpstreams" -}}{{- end -}}
{{- if $set -}}
{{- fail (printf "%s: only the optional HTTP GPU server uses this, and it is off (env.upstream.enabled=false). Set env.upstream.enabled=true to forward to it, or remove the value; compute nodes (server.py) dial out to the relay and need none of it" (join ", " $set)) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The CIDRs among env.registration.allowedUpstreams (bare addresses as /32 or /128), comma separated: NetworkPolicy cannot match host names. */}}
{{- define "relay.nodeCidrs" -}}
{{- $cidrs := list -}}
{{- range .Values.env.registration.allowedUpstreams -}}
{{- if regexMatch "^[0-9.]+/[0-9]+$" . -}}
{{- $cidrs = append $cidrs . -}}
{{- else if regexMatch "^[0-9.]+$" . -}}
{{- $cidrs = append $cidrs (printf "%s/32" .) -}}
{{- else if and (contains ":" .) (contains "/" .) -}}
{{- $cidrs = append $cidrs . -}}
{{- else if contains ":" . -}}
{{- $cidrs = append $cidrs (printf "%s/128" .) -}}
{{- end -}}
{{- end -}}
{{- join ", " $cidrs -}}
{{- end -}}

{{/* key=value,key=value for a label map, for messages. */}}
{{- define "relay.labelList" -}}
{{- $pairs := list -}}
{{- range $key, $value := . -}}
{{- $pairs = append $pairs (printf "%s=%s" $key $value) -}}
{{- end -}}
{{- join "," $pairs -}}
{{- end -}}

{{/* The CIDRs the NetworkPolicy lets the relay reach the GPU host at, comma separated. */}}
{{- define "relay.gpuCidrs" -}}
{{- $cidrs := list -}}
{{- if .Values.gpuExternalName.headless.enabled -}}
{{- range .Values.gpuExternalName.headless.ips -}}
{{- $cidrs = append $cidrs (printf "%s/%s" . (ternary "128" "32" (contains ":" .))) -}}
{{- end -}}
{{- end -}}
{{- $cidrs = concat $cidrs (.Values.networkPolicy.gpuServer.cidrs | default list) | uniq -}}
{{- join ", " $cidrs -}}
{{- end -}}
