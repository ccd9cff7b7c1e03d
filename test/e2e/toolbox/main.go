// Command toolbox is the program inside the e2e test images: a few small,
// static subcommands, so test pods need no shell and no base image.
//
//	toolbox cp SRC DST          copy a file (DST's folder must exist)
//	toolbox cat FILE [MARK]     print a file; with MARK, exit the first
//	                            time (creating MARK, so the kubelet starts
//	                            the container again), then wait for SIGTERM
//	toolbox report FILE TOKEN   print FILE's content, the `aud` of the JWT in
//	                            TOKEN, and the filesystem type FILE lives on
//	toolbox sleep DURATION      sleep, then exit 0
//	toolbox env-hashes [--wait] print pid=<PID>, the SHA-256 of every
//	                            INJECTED_* variable, how many LATCHKEY_*
//	                            variables are left, whether a service-account
//	                            token is mounted, and what the API server
//	                            answers to the resolver token if one is;
//	                            --wait then waits for SIGTERM (a
//	                            Deployment's container)
//	toolbox apiserver-version   print the API server's version, reached
//	                            through the `kubernetes` Service with the
//	                            pod's service-account token
//	toolbox dial HOST:PORT [AFTER]
//	                            after AFTER (a duration), print dial=ok if a
//	                            TCP connection opens within 3 seconds, else
//	                            dial=failed (and why); exit 0 either way
package main

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "toolbox:", err)
		os.Exit(1)
	}
}

func run(args []string, out io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: toolbox cp|cat|report|sleep|env-hashes|file-hashes|apiserver-version|dial ARGS")
	}
	switch cmd, args := args[0], args[1:]; {
	case cmd == "cp" && len(args) == 2:
		return copyFile(args[0], args[1])
	case cmd == "cat" && (len(args) == 1 || len(args) == 2):
		return cat(args, out)
	case cmd == "report" && len(args) == 2:
		return report(args[0], args[1], out)
	case cmd == "apiserver-version" && len(args) == 0:
		return apiserverVersion(out)
	case cmd == "env-hashes" && len(args) <= 1:
		return envHashes(out, len(args) == 1 && args[0] == "--wait")
	case cmd == "file-hashes" && (len(args) == 1 || len(args) == 2):
		return fileHashes(args[0], len(args) == 2 && args[1] == "--watch", out)
	case cmd == "dial" && (len(args) == 1 || len(args) == 2):
		if len(args) == 2 {
			d, err := time.ParseDuration(args[1])
			if err != nil {
				return err
			}
			time.Sleep(d)
		}
		return dial(args[0], out)
	case cmd == "sleep" && len(args) == 1:
		d, err := time.ParseDuration(args[0])
		if err != nil {
			return err
		}
		time.Sleep(d)
		return nil
	default:
		return fmt.Errorf("unknown command %q with %d arguments", cmd, len(args))
	}
}

// dial says whether a TCP connection to addr opens: what a network policy
// lets through. Either answer is a success: printing it is the result.
func dial(addr string, out io.Writer) error {
	d := net.Dialer{Timeout: 3 * time.Second}
	conn, err := d.DialContext(context.Background(), "tcp", addr) //nolint:gosec // dialling the address the test names is the point
	if err != nil {
		_, err = fmt.Fprintf(out, "dial=failed (%v)\n", err)
		return err
	}
	_ = conn.Close()
	_, err = fmt.Fprintln(out, "dial=ok")
	return err
}

func cat(args []string, out io.Writer) error {
	data, err := os.ReadFile(args[0])
	if err != nil {
		return err
	}
	if _, err := out.Write(data); err != nil || len(args) == 1 {
		return err
	}
	if _, err := os.Stat(args[1]); errors.Is(err, os.ErrNotExist) {
		return os.WriteFile(args[1], nil, 0o644) // the first run ends
	}
	waitForSignal()
	return nil
}

// waitForSignal returns on SIGTERM or SIGINT.
func waitForSignal() {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	<-sigs
}

func copyFile(src, dst string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, data, 0o644)
}

func report(file, token string, out io.Writer) error {
	content, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	aud, err := audience(token)
	if err != nil {
		return err
	}
	fs, err := fsType(filepath.Dir(file))
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(out, "content=%s\naudience=%s\nfstype=%s\n", strings.TrimSpace(string(content)), aud, fs)
	return err
}

// audience returns the `aud` claim of the JWT in path (not verified: the
// test only checks what the kubelet asked the API server for).
func audience(path string) (string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	parts := strings.Split(strings.TrimSpace(string(raw)), ".")
	if len(parts) != 3 {
		return "", fmt.Errorf("%s is not a JWT", path)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", err
	}
	var claims struct {
		Aud any `json:"aud"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		return "", err
	}
	switch a := claims.Aud.(type) {
	case string:
		return a, nil
	case []any:
		var s []string
		for _, v := range a {
			s = append(s, fmt.Sprint(v))
		}
		return strings.Join(s, ","), nil
	}
	return "", fmt.Errorf("no aud claim in %s", path)
}

// fsType returns the filesystem type of the mount holding dir.
func fsType(dir string) (string, error) {
	raw, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return "", err
	}
	best, typ := "", ""
	for _, line := range strings.Split(string(raw), "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && (dir == f[1] || strings.HasPrefix(dir, strings.TrimSuffix(f[1], "/")+"/")) && len(f[1]) > len(best) {
			best, typ = f[1], f[2]
		}
	}
	if typ == "" {
		return "", fmt.Errorf("no mount holds %s", dir)
	}
	return typ, nil
}

// apiserverVersion calls GET /version on the API server the way in-cluster
// clients do: KUBERNETES_SERVICE_HOST/PORT, the mounted CA and token.
func apiserverVersion(out io.Writer) error {
	ca, err := os.ReadFile(serviceAccountDir + "ca.crt")
	if err != nil {
		return err
	}
	token, err := os.ReadFile(serviceAccountDir + "token")
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return errors.New("no CA certificates in ca.crt")
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	host := net.JoinHostPort(os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT"))
	req, err := http.NewRequest(http.MethodGet, "https://"+host+"/version", nil) //nolint:gosec,noctx // the API server's own address, from the kubelet
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	resp, err := client.Do(req) //nolint:gosec // as above
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	var v struct {
		GitVersion string `json:"gitVersion"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return fmt.Errorf("%s: %w", resp.Status, err)
	}
	_, err = fmt.Fprintf(out, "service=%s\nversion=%s\n", host, v.GitVersion)
	return err
}

// envHashes prints what the e2e tests compare: this process's PID (the
// injector must exec, so PID 1 in the container), a hash per injected
// variable (never the value itself, so the logs hold no secret), and the
// number of LATCHKEY_* variables left behind.
func envHashes(out io.Writer, wait bool) error {
	var lines []string
	left := 0
	for _, kv := range os.Environ() {
		name, value, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(name, "INJECTED_"):
			lines = append(lines, fmt.Sprintf("%s=%x", name, sha256.Sum256([]byte(value))))
		case strings.HasPrefix(name, "LATCHKEY_"):
			left++
		}
	}
	sort.Strings(lines)
	lines = append([]string{fmt.Sprintf("pid=%d", os.Getpid())}, lines...)
	lines = append(lines, fmt.Sprintf("latchkey_vars=%d", left))
	lines = append(lines, "sa_token="+presence(serviceAccountDir+"token"))
	if _, err := os.Stat(resolverToken); err == nil {
		lines = append(lines, "resolver_token_api="+apiStatus(resolverToken))
	}
	if _, err := fmt.Fprintln(out, strings.Join(lines, "\n")); err != nil {
		return err
	}
	if wait {
		waitForSignal()
	}
	return nil
}

// Where the kubelet mounts a pod's service-account token, and where the
// webhook mounts the resolver's token in a rewritten container.
const (
	serviceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount/"
	resolverToken     = "/latchkey/resolver/token" //nolint:gosec // a path, not a credential
)

func presence(path string) string {
	if _, err := os.Stat(path); err != nil {
		return "absent"
	}
	return "present"
}

// apiStatus presents the token in file to the API server (GET /api) and
// gives the HTTP status, or the error. The pod has no API CA when automount
// is off, and only the status matters, so the server is not verified.
func apiStatus(file string) string {
	token, err := os.ReadFile(file)
	if err != nil {
		return "unreadable"
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // only the status code is read
	}}
	host := net.JoinHostPort(os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT"))
	req, err := http.NewRequest(http.MethodGet, "https://"+host+"/api", nil) //nolint:gosec,noctx // the API server's own address, from the kubelet
	if err != nil {
		return "error"
	}
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	resp, err := client.Do(req) //nolint:gosec // the API server's own address, from the kubelet
	if err != nil {
		return "unreachable"
	}
	_ = resp.Body.Close()
	return strconv.Itoa(resp.StatusCode)
}

// fileHashes prints "file <name>=<sha256>" for each file of dir (latchkey's
// files: links into ..data), one block per version, read as one set
// through ..data; with watch it polls every second, prints each new
// version and "signal=hangup" on each SIGHUP, and runs until SIGTERM.
func fileHashes(dir string, watch bool, out io.Writer) error {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	hups := make(chan os.Signal, 1)
	signal.Notify(hups, syscall.SIGHUP)
	last := ""
	for {
		block, err := hashSet(dir)
		if err != nil {
			return err
		}
		if block != last {
			if _, err := fmt.Fprint(out, block+"files=done\n"); err != nil {
				return err
			}
			last = block
		}
		if !watch {
			return nil
		}
		select {
		case <-sigs:
			return nil
		case <-hups:
			if _, err := fmt.Fprintln(out, "signal=hangup"); err != nil {
				return err
			}
		case <-time.After(time.Second):
		}
	}
}

// hashSet hashes the files of the version ..data names.
func hashSet(dir string) (string, error) {
	target, err := os.Readlink(dir + "/..data")
	if err != nil {
		return "", err
	}
	entries, err := os.ReadDir(dir + "/" + target)
	if err != nil {
		return hashSet(dir) // switched while reading: read the new one
	}
	var b strings.Builder
	for _, e := range entries {
		data, err := os.ReadFile(dir + "/" + target + "/" + e.Name())
		if err != nil {
			return hashSet(dir)
		}
		fmt.Fprintf(&b, "file %s=%x\n", e.Name(), sha256.Sum256(data))
	}
	return b.String(), nil
}
