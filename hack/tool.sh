#!/usr/bin/env bash
# tool.sh NAME... — prints the path of each pinned tool binary, one per line,
# building those the cache does not hold yet.
#
# Every tool is built from a small wrapper module under hack/tools/<module>/ so
# its version is pinned by go.mod/go.sum. The cache folder is keyed by a hash of
# those files and the wrapper's Go files: bumping a version builds once into a
# new folder, and every later run reuses it.
#
# Tools of one module named together are built by one `go build` (the
# Kubernetes binaries share most of their packages, and the linker of one runs
# while the compiler works for the next). A lock per module folder lets
# several callers ask at once (.ci/run builds tools ahead of the step that
# needs them): the second waits for the first and then finds the binary.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cache=${LATCHKEY_CACHE:-$root/.cache}
[ $# -gt 0 ] || { echo "usage: hack/tool.sh NAME..." >&2; exit 2; }

# module NAME sets module and pkg: the wrapper module and the package to build in it.
module() {
  case $1 in
    kube-apiserver|kubelet|kubectl|kube-controller-manager|kube-scheduler|kube-proxy)
      module=k8s pkg=k8s.io/kubernetes/cmd/$1 ;;
    etcd) module=etcd pkg=. ;;
    helm) module=helm pkg=helm.sh/helm/v4/cmd/helm ;;
    controller-gen) module=controller-gen pkg=sigs.k8s.io/controller-tools/cmd/controller-gen ;;
    golangci-lint) module=golangci-lint pkg=github.com/golangci/golangci-lint/v2/cmd/golangci-lint ;;
    cert-manager) module=cert-manager pkg=. ;;
    vault) module=vault pkg=. ;;
    kube-router) module=kube-router pkg=github.com/cloudnativelabs/kube-router/v2/cmd/kube-router ;;
    *) echo "tool.sh: unknown tool $1" >&2; exit 2 ;;
  esac
}

# folder MODULE prints the cache folder of a wrapper module's current pins.
folder() {
  local dir=$root/hack/tools/$1
  echo "$cache/tools/$1-$(cat "$dir/go.mod" "$dir/go.sum" $(find "$dir" -maxdepth 1 -name '*.go' | sort) | sha256sum | cut -c1-12)"
}

# build MODULE NAME... builds the named tools of one module into its folder.
build() {
  local mod=$1; shift
  local dir=$root/hack/tools/$mod out names=$* pkgs=() ldflags="-s -w" start v minor n
  out=$(folder "$mod")
  mkdir -p "$out"
  exec {lock}>"$out.lock"
  flock "$lock"
  # Another caller may have built some while this one waited.
  local missing=()
  for n in "$@"; do [ -x "$out/$n" ] || missing+=("$n"); done
  if [ ${#missing[@]} -eq 0 ]; then exec {lock}>&-; return; fi
  for n in "${missing[@]}"; do module "$n"; pkgs+=("$pkg"); done
  if [ "$mod" = k8s ]; then
    # The Kubernetes version the binaries report; kubelet and the API server
    # compare it with each other, and kubectl prints it.
    v=$(awk '$1 == "require" && $2 == "k8s.io/kubernetes" {print $3}' "$dir/go.mod")
    minor=$(echo "$v" | cut -d. -f2)
    ldflags="$ldflags -X k8s.io/component-base/version.gitVersion=$v -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor"
  fi
  names=${missing[*]}
  echo "tool.sh: building ${names// /, } (once per version; cached in $out)" >&2
  start=$(date +%s)
  local tmp
  tmp=$(mktemp -d "$out/.build.XXXXXX")
  if [ ${#pkgs[@]} -eq 1 ]; then
    (cd "$dir" && CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$tmp/${missing[0]}" "${pkgs[0]}")
  else
    # Several main packages: go build writes each as its last path element.
    (cd "$dir" && CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$tmp/" "${pkgs[@]}")
  fi
  if [ "$mod" = cert-manager ]; then
    # Its CRDs, which the binary needs installed, beside it (crds/*.yaml).
    local src
    src=$(cd "$dir" && go list -m -f '{{.Dir}}' github.com/cert-manager/cert-manager)
    rm -rf "$out/crds" && mkdir "$out/crds"
    cp "$src"/deploy/crds/*.yaml "$out/crds/"
    chmod 644 "$out/crds/"*.yaml
  fi
  for n in "${missing[@]}"; do mv "$tmp/$n" "$out/$n"; done
  rm -rf "$tmp"
  echo "tool.sh: built ${names// /, } in $(( $(date +%s) - start ))s" >&2
  exec {lock}>&-
}

# Group the missing tools by module, in the order first named.
declare -A want=()
order=()
for n in "$@"; do
  module "$n"
  if [ ! -x "$(folder "$module")/$n" ]; then
    [ -n "${want[$module]:-}" ] || order+=("$module")
    want[$module]="${want[$module]:-} $n"
  fi
done
for m in "${order[@]}"; do
  # shellcheck disable=SC2086 # a list of tool names
  build "$m" ${want[$m]}
done
for n in "$@"; do
  module "$n"
  echo "$(folder "$module")/$n"
done
