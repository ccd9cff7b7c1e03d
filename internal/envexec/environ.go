package envexec

import (
	"errors"
	"os"
	"path/filepath"
	"strings"

	"github.com/latchkey-dev/latchkey/internal/podcontract"
)

// isOwn reports whether a variable is latchkey's, removed before the exec.
func isOwn(name string) bool { return strings.HasPrefix(name, podcontract.OwnPrefix) }

// Getenv returns a lookup over environ ("NAME=value" entries) that, like
// the C library's getenv, returns the first entry's value.
func Getenv(environ []string) func(string) string {
	return func(key string) string {
		for _, kv := range environ {
			if name, value, ok := strings.Cut(kv, "="); ok && name == key {
				return value
			}
		}
		return ""
	}
}

// Rewrite returns the program's environment: environ with each binding's
// entry set to its value (values[i] is bindings[i]'s) and latchkey's own
// LATCHKEY_* variables removed. Everything else, AZURE_* and
// ENV_INJECTOR_* included, stays as it was, in order.
func Rewrite(environ []string, bindings []Binding, values []string) []string {
	set := make(map[int]string, len(bindings))
	for i, b := range bindings {
		set[b.Index] = b.Var + "=" + values[i]
	}
	out := make([]string, 0, len(environ))
	for i, kv := range environ {
		if name, _, _ := strings.Cut(kv, "="); isOwn(name) {
			continue
		}
		if v, ok := set[i]; ok {
			kv = v
		}
		out = append(out, kv)
	}
	return out
}

// DefaultPath is the search path when the environment has no PATH: the
// one Docker and containerd give containers.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// ErrNotFound is LookPath finding no executable file of that name on the search path.
var ErrNotFound = errors.New("executable file not found in PATH")

// LookPath finds the program to exec as execvp does: a name with a slash
// is used as is (absolute, or relative to the working directory); any
// other name is searched in path (the program's PATH, DefaultPath when
// unset or empty; an empty element is the working directory). isExec reports
// whether a file is a regular file someone may execute; nil means the real
// file system.
func LookPath(file, path string, isExec func(string) bool) (string, error) {
	if isExec == nil {
		isExec = isExecutable
	}
	if file == "" {
		return "", ErrNotFound
	}
	if strings.Contains(file, "/") {
		return file, nil // execve reports what is wrong with it
	}
	if path == "" {
		path = DefaultPath
	}
	for dir := range strings.SplitSeq(path, ":") {
		if dir == "" {
			dir = "."
		}
		if p := filepath.Join(dir, file); isExec(p) {
			return p, nil // execve takes a relative path from the working directory
		}
	}
	return "", ErrNotFound
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}
