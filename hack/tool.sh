#!/usr/bin/env bash
# tool.sh NAME — prints the path of a pinned tool binary, building it first if
# the cache does not hold it yet.
#
# Every tool is built from a small wrapper module under hack/tools/<module>/ so
# its version is pinned by go.mod/go.sum. The cache folder is keyed by a hash of
# those files and the wrapper's Go files: bumping a version builds once into a
# new folder, and every later run reuses it.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cache=${LATCHKEY_CACHE:-$root/.cache}
name=${1:?usage: hack/tool.sh NAME}

# name → wrapper module and the package to build in it.
case $name in
  kube-apiserver|kubelet|kubectl|kube-controller-manager|kube-scheduler|kube-proxy)
    module=k8s pkg=k8s.io/kubernetes/cmd/$name ;;
  etcd) module=etcd pkg=. ;;
  helm) module=helm pkg=helm.sh/helm/v4/cmd/helm ;;
  controller-gen) module=controller-gen pkg=sigs.k8s.io/controller-tools/cmd/controller-gen ;;
  golangci-lint) module=golangci-lint pkg=github.com/golangci/golangci-lint/v2/cmd/golangci-lint ;;
  cert-manager) module=cert-manager pkg=. ;;
  vault) module=vault pkg=. ;;
  kube-router) module=kube-router pkg=github.com/cloudnativelabs/kube-router/v2/cmd/kube-router ;;
  *) echo "tool.sh: unknown tool $name" >&2; exit 2 ;;
esac

dir=$root/hack/tools/$module
key=$(cat "$dir/go.mod" "$dir/go.sum" $(find "$dir" -maxdepth 1 -name '*.go' | sort) | sha256sum | cut -c1-12)
out=$cache/tools/$module-$key/$name
if [ -x "$out" ]; then
  echo "$out"
  exit 0
fi

ldflags="-s -w"
if [ "$module" = k8s ]; then
  # The Kubernetes version the binaries report; kubelet and the API server
  # compare it with each other, and kubectl prints it.
  v=$(awk '$1 == "require" && $2 == "k8s.io/kubernetes" {print $3}' "$dir/go.mod")
  minor=$(echo "$v" | cut -d. -f2)
  ldflags="$ldflags -X k8s.io/component-base/version.gitVersion=$v -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor"
fi

echo "tool.sh: building $name (once per version; cached in ${out%/*})" >&2
mkdir -p "${out%/*}"
start=$(date +%s)
(cd "$dir" && CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$out.tmp" "$pkg")
if [ "$module" = cert-manager ]; then
  # Its CRDs, which the binary needs installed, beside it (crds/*.yaml).
  src=$(cd "$dir" && go list -m -f '{{.Dir}}' github.com/cert-manager/cert-manager)
  rm -rf "${out%/*}/crds" && mkdir "${out%/*}/crds"
  cp "$src"/deploy/crds/*.yaml "${out%/*}/crds/"
  chmod 644 "${out%/*}/crds/"*.yaml
fi
mv "$out.tmp" "$out"
echo "tool.sh: built $name in $(( $(date +%s) - start ))s" >&2
echo "$out"
