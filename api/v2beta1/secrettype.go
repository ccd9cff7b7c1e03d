package v2beta1

import (
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// The Secret types an AzureKeyVaultSecret may ask for are decided twice, by
// the same rule: here, for the controller (which refuses to create or write
// a Secret of any other type, for objects stored before the CRD had the
// rule), and by the CEL rule on AzureKeyVaultOutputSecret.Type, for the API
// server (which refuses them at apply time). A test applies one table of
// types to both (internal/controller: TestSchemaAndControllerAgreeOnSecretTypes).

// OutputSecretTypes are the types of Kubernetes' reserved domains an
// output Secret may have: akv2k8s's, each with the keys it writes
// (product brief §1). Opaque and custom types outside the reserved domains
// are allowed too (see SecretTypeRefused).
var OutputSecretTypes = []corev1.SecretType{
	corev1.SecretTypeOpaque,
	corev1.SecretTypeBasicAuth,
	corev1.SecretTypeDockerConfigJson,
	corev1.SecretTypeDockercfg,
	corev1.SecretTypeSSHAuth,
	corev1.SecretTypeTLS,
}

// reservedTypeDomains are the domains (with their subdomains) whose Secret
// types some component gives a meaning beyond "data":
//
//   - kubernetes.io: kubernetes.io/service-account-token makes
//     kube-controller-manager fill the Secret with a non-expiring token for
//     the ServiceAccount its annotation names, which the API server then
//     accepts; any type Kubernetes adds later lands here too;
//   - bootstrap.kubernetes.io (a subdomain): bootstrap.kubernetes.io/token in
//     kube-system is a bearer token the API server accepts (with
//     auth-extra-groups chosen by the Secret's author) and the controller
//     manager's bootstrap signer acts on;
//   - k8s.io: Kubernetes' other reserved domain;
//   - helm.sh: helm.sh/release.v1 is Helm's release record, from which a
//     later `helm upgrade` or `helm uninstall` by an admin decides what to
//     change or delete.
//
// Anyone who may create an AzureKeyVaultSecret would otherwise obtain what
// these give, without the right to create Secrets.
var reservedTypeDomains = append(slices.Clone(KubernetesDomains), "helm.sh")

// SecretTypeRefused says why latchkey never creates or writes a Secret of
// type t, or returns "" when it may: t is one of OutputSecretTypes, a type
// without a domain (akv2k8s users' "opaque", "my-type"), or a custom type
// whose domain is none of the reserved ones ("example.com/config"). The
// domain is compared without regard to case. The message names the type
// (a type is not a secret) and what to use instead.
func SecretTypeRefused(t corev1.SecretType) string {
	s := string(t)
	domain, _, prefixed := strings.Cut(s, "/")
	if !prefixed || slices.Contains(OutputSecretTypes, t) || !InDomain(domain, reservedTypeDomains...) {
		return ""
	}
	return "type " + s + " is not allowed for an output: an AzureKeyVaultSecret may create Secrets of type Opaque, " +
		"kubernetes.io/basic-auth, kubernetes.io/dockerconfigjson, kubernetes.io/dockercfg, kubernetes.io/ssh-auth, " +
		"kubernetes.io/tls, or a custom type outside the domains kubernetes.io, k8s.io and helm.sh, to which Kubernetes " +
		"and Helm give a meaning (a service-account or bootstrap token, a release record)"
}

// KubernetesDomains are the domains Kubernetes reserves for itself in the
// names of types, labels and annotations (with their subdomains, such as
// bootstrap.kubernetes.io or kubectl.kubernetes.io).
var KubernetesDomains = []string{"kubernetes.io", "k8s.io"}

// InDomain reports whether domain is one of domains or a subdomain of one,
// without regard to case (DNS names have none).
func InDomain(domain string, domains ...string) bool {
	domain = strings.ToLower(domain)
	for _, d := range domains {
		if domain == d || strings.HasSuffix(domain, "."+d) {
			return true
		}
	}
	return false
}
