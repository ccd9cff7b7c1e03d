package vaultkv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// TokenFile is the TokenRequester of a process that logs in as its own
// pod (latchkey-env in direct mode): the service-account token the kubelet
// projects into the container for Vault's audience, read at each login,
// since the kubelet renews it in place. It serves whatever Principal a Ref
// names: the token is the pod's, and Vault's role decides what it may read.
type TokenFile struct {
	Path string
}

// ServiceAccountToken implements TokenRequester.
func (f TokenFile) ServiceAccountToken(context.Context, string, string, []string, time.Duration) (string, error) {
	b, err := os.ReadFile(f.Path)
	if err != nil {
		return "", fmt.Errorf("the pod's token for Vault: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("the pod's token for Vault: %w", errors.New(f.Path+" is empty"))
	}
	return tok, nil
}
