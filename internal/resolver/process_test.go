package resolver

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// markKeys writes a file of one admission mark key.
func markKeys(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "keys")
	if err := os.WriteFile(path, []byte(strings.Repeat("k", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestConfigFlags(t *testing.T) {
	keys := markKeys(t)
	c := DefaultConfig()
	fs := flag.NewFlagSet("latchkey-resolver", flag.ContinueOnError)
	c.BindFlags(fs)
	err := fs.Parse([]string{"--port=9443", "--audience=latchkey-x", "--ca-bundle=/ca/bundle.crt", "--ca-configmap=my-ca",
		"--namespace-label=example.com/inject", "--require-pod-ip", "--keyvault-auth=managed-identity", "--tenancy-policy=/p.yaml",
		"--refresh-interval=1m", "--rate-limit=5", "--rate-burst=50", "--pod-wait=500ms", "--token-review-cache-ttl=30s",
		"--kube-api-qps=50", "--kube-api-burst=100", "--leader-elect=false", "--log-format=text",
		"--injection-mark-keys=" + keys, "--max-in-flight=64"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Port != 9443 || c.Audience != "latchkey-x" || c.CABundle != "/ca/bundle.crt" || c.CAConfigMap != "my-ca" ||
		c.NamespaceLabel != "example.com/inject" || !c.RequirePodIP || c.AuthMode != "managed-identity" || c.TenancyPolicy != "/p.yaml" ||
		c.RefreshInterval != time.Minute || c.RateLimit != 5 || c.RateBurst != 50 || c.PodWait != 500*time.Millisecond || c.ReviewCacheTTL != 30*time.Second ||
		c.QPS != 50 || c.Burst != 100 || c.LeaderElection || c.Log.Format != "text" || c.InjectionMarkKeys != keys || c.MaxInFlight != 64 {
		t.Errorf("flags not applied: %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	valid := DefaultConfig()
	valid.Audience, valid.AuthMode, valid.InjectionMarkKeys = "latchkey-x", "managed-identity", markKeys(t)
	short := filepath.Join(t.TempDir(), "short")
	if err := os.WriteFile(short, []byte("too-short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := valid.Validate(); err != nil {
		t.Fatalf("the defaults with an audience: %v", err)
	}
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"no audience", func(c *Config) { c.Audience = "" }, "audience is required"},
		{"no mark keys", func(c *Config) { c.InjectionMarkKeys = "" }, "injection-mark-keys is required"},
		{"mark keys unreadable", func(c *Config) { c.InjectionMarkKeys = "/nonexistent" }, "injection mark keys"},
		{"mark key too short", func(c *Config) { c.InjectionMarkKeys = short }, "want at least 32"},
		{"in flight", func(c *Config) { c.MaxInFlight = 0 }, "max-in-flight"},
		{"port", func(c *Config) { c.Port = 70000 }, "port"},
		{"ConfigMap name", func(c *Config) { c.CABundle, c.CAConfigMap = "/b", "Not_A_Name" }, "ca-configmap"},
		{"label", func(c *Config) { c.NamespaceLabel = "a label" }, "namespace-label"},
		{"review cache over a minute", func(c *Config) { c.ReviewCacheTTL = 2 * time.Minute }, "token-review-cache-ttl"},
		{"pod wait over 10s", func(c *Config) { c.PodWait = time.Minute }, "pod-wait"},
		{"rate", func(c *Config) { c.RateBurst = 0 }, "rate-limit and rate-burst"},
		{"refresh", func(c *Config) { c.RefreshInterval = 0 }, "refresh-interval"},
		{"log level", func(c *Config) { c.Log.Level = "loud" }, "log level"},
		{"Key Vault auth mode", func(c *Config) { c.AuthMode = "magic" }, "unknown authentication mode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid
			tt.mutate(&c)
			if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestValidateCABundle(t *testing.T) {
	ca, err := os.ReadFile(filepath.Join("testdata", "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := os.ReadFile(filepath.Join("testdata", "leaf.crt"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		pem  string
		ok   bool
	}{
		{"one CA", string(ca), true},
		{"current and next", string(ca) + string(ca), true},
		{"empty", "", false},
		{"not PEM", "hello", false},
		{"trailing garbage", string(ca) + "garbage", false},
		{"a key", "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n", false},
		{"not a CA", string(leaf), false},
	}
	for _, tt := range tests {
		if err := ValidateCABundle([]byte(tt.pem)); (err == nil) != tt.ok {
			t.Errorf("%s: %v", tt.name, err)
		}
	}
}
