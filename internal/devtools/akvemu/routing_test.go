package akvemu

import (
	"net/url"
	"strings"
	"testing"
)

func TestClassifyHost(t *testing.T) {
	tests := []struct {
		host      string
		kind      hostKind
		vault     string
		cloudName string
	}{
		{"myvault.vault.azure.net", hostVault, "myvault", "AzurePublic"},
		{"MyVault.Vault.Azure.Net:443", hostVault, "myvault", "AzurePublic"},
		{"kv.vault.azure.cn", hostVault, "kv", "AzureChina"},
		{"kv.vault.usgovcloudapi.net:8443", hostVault, "kv", "AzureUSGovernment"},
		{"a.b.vault.azure.net", hostLocal, "", "AzurePublic"},
		{"vault.azure.net", hostLocal, "", "AzurePublic"},
		{"login.microsoftonline.com", hostLogin, "", "AzurePublic"},
		{"login.chinacloudapi.cn", hostLogin, "", "AzureChina"},
		{"login.microsoftonline.us", hostLogin, "", "AzureUSGovernment"},
		{"localhost:8443", hostLocal, "", "AzurePublic"},
		{"127.0.0.1:8443", hostLocal, "", "AzurePublic"},
		{"[::1]:8443", hostLocal, "", "AzurePublic"},
	}
	for _, tt := range tests {
		kind, vault, c := classifyHost(tt.host)
		if kind != tt.kind || vault != tt.vault || c.name != tt.cloudName {
			t.Errorf("classifyHost(%q) = %v %q %s, want %v %q %s", tt.host, kind, vault, c.name, tt.kind, tt.vault, tt.cloudName)
		}
	}
}

func TestRedirectedHost(t *testing.T) {
	extra := []string{"akv.test"}
	for host, want := range map[string]bool{
		"x.vault.azure.net:443":           true,
		"x.vault.azure.cn:443":            true,
		"x.vault.usgovcloudapi.net:443":   true,
		"login.microsoftonline.com:443":   true,
		"login.chinacloudapi.cn:443":      true,
		"login.microsoftonline.us:443":    true,
		"akv.test:443":                    true,
		"example.com:443":                 false,
		"127.0.0.1:9999":                  false,
		"x.vault.azure.net.evil.com:443":  false,
		"management.azure.com:443":        false,
		"AKV.TEST:443":                    true,
		"login.microsoftonline.com.:443":  true,
		"storage.blob.core.windows.net:1": false,
	} {
		if got := redirectedHost(host, extra); got != want {
			t.Errorf("redirectedHost(%q) = %v, want %v", host, got, want)
		}
	}
}

func TestMatchVaultRoute(t *testing.T) {
	routes := vaultRoutes()
	tests := []struct {
		method, path  string
		op            string
		name, version string
	}{
		{"GET", "/secrets", "ListSecrets", "", ""},
		{"GET", "/secrets/db", "GetSecret", "db", ""},
		{"GET", "/secrets/db/", "GetSecret", "db", ""},
		{"GET", "/secrets/db/0123456789abcdef0123456789abcdef", "GetSecret", "db", "0123456789abcdef0123456789abcdef"},
		{"GET", "/secrets/db/versions", "ListSecretVersions", "db", ""},
		{"PUT", "/secrets/db", "SetSecret", "db", ""},
		{"PATCH", "/secrets/db/abc", "UpdateSecret", "db", "abc"},
		{"DELETE", "/secrets/db", "DeleteSecret", "db", ""},
		{"POST", "/deletedsecrets/db/recover", "RecoverDeletedSecret", "db", ""},
		{"DELETE", "/deletedsecrets/db", "PurgeDeletedSecret", "db", ""},
		{"POST", "/keys/k/create", "CreateKey", "k", ""},
		{"PUT", "/keys/k", "ImportKey", "k", ""},
		{"GET", "/keys/k/", "GetKey", "k", ""},
		{"POST", "/keys/k/abc/sign", "KeyOperation", "k", "abc"},
		{"GET", "/certificates/c/pending", "GetCertificateOperation", "c", ""},
		{"GET", "/certificates/c/policy", "GetCertificatePolicy", "c", ""},
		{"POST", "/certificates/c/import", "ImportCertificate", "c", ""},
		{"POST", "/certificates/c/create", "CreateCertificate", "c", ""},
		{"GET", "/certificates/c/v1", "GetCertificate", "c", "v1"},
		{"GET", "/certificates/issuers", "ListCertificateIssuers", "", ""},
		{"GET", "/nothing", "", "", ""},
		{"GET", "/secrets//", "", "", ""},
		{"POST", "/secrets/db", "", "", ""},
	}
	for _, tt := range tests {
		rt, p, ok := matchVaultRoute(routes, tt.method, tt.path)
		if tt.op == "" {
			if ok {
				t.Errorf("%s %s matched %s, want no match", tt.method, tt.path, rt.op)
			}
			continue
		}
		if !ok || rt.op != tt.op || p.name != tt.name || p.version != tt.version {
			t.Errorf("%s %s = %s %+v %v, want %s %s/%s", tt.method, tt.path, rt.op, p, ok, tt.op, tt.name, tt.version)
		}
	}
}

func FuzzMatchVaultRoute(f *testing.F) {
	for _, s := range []string{"/secrets/a/b", "/keys/k/v/sign", "/certificates/c/", "//", "/deletedsecrets/x/recover"} {
		f.Add("GET", s)
	}
	routes := vaultRoutes()
	f.Fuzz(func(t *testing.T, method, path string) {
		rt, p, ok := matchVaultRoute(routes, method, path)
		if ok && (rt.handle == nil || (p.name == "" && containsName(rt.pattern))) {
			t.Fatalf("%s %s matched %s with params %+v", method, path, rt.op, p)
		}
	})
}

func containsName(pattern string) bool { return strings.Contains(pattern, "{name}") }

func TestEntraOp(t *testing.T) {
	tests := []struct{ method, path, op, tenant string }{
		{"GET", "/t1/v2.0/.well-known/openid-configuration", "OpenIDConfiguration", "t1"},
		{"GET", "/t1/.well-known/openid-configuration", "OpenIDConfiguration", "t1"},
		{"GET", "/common/discovery/instance", "InstanceDiscovery", ""},
		{"GET", "/common/UserRealm/alice@contoso.example", "UserRealm", ""},
		{"POST", "/t1/oauth2/v2.0/token", "Token", "t1"},
		{"POST", "/t1/oauth2/token", "Token", "t1"},
		{"GET", "/t1/discovery/v2.0/keys", "SigningKeys", "t1"},
		{"GET", "/t1/oauth2/v2.0/token", "Unsupported", ""},
		{"GET", "/", "Unsupported", ""},
	}
	for _, tt := range tests {
		op, tenant := entraOp(tt.method, tt.path)
		if op != tt.op || tenant != tt.tenant {
			t.Errorf("entraOp(%s %s) = %s %q, want %s %q", tt.method, tt.path, op, tenant, tt.op, tt.tenant)
		}
	}
}

func TestResourceFromScopes(t *testing.T) {
	for scope, want := range map[string]string{
		"https://vault.azure.net/.default":                              "https://vault.azure.net",
		"openid offline_access profile https://vault.azure.cn/.default": "https://vault.azure.cn",
		"https://vault.azure.net/user_impersonation":                    "https://vault.azure.net",
		"openid profile":        "",
		"":                      "",
		"api://my-app/.default": "api://my-app",
	} {
		if got := resourceFromScopes(scope); got != want {
			t.Errorf("resourceFromScopes(%q) = %q, want %q", scope, got, want)
		}
	}
}

func TestPaging(t *testing.T) {
	keys := []string{"a", "b", "c", "d", "e"}
	var seen []string
	p := pageRequest{size: 2}
	pages := 0
	for {
		from, to, next := paginate(keys, p)
		seen = append(seen, keys[from:to]...)
		pages++
		if next == "" {
			break
		}
		q := url.Values{"$skiptoken": {next}}
		var e *kvError
		if p, e = parsePageRequest(q, 2); e != nil {
			t.Fatalf("parsePageRequest: %v", e)
		}
	}
	if pages != 3 || len(seen) != 5 || seen[4] != "e" {
		t.Fatalf("pages %d, seen %v", pages, seen)
	}
	for _, bad := range []string{"0", "26", "x", "-1"} {
		if _, e := parsePageRequest(url.Values{"maxresults": {bad}}, 25); e == nil || e.code != "BadParameter" {
			t.Errorf("maxresults %q accepted", bad)
		}
	}
	if p, e := parsePageRequest(url.Values{"maxresults": {"7"}}, 25); e != nil || p.size != 7 {
		t.Errorf("maxresults 7: %+v %v", p, e)
	}
	if _, e := parsePageRequest(url.Values{"$skiptoken": {"!!"}}, 25); e == nil {
		t.Error("bad skip token accepted")
	}
	link := nextLink("https://v.vault.azure.net", "/secrets", "2026-04-01", "YQ", 25)
	if link != "https://v.vault.azure.net/secrets?api-version=2026-04-01&$skiptoken=YQ&maxresults=25" {
		t.Errorf("nextLink = %s", link)
	}
}
