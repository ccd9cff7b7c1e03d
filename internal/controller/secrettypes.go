package controller

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// typeKeys are the keys the API server requires in Secrets of its built-in
// types: basic-auth needs one of them, the others all.
var typeKeys = map[string]struct {
	keys []string
	any  bool
}{
	string(corev1.SecretTypeTLS):              {keys: []string{corev1.TLSCertKey, corev1.TLSPrivateKeyKey}},
	string(corev1.SecretTypeBasicAuth):        {keys: []string{corev1.BasicAuthUsernameKey, corev1.BasicAuthPasswordKey}, any: true},
	string(corev1.SecretTypeSSHAuth):          {keys: []string{corev1.SSHAuthPrivateKey}},
	string(corev1.SecretTypeDockerConfigJson): {keys: []string{corev1.DockerConfigJsonKey}},
	string(corev1.SecretTypeDockercfg):        {keys: []string{corev1.DockerConfigKey}},
}

// typeMismatch says why data cannot be written into a Secret of type typ
// (the type it will be created with, or the type an existing Secret keeps),
// or "" when it can. Saying so before writing gives the user the reason and
// spares retries the API server would refuse in the same way.
func typeMismatch(typ string, data map[string][]byte) string {
	req, ok := typeKeys[typ]
	if !ok {
		return ""
	}
	var missing []string
	for _, k := range req.keys {
		if _, has := data[k]; !has {
			missing = append(missing, k)
		}
	}
	if len(missing) == 0 || (req.any && len(missing) < len(req.keys)) {
		return ""
	}
	join := " and "
	if req.any {
		join = " or "
	}
	return fmt.Sprintf("a Secret of type %s needs %s; this object gives %s (a secret of this Key Vault type cannot be written as %s)",
		typ, strings.Join(req.keys, join), describeKeys(data), typ)
}

func describeKeys(data map[string][]byte) string {
	if len(data) == 0 {
		return "no keys"
	}
	return "keys " + strings.Join(sortedKeys(data), ", ")
}
