#!/usr/bin/env bash
# Builds the local control plane from Go modules into a cache directory, once.
#
# Output (printed as KEY=path lines on stdout, for the Python cluster tool):
#   $CACHE/kubernetes-$KUBERNETES_VERSION/{kube-apiserver,kube-scheduler,kube-controller-manager,kubectl}
#   $CACHE/etcd-$ETCD_VERSION/etcd
#   $CACHE/kwok-$KWOK_VERSION/{kwok,kwokctl}
#   $CACHE/helm-$HELM_VERSION/helm   (for the chart tests in tests/deploy)
# A binary that already exists is not rebuilt, so a warm run takes seconds.
# The Go build cache (go env GOCACHE) and module cache are reused as well.
#
# `build.sh karpenter` builds only Karpenter's KWOK provider, for the side-by-side
# benchmark (`make bench-peer`); nothing else asks for it, so `make test` never
# builds it. It prints:
#   KARPENTER_KWOK=$CACHE/karpenter-$KARPENTER_VERSION/karpenter-kwok
#   KARPENTER_CRDS=$CACHE/karpenter-$KARPENTER_VERSION/crds   (NodePool, NodeClaim, ..., KWOKNodeClass)
#   KARPENTER_SRC=$CACHE/src/karpenter-$KARPENTER_VERSION     (writable copy of the module source)
# The source comes from the Go module proxy (`go mod download`); nothing of
# Karpenter is kept in this repository.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"
CACHE="${GROWTHRS_CACHE:-$HOME/.cache/growthrs}/controlplane"
export CGO_ENABLED=0 GOFLAGS="${GOFLAGS:--mod=mod}" GOTOOLCHAIN=local
log() { echo "[build-control-plane] $*" >&2; }

k8s_dir="$CACHE/kubernetes-$KUBERNETES_VERSION"
k8s_bins=(kube-apiserver kube-scheduler kube-controller-manager kubectl)
build_kubernetes() {
  local missing=0 b
  for b in "${k8s_bins[@]}"; do [[ -x "$k8s_dir/$b" ]] || missing=1; done
  [[ $missing == 0 ]] && return
  log "building Kubernetes $KUBERNETES_VERSION (cold: tens of minutes on 2 cores)"
  local work="$CACHE/src/kubernetes-$KUBERNETES_VERSION"
  mkdir -p "$work" "$k8s_dir"
  # k8s.io/kubernetes replaces its staging modules with local paths; a wrapper
  # module replaces each with the published v0.X.Y tag instead.
  local staging_version="v0.${KUBERNETES_VERSION#v1.}"
  local gomod
  gomod="$(cd "$work" && go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
  {
    echo "module growthrs.local/controlplane"
    echo
    echo "go 1.26"
    echo
    echo "require k8s.io/kubernetes $KUBERNETES_VERSION"
    echo
    echo "replace ("
    grep -E '^\s*k8s\.io/[a-z0-9-]+ => \./staging/' "$gomod" |
      awk -v v="$staging_version" '{print "\t" $1 " => " $1 " " v}'
    echo ")"
  } >"$work/go.mod"
  cat >"$work/tools.go" <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubectl/pkg/cmd"
)
GO
  (cd "$work" && go mod tidy -e >&2 2>/dev/null || true)
  local minor="${KUBERNETES_VERSION#v1.}"; minor="${minor%%.*}"
  local pkg=k8s.io/component-base/version
  local ldflags="-s -w -X $pkg.gitVersion=$KUBERNETES_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  ldflags="$ldflags -X k8s.io/client-go/pkg/version.gitVersion=$KUBERNETES_VERSION -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$minor"
  (cd "$work" && go build -trimpath -tags tools -ldflags "$ldflags" -o "$k8s_dir/" \
    k8s.io/kubernetes/cmd/kube-apiserver \
    k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler \
    k8s.io/kubernetes/cmd/kubectl >&2)
}

etcd_dir="$CACHE/etcd-$ETCD_VERSION"
build_etcd() {
  [[ -x "$etcd_dir/etcd" ]] && return
  log "building etcd $ETCD_VERSION"
  local work="$CACHE/src/etcd-$ETCD_VERSION"
  mkdir -p "$work" "$etcd_dir"
  cat >"$work/main.go" <<'GO'
// The etcd server, built from its Go module.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  printf 'module growthrs.local/etcd\n\ngo 1.26\n' >"$work/go.mod"
  (cd "$work" && go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >&2 && go mod tidy >&2 &&
    go build -trimpath -ldflags "-s -w" -o "$etcd_dir/etcd" . >&2)
}

kwok_dir="$CACHE/kwok-$KWOK_VERSION"
build_kwok() {
  [[ -x "$kwok_dir/kwok" && -x "$kwok_dir/kwokctl" ]] && return
  log "building kwok $KWOK_VERSION"
  mkdir -p "$kwok_dir"
  GOBIN="$kwok_dir" go install -trimpath -ldflags "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION" \
    "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION" "sigs.k8s.io/kwok/cmd/kwokctl@$KWOK_VERSION" >&2
}

helm_dir="$CACHE/helm-$HELM_VERSION"
build_helm() {
  [[ -x "$helm_dir/helm" ]] && return
  log "building helm $HELM_VERSION"
  mkdir -p "$helm_dir"
  # As helm's own Makefile: the Kubernetes version `helm template` and `helm lint`
  # assume is the one of the client-go helm is built with (else v1.20).
  local gomod client_go k8s_minor
  gomod="$(go mod download -json "helm.sh/helm/v3@$HELM_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
  client_go="$(awk '$1 == "k8s.io/client-go" {print $2}' "$gomod")"
  k8s_minor="$(echo "$client_go" | cut -d. -f2)"
  local ver=helm.sh/helm/v3/internal/version
  local ldflags="-s -w -X $ver.version=$HELM_VERSION -X $ver.gitTreeState=clean"
  ldflags="$ldflags -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$k8s_minor"
  ldflags="$ldflags -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$k8s_minor"
  GOBIN="$helm_dir" go install -trimpath -ldflags "$ldflags" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" >&2
}

karpenter_dir="$CACHE/karpenter-$KARPENTER_VERSION"
karpenter_src="$CACHE/src/karpenter-$KARPENTER_VERSION"
build_karpenter() {
  if [[ ! -f "$karpenter_src/go.mod" ]]; then
    log "fetching sigs.k8s.io/karpenter $KARPENTER_VERSION from the Go module proxy"
    local dir
    dir="$(cd "${TMPDIR:-/tmp}" && go mod download -json "sigs.k8s.io/karpenter@$KARPENTER_VERSION" |
      sed -n 's/.*"Dir": "\(.*\)".*/\1/p')"
    [[ -n "$dir" && -f "$dir/go.mod" ]] || { log "go mod download gave no source directory"; exit 1; }
    # The module cache is read-only; the scheduling benchmark adds a file to its copy.
    rm -rf "$karpenter_src.tmp" && mkdir -p "$(dirname "$karpenter_src")"
    cp -r "$dir" "$karpenter_src.tmp" && chmod -R u+w "$karpenter_src.tmp"
    mv "$karpenter_src.tmp" "$karpenter_src"
  fi
  mkdir -p "$karpenter_dir/crds"
  # The NodePool/NodeClaim CRDs come with the chart; the KWOKNodeClass with its API.
  cp "$karpenter_src"/kwok/charts/crds/*.yaml "$karpenter_src"/kwok/apis/crds/*.yaml "$karpenter_dir/crds/"
  [[ -x "$karpenter_dir/karpenter-kwok" ]] && return
  log "building Karpenter's KWOK provider $KARPENTER_VERSION (cold: about 5 minutes on 2 cores)"
  (cd "$karpenter_src" && go build -trimpath -ldflags "-s -w" -o "$karpenter_dir/karpenter-kwok.tmp" ./kwok >&2)
  mv "$karpenter_dir/karpenter-kwok.tmp" "$karpenter_dir/karpenter-kwok"
}

if [[ "${1:-}" == karpenter ]]; then
  build_karpenter
  echo "KARPENTER_KWOK=$karpenter_dir/karpenter-kwok"
  echo "KARPENTER_CRDS=$karpenter_dir/crds"
  echo "KARPENTER_SRC=$karpenter_src"
  exit 0
elif [[ -n "${1:-}" ]]; then
  log "unknown argument ${1}; usage: build.sh [karpenter]"
  exit 2
fi

build_etcd
build_kwok
build_kubernetes
build_helm
echo "KUBE_APISERVER=$k8s_dir/kube-apiserver"
echo "KUBE_SCHEDULER=$k8s_dir/kube-scheduler"
echo "KUBE_CONTROLLER_MANAGER=$k8s_dir/kube-controller-manager"
echo "KUBECTL=$k8s_dir/kubectl"
echo "ETCD=$etcd_dir/etcd"
echo "KWOK=$kwok_dir/kwok"
echo "KWOKCTL=$kwok_dir/kwokctl"
echo "HELM=$helm_dir/helm"
