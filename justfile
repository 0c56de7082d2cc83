# Operator recipes for the relay on a k3s cluster (Traefik, cert-manager): see docs/sugarkube.md.
#
#   just tokenplace-oci-redeploy                      # newest released chart, image from the values file
#   just tokenplace-oci-redeploy tag=sha-0123abc      # a build from main (chart <version>-sha-0123abc)
#   just tokenplace-oci-redeploy tag=1.2.3            # a release
#   just tokenplace-status
#   just tokenplace-logs                              # relay and Traefik, last 200 lines each
#   just tokenplace-port-forward local_port=8080
#
# Variables are overridden before the recipe name, e.g.
#   just stage=dev owner=my-org tokenplace-oci-redeploy tag=sha-0123abc
# `just --dry-run <recipe>` prints the commands without running them.

# GitHub owner the image and chart are published under (ghcr.io/<owner>/tokenplace-relay, oci://ghcr.io/<owner>/charts).
owner := "tokenplace"
registry := "ghcr.io"
namespace := "tokenplace"
release := "relay"

# dev or staging: picks docs/examples/tokenplace-relay.values.<stage>.yaml.
stage := "staging"
values := "docs/examples/tokenplace-relay.values." + stage + ".yaml"

# Chart version to install; empty means: derived from tag (see tokenplace-oci-redeploy).
chart_version := ""

# Namespace and label selector of Traefik (k3s runs it in kube-system).
traefik_namespace := "kube-system"
traefik_selector := "app.kubernetes.io/name=traefik"

# The relay Service's port (the chart's service.port).
service_port := "80"
chart := "oci://" + registry + "/" + owner + "/charts/tokenplace-relay"
image := registry + "/" + owner + "/tokenplace-relay"

# The chart names the Deployment and Service <release>-tokenplace-relay, or <release> when it already contains the chart name.
fullname := if release =~ 'tokenplace-relay' { release } else { release + "-tokenplace-relay" }

# MAJOR.MINOR.PATCH of this checkout's chart version: publish names a main build's chart <that>-sha-<7 hex>.
chart_base := replace_regex(read(justfile_directory() / "chart" / "Chart.yaml"), '(?s)^(?:.*\n)?version:[^0-9\n]*([0-9]+\.[0-9]+\.[0-9]+).*$', '$1')
sha_tag := '^sha-[0-9a-f]{7}$'
semver_tag := '^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$'

# List the recipes.
default:
    @just --list --justfile {{ quote(justfile()) }}

# Install or upgrade the relay from the OCI chart; tag=sha-<7 hex> or tag=1.2.3 pins a build.
tokenplace-oci-redeploy tag="": (_oci-redeploy replace_regex(tag, '^tag=', ''))

[private]
_oci-redeploy tag:
    helm upgrade --install {{ release }} {{ chart }} \
      {{ if chart_version != "" { "--version " + chart_version } else if tag == "" { "" } else if tag =~ sha_tag { "--version " + chart_base + "-" + tag } else if tag =~ semver_tag { "--version " + tag } else { error("tag must be sha-<7 hex> or a full version such as 1.2.3, got " + tag) } }} \
      --namespace {{ namespace }} --create-namespace \
      -f {{ values }} \
      --set-string image.repository={{ image }}{{ if tag == "" { "" } else { " --set-string image.tag=" + tag + " --set-string image.digest=" } }}
    kubectl --namespace {{ namespace }} rollout status deployment/{{ fullname }} --timeout=5m

# Show the release's last revisions, its objects (Deployment, pods, Services incl. gpu-server, Ingress, NetworkPolicy) and certificates.
tokenplace-status:
    helm history {{ release }} --namespace {{ namespace }} --max 5
    kubectl --namespace {{ namespace }} get deployment,pods,service,endpointslices,ingress,networkpolicy --selector app.kubernetes.io/instance={{ release }} -o wide
    -kubectl --namespace {{ namespace }} get certificate

# Print the last lines of the relay's logs (every pod) and of Traefik's.
tokenplace-logs lines="200": (_logs replace_regex(lines, '^lines=', ''))

[private]
_logs lines:
    kubectl --namespace {{ namespace }} logs --selector app.kubernetes.io/instance={{ release }},app.kubernetes.io/component=relay --prefix --tail={{ lines }}
    kubectl --namespace {{ traefik_namespace }} logs --selector {{ traefik_selector }} --prefix --tail={{ lines }}

# Forward local_port (default 8080) to the relay Service, then try http://127.0.0.1:<local_port>/healthz.
tokenplace-port-forward local_port="8080": (_port-forward replace_regex(local_port, '^local_port=', ''))

[private]
_port-forward local_port:
    @echo "relay on http://127.0.0.1:{{ local_port }} (try /healthz, /livez, /v1/models); Ctrl-C stops"
    kubectl --namespace {{ namespace }} port-forward service/{{ fullname }} {{ local_port }}:{{ service_port }}
