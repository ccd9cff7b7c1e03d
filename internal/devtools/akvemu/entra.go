package akvemu

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// tokenResponse is the token endpoint's success body.
type tokenResponse struct {
	TokenType    string `json:"token_type"`
	Scope        string `json:"scope,omitempty"`
	ExpiresIn    int64  `json:"expires_in"`
	ExtExpiresIn int64  `json:"ext_expires_in"`
	ExpiresOn    string `json:"expires_on,omitempty"`
	Resource     string `json:"resource,omitempty"`
	AccessToken  string `json:"access_token"`
	IDToken      string `json:"id_token,omitempty"`
	ClientInfo   string `json:"client_info,omitempty"`
}

// entraOp names the Entra endpoint a path addresses; tenant is the path's tenant.
func entraOp(method, path string) (op, tenant string) {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	lower := strings.ToLower(strings.Join(segs, "/"))
	if len(segs) < 2 {
		return "Unsupported", ""
	}
	tenant = segs[0]
	rest := strings.TrimPrefix(lower, strings.ToLower(tenant)+"/")
	switch {
	case method == http.MethodGet && (rest == "v2.0/.well-known/openid-configuration" || rest == ".well-known/openid-configuration"):
		return "OpenIDConfiguration", tenant
	case method == http.MethodGet && lower == "common/discovery/instance":
		return "InstanceDiscovery", ""
	case method == http.MethodGet && len(segs) == 3 && strings.EqualFold(segs[0], "common") && strings.EqualFold(segs[1], "userrealm"):
		return "UserRealm", ""
	case method == http.MethodGet && (rest == "discovery/v2.0/keys" || rest == "discovery/keys"):
		return "SigningKeys", tenant
	case method == http.MethodPost && (rest == "oauth2/v2.0/token" || rest == "oauth2/token"):
		return "Token", tenant
	}
	return "Unsupported", ""
}

// serveEntra serves the fake Entra ID of one cloud.
func (s *Server) serveEntra(w http.ResponseWriter, r *http.Request, cl cloud) {
	op, tenantIn := entraOp(r.Method, r.URL.Path)
	rec := &statusRecorder{ResponseWriter: w}
	defer func() { s.counters.add(CounterKey{Operation: op, Status: rec.code()}) }()
	if !s.applyFault(rec, r, s.faults.decide("", op)) {
		return
	}
	host := "https://" + r.Host
	switch op {
	case "OpenIDConfiguration":
		s.serveOpenIDConfiguration(rec, r, host, tenantIn, cl)
	case "InstanceDiscovery":
		serveInstanceDiscovery(rec, r, cl)
	case "UserRealm":
		serveUserRealm(rec, r)
	case "SigningKeys":
		writeJSON(rec, http.StatusOK, s.signer.publicJWKS())
	case "Token":
		s.serveToken(rec, r, host, tenantIn, cl)
	default:
		writeEntraError(rec, cl.loginHost, s.now(), &entraError{status: http.StatusNotFound, code: "invalid_request", aadsts: 900561,
			desc: fmt.Sprintf("The endpoint %s %s is not served by the emulator.", r.Method, r.URL.Path)})
	}
}

// openIDConfiguration is the part of Entra's discovery document MSAL reads,
// plus the usual neighbours.
type openIDConfiguration struct {
	Issuer                string   `json:"issuer"`
	AuthorizationEndpoint string   `json:"authorization_endpoint"`
	TokenEndpoint         string   `json:"token_endpoint"`
	JWKSURI               string   `json:"jwks_uri"`
	ResponseTypes         []string `json:"response_types_supported"`
	SubjectTypes          []string `json:"subject_types_supported"`
	SigningAlgs           []string `json:"id_token_signing_alg_values_supported"`
	TokenAuthMethods      []string `json:"token_endpoint_auth_methods_supported"`
	TenantRegionScope     *string  `json:"tenant_region_scope"`
	CloudInstanceName     string   `json:"cloud_instance_name"`
}

// isMetaTenant reports the tenant aliases that are not a directory.
func isMetaTenant(t string) bool {
	switch strings.ToLower(t) {
	case "common", "organizations", "consumers":
		return true
	}
	return false
}

func (s *Server) serveOpenIDConfiguration(w http.ResponseWriter, r *http.Request, host, tenantIn string, cl cloud) {
	issuerTenant := "{tenantid}"
	if !isMetaTenant(tenantIn) {
		t := s.dir.tenant(tenantIn)
		if t == nil {
			e := errUnknownTenant(tenantIn)
			e.code = "invalid_tenant"
			writeEntraError(w, cl.loginHost, s.now(), e)
			return
		}
		issuerTenant = t.id
	}
	base := host + "/" + tenantIn
	writeJSON(w, http.StatusOK, openIDConfiguration{
		Issuer:                host + "/" + issuerTenant + "/v2.0",
		AuthorizationEndpoint: base + "/oauth2/v2.0/authorize",
		TokenEndpoint:         base + "/oauth2/v2.0/token",
		JWKSURI:               base + "/discovery/v2.0/keys",
		ResponseTypes:         []string{"code", "id_token", "code id_token", "id_token token"},
		SubjectTypes:          []string{"pairwise"},
		SigningAlgs:           []string{"RS256"},
		TokenAuthMethods:      []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		CloudInstanceName:     strings.TrimPrefix(cl.loginHost, "login."),
	})
}

// instanceDiscovery is the answer of /common/discovery/instance.
type instanceDiscovery struct {
	TenantDiscoveryEndpoint string              `json:"tenant_discovery_endpoint"`
	APIVersion              string              `json:"api-version"`
	Metadata                []instanceMetadatum `json:"metadata"`
}

type instanceMetadatum struct {
	PreferredNetwork string   `json:"preferred_network"`
	PreferredCache   string   `json:"preferred_cache"`
	Aliases          []string `json:"aliases"`
}

// serveInstanceDiscovery answers MSAL's instance discovery, which it sends
// for authority hosts it does not know (e.g. the emulator's own address):
// the tenant discovery endpoint lives on the authority's host.
func serveInstanceDiscovery(w http.ResponseWriter, r *http.Request, cl cloud) {
	auth := r.URL.Query().Get("authorization_endpoint")
	u, err := url.Parse(auth)
	if auth == "" || err != nil || u.Host == "" {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "invalid_instance", "error_description": "AADSTS50049: Unknown or invalid instance."})
		return
	}
	tenant, _, _ := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/")
	aliases := []string{u.Host}
	if kind, _, c := classifyHost(u.Host); kind == hostLogin {
		aliases = append([]string{c.loginHost}, c.loginAliases...)
	}
	writeJSON(w, http.StatusOK, instanceDiscovery{
		TenantDiscoveryEndpoint: "https://" + u.Host + "/" + tenant + "/v2.0/.well-known/openid-configuration",
		APIVersion:              "1.1",
		Metadata:                []instanceMetadatum{{PreferredNetwork: u.Host, PreferredCache: u.Host, Aliases: aliases}},
	})
}

// serveUserRealm says every user is a managed (cloud-only) account, so MSAL
// uses the password grant rather than WS-Trust federation.
func serveUserRealm(w http.ResponseWriter, r *http.Request) {
	username, _ := url.PathUnescape(r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:])
	_, domain, _ := strings.Cut(username, "@")
	writeJSON(w, http.StatusOK, map[string]string{
		"ver": "1.0", "account_type": "Managed", "domain_name": domain,
		"cloud_instance_name": "microsoftonline.com", "cloud_audience_urn": "urn:federation:MicrosoftOnline",
	})
}

// serveToken is the token endpoint (v2.0 with scope, v1 with resource).
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request, host, tenantIn string, cl cloud) {
	now := s.now()
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	if err := r.ParseForm(); err != nil {
		writeEntraError(w, cl.loginHost, now, errBadRequest(900144, "The request body is not a valid form."))
		return
	}
	t := s.dir.tenant(tenantIn)
	if t == nil && isMetaTenant(tenantIn) {
		if a := s.dir.app(r.PostForm.Get("client_id")); a != nil {
			t = s.dir.tenant(a.tenantID)
		}
	}
	if t == nil {
		writeEntraError(w, cl.loginHost, now, errUnknownTenant(tenantIn))
		return
	}
	resource := resourceFromScopes(r.PostForm.Get("scope"))
	if resource == "" {
		resource = r.PostForm.Get("resource")
	}
	if resource == "" {
		writeEntraError(w, cl.loginHost, now, &entraError{status: http.StatusBadRequest, code: "invalid_scope", aadsts: 70011,
			desc: "The provided request must include a 'scope' input parameter."})
		return
	}
	p, e := s.dir.authorizeGrant(tokenGrant{tenant: t, tenantIn: tenantIn, endpoint: host + r.URL.Path, form: r.PostForm}, now)
	if e != nil {
		s.log.Debug("token request refused", "tenant", tenantIn, "client", r.PostForm.Get("client_id"), "grant", r.PostForm.Get("grant_type"), "error", e.code, "aadsts", e.aadsts)
		writeEntraError(w, cl.loginHost, now, e)
		return
	}
	tok, exp, err := s.signer.issue(p, resource, now)
	if err != nil {
		http.Error(w, "issuing token: "+err.Error(), http.StatusInternalServerError)
		return
	}
	secs := int64(exp.Sub(now).Seconds())
	resp := tokenResponse{TokenType: "Bearer", AccessToken: tok, ExpiresIn: secs, ExtExpiresIn: secs, Scope: r.PostForm.Get("scope")}
	if r.PostForm.Get("scope") == "" {
		resp.Resource, resp.ExpiresOn = resource, fmt.Sprint(exp.Unix())
	}
	if p.upn != "" {
		if resp.IDToken, resp.ClientInfo, err = s.userTokens(p, host, now); err != nil {
			http.Error(w, "issuing id token: "+err.Error(), http.StatusInternalServerError)
			return
		}
	}
	s.log.Debug("token issued", "tenant", p.tenantID, "client", p.appID, "resource", resource)
	writeJSON(w, http.StatusOK, resp)
}

// userTokens makes the ID token and client_info MSAL needs to record a user account.
func (s *Server) userTokens(p principal, host string, now time.Time) (string, string, error) {
	id := claims{
		Aud: audience{p.appID}, Iss: host + "/" + p.tenantID + "/v2.0",
		Iat: numericDate(now.Unix()), Nbf: numericDate(now.Unix()), Exp: numericDate(now.Add(s.signer.lifetime).Unix()),
		Tid: p.tenantID, Oid: p.objectID, Sub: p.objectID, Name: p.upn, Ver: "2.0",
	}
	idTok, err := signRS256(s.signer.key, jwtHeader{Kid: s.signer.kid}, id)
	if err != nil {
		return "", "", err
	}
	ci, err := json.Marshal(map[string]string{"uid": p.objectID, "utid": p.tenantID})
	if err != nil {
		return "", "", fmt.Errorf("encoding client_info: %w", err)
	}
	return idTok, b64u(ci), nil
}
