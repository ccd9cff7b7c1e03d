// Package injectmark is the webhook's admission mark: an annotation
// (podcontract.InjectedAnnotation) the webhook writes on every pod it
// rewrites, an HMAC-SHA256 under an install key of what the resolver serves
// from — the pod's namespace and, for each container and init container
// that starts with latchkey's binary (podcontract.BinaryPath), its name,
// command, arguments and environment. The resolver serves only pods
// whose mark verifies, so a pod created with the annotation, or made to
// look rewritten, obtains nothing: without the key no one can write a mark,
// and a mark copied from another pod verifies only over the very containers
// the webhook admitted there, in the same namespace.
//
// The key is a Secret the chart generates and mounts into the webhook and
// the resolver only (docs/threat-model.md).
package injectmark

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/latchkey-dev/latchkey/internal/podcontract"
)

const (
	// MinKeyBytes is the shortest key accepted.
	MinKeyBytes = 32
	// version prefixes the mark, so its form can change.
	version = "v1."
)

// Keys sign and verify marks: the first key signs, every key verifies (a
// new key is put first, the old one kept until the pods it signed are
// gone).
type Keys struct {
	keys [][]byte
}

// New returns Keys of keys, each at least MinKeyBytes long.
func New(keys ...[]byte) (*Keys, error) {
	if len(keys) == 0 {
		return nil, errors.New("no injection mark key")
	}
	for i, k := range keys {
		if len(k) < MinKeyBytes {
			return nil, fmt.Errorf("injection mark key %d is %d bytes, want at least %d", i+1, len(k), MinKeyBytes)
		}
	}
	return &Keys{keys: keys}, nil
}

// Load reads keys from a file: one a line, blank lines and lines starting
// with # ignored. Its error names the file, never a key.
func Load(path string) (*Keys, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("injection mark keys: %w", err)
	}
	var keys [][]byte
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line != "" && !strings.HasPrefix(line, "#") {
			keys = append(keys, []byte(line))
		}
	}
	k, err := New(keys...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// Sign returns the mark of pod as it is now, in namespace ns (an object
// under admission may not name its namespace yet).
func (k *Keys) Sign(ns string, pod *corev1.Pod) string {
	return version + base64.RawURLEncoding.EncodeToString(mac(k.keys[0], ns, pod))
}

// Verify reports whether pod carries a mark one of the keys wrote over
// the pod as it is now. A nil *Keys verifies nothing.
func (k *Keys) Verify(pod *corev1.Pod) bool {
	if k == nil {
		return false
	}
	got, ok := strings.CutPrefix(pod.Annotations[podcontract.InjectedAnnotation], version)
	if !ok {
		return false
	}
	sum, err := base64.RawURLEncoding.DecodeString(got)
	if err != nil {
		return false
	}
	for _, key := range k.keys {
		if hmac.Equal(sum, mac(key, pod.Namespace, pod)) {
			return true
		}
	}
	return false
}

// signed is what a mark covers.
type signed struct {
	Namespace  string      `json:"namespace"`
	Containers []container `json:"containers"`
}

type container struct {
	Init    bool     `json:"init,omitempty"`
	Name    string   `json:"name"`
	Command []string `json:"command"`
	Args    []string `json:"args,omitempty"`
	Env     []envVar `json:"env,omitempty"`
}

// envVar is an env entry: a literal value, or a reference (whose target
// the resolver never serves, so only its presence counts).
type envVar struct {
	Name  string `json:"name"`
	Value string `json:"value,omitempty"`
	From  bool   `json:"from,omitempty"`
}

// Rewritten reports whether a container starts with latchkey's binary.
func Rewritten(c *corev1.Container) bool {
	return len(c.Command) > 0 && c.Command[0] == podcontract.BinaryPath
}

func mac(key []byte, ns string, pod *corev1.Pod) []byte {
	s := signed{Namespace: ns}
	add := func(list []corev1.Container, init bool) {
		for i := range list {
			c := &list[i]
			if !Rewritten(c) {
				continue
			}
			sc := container{Init: init, Name: c.Name, Command: c.Command, Args: c.Args}
			for _, e := range c.Env {
				sc.Env = append(sc.Env, envVar{Name: e.Name, Value: e.Value, From: e.ValueFrom != nil})
			}
			s.Containers = append(s.Containers, sc)
		}
	}
	add(pod.Spec.InitContainers, true)
	add(pod.Spec.Containers, false)
	doc, err := json.Marshal(s)
	if err != nil {
		panic(err) // strings and slices always encode
	}
	h := hmac.New(sha256.New, key)
	_, _ = h.Write(doc)
	return h.Sum(nil)
}
