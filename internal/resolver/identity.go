package resolver

import (
	"net/http"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/latchkey-dev/latchkey/internal/resolver/protocol"
)

// The extras the API server puts in a pod-bound service-account token's
// user info. They are the only source of the pod: a request body names a
// container, never a pod.
const (
	extraPodName = "authentication.kubernetes.io/pod-name"
	extraPodUID  = "authentication.kubernetes.io/pod-uid"
	saPrefix     = "system:serviceaccount:"
)

// Identity is who is asking, as TokenReview established it.
type Identity struct {
	Namespace      string
	ServiceAccount string
	PodName        string
	PodUID         types.UID
}

// IdentityOf reads the pod from a reviewed token's user info: name and UID
// from the pod extras, namespace and ServiceAccount from the username
// system:serviceaccount:<namespace>:<name>. A token that is not a
// pod-bound service-account token (a plain one, a user's) is refused.
func IdentityOf(user authenticationv1.UserInfo) (Identity, *Denial) {
	rest, ok := strings.CutPrefix(user.Username, saPrefix)
	ns, sa, _ := strings.Cut(rest, ":")
	if !ok || ns == "" || sa == "" || strings.Contains(sa, ":") {
		return Identity{}, deny(http.StatusForbidden, protocol.CodeNoPodClaims, "the token is not a service account's")
	}
	name, uid := one(user.Extra[extraPodName]), one(user.Extra[extraPodUID])
	if name == "" || uid == "" {
		return Identity{}, deny(http.StatusForbidden, protocol.CodeNoPodClaims,
			"the token of ServiceAccount %s/%s is not bound to a pod: use the token the webhook projects", ns, sa)
	}
	return Identity{Namespace: ns, ServiceAccount: sa, PodName: name, PodUID: types.UID(uid)}, nil
}

// one is the single value of an extra, or "" when it has none or several.
func one(values authenticationv1.ExtraValue) string {
	if len(values) != 1 {
		return ""
	}
	return values[0]
}
