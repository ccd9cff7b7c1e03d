package controller

import (
	"strings"

	"github.com/latchkey-dev/latchkey/api/v2beta1"
)

// copiedMetadata returns the labels or annotations of an AzureKeyVaultSecret
// to copy onto its output: users put Reloader and reflector annotations
// there (as akv2k8s copied them all). It is the one place that decides; the
// ownership rules copy what it returns and nothing else.
func copiedMetadata(in map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range in {
		if !notCopied(k, v) {
			out[k] = v
		}
	}
	return out
}

// notCopiedDomains are the domains (with their subdomains) of label and
// annotation keys never copied onto an output. A key is a domain and a name
// ("reloader.stakater.com/match"); one without a domain is copied.
//
//   - kubernetes.io and k8s.io are Kubernetes' own: its components act on
//     keys there (kubernetes.io/service-account.name on a Secret is what
//     makes kube-controller-manager fill it with a token), and whatever
//     Kubernetes adds later lands there. This includes kubectl's
//     last-applied-configuration and the app.kubernetes.io labels, whose
//     app.kubernetes.io/instance is Argo CD's default tracking label.
//   - helm.sh: Helm's ownership (meta.helm.sh) and its resource policy and
//     hooks (helm.sh/resource-policy, helm.sh/hook), by which it would adopt,
//     keep or delete the output.
//   - argoproj.io and fluxcd.io: Argo CD's and Flux's tracking and sync
//     options, by which they would prune or diff the output as theirs.
//   - latchkey.dev: our own bookkeeping (the owners record, the managed label).
var notCopiedDomains = append([]string{"helm.sh", "argoproj.io", "fluxcd.io", "latchkey.dev"}, v2beta1.KubernetesDomains...)

// notCopied reports whether a label or annotation stays on the
// AzureKeyVaultSecret: a key of notCopiedDomains, or Helm's release-record
// label owner=helm (Helm reads every Secret so labelled in its namespace as
// one of its releases, whatever its type).
func notCopied(key, value string) bool {
	if domain, _, ok := strings.Cut(key, "/"); ok && v2beta1.InDomain(domain, notCopiedDomains...) {
		return true
	}
	return key == "owner" && value == "helm"
}
