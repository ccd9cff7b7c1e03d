package podcontract_test

import (
	"strings"
	"testing"

	"github.com/latchkey-dev/latchkey/internal/podcontract"
)

// TestOwnVariablesArePrefixed: the binary removes the variables the webhook
// adds by their prefix, so every one of them must carry it; akv2k8s's
// switch, which users set, must not.
func TestOwnVariablesArePrefixed(t *testing.T) {
	for _, name := range []string{podcontract.EnvRefs, podcontract.EnvResolverURL, podcontract.EnvResolverToken, podcontract.EnvResolverCA, podcontract.EnvContainer} {
		if !strings.HasPrefix(name, podcontract.OwnPrefix) {
			t.Errorf("%s does not start with %s: the binary would pass it to the program", name, podcontract.OwnPrefix)
		}
	}
	if strings.HasPrefix(podcontract.EnvDisableAuthService, podcontract.OwnPrefix) {
		t.Errorf("%s starts with %s: the binary would remove it", podcontract.EnvDisableAuthService, podcontract.OwnPrefix)
	}
}

// TestIsDirectMode: strconv.ParseBool's spellings of true, with the blanks
// around a value a manifest may leave.
func TestIsDirectMode(t *testing.T) {
	for _, tt := range []struct {
		value string
		want  bool
	}{
		{"true", true}, {"TRUE", true}, {"True", true}, {"1", true}, {"t", true}, {"T", true}, {" true ", true}, {"true\n", true},
		{"false", false}, {"0", false}, {"no", false}, {"yes", false}, {"on", false}, {"", false}, {"truthy", false},
	} {
		if got := podcontract.IsDirectMode(tt.value); got != tt.want {
			t.Errorf("IsDirectMode(%q) = %v, want %v", tt.value, got, tt.want)
		}
	}
}
