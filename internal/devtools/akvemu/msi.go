package akvemu

import (
	"crypto/subtle"
	"fmt"
	"net/http"
	"strings"
)

// managedIdentityPath is where the App Service style managed-identity
// endpoint lives on the emulator's own host.
const managedIdentityPath = "/msi/token"

// isManagedIdentityPath accepts the path with any case and a trailing slash,
// as App Service's own endpoint does.
func isManagedIdentityPath(p string) bool {
	return strings.EqualFold(strings.TrimSuffix(p, "/"), managedIdentityPath)
}

// miSelector is how a request names a user-assigned identity.
type miSelector struct {
	clientID, objectID, resourceID string
}

// msiError is App Service's error body.
type msiError struct {
	StatusCode int    `json:"statusCode"`
	Message    string `json:"message"`
}

// msiTokenResponse is App Service's token body (api-version 2019-08-01),
// which MSAL parses: expires_on is Unix seconds as a string.
type msiTokenResponse struct {
	AccessToken string `json:"access_token"`
	ExpiresOn   string `json:"expires_on"`
	Resource    string `json:"resource"`
	TokenType   string `json:"token_type"`
	ClientID    string `json:"client_id"`
}

// serveManagedIdentity issues managed-identity tokens like App Service:
// GET with X-IDENTITY-HEADER and resource, the identity chosen by client_id,
// object_id/principal_id or mi_res_id (msi_res_id too), else the
// system-assigned one.
func (s *Server) serveManagedIdentity(w http.ResponseWriter, r *http.Request) {
	rec := &statusRecorder{ResponseWriter: w}
	const op = "ManagedIdentityToken"
	defer func() { s.counters.add(CounterKey{Operation: op, Status: rec.code()}) }()
	if !s.applyFault(rec, r, s.faults.decide("", op)) {
		return
	}
	if r.Method != http.MethodGet {
		writeJSON(rec, http.StatusMethodNotAllowed, msiError{StatusCode: http.StatusMethodNotAllowed, Message: "Only GET is supported."})
		return
	}
	if subtle.ConstantTimeCompare([]byte(r.Header.Get("X-IDENTITY-HEADER")), []byte(s.dir.header())) != 1 {
		writeJSON(rec, http.StatusUnauthorized, msiError{StatusCode: http.StatusUnauthorized, Message: "The X-IDENTITY-HEADER header is missing or does not match IDENTITY_HEADER."})
		return
	}
	q := r.URL.Query()
	resource := strings.TrimSuffix(q.Get("resource"), "/.default")
	if resource == "" {
		writeJSON(rec, http.StatusBadRequest, msiError{StatusCode: http.StatusBadRequest, Message: "The resource parameter is required."})
		return
	}
	sel := miSelector{clientID: q.Get("client_id"), objectID: firstNonEmpty(q.Get("object_id"), q.Get("principal_id")), resourceID: firstNonEmpty(q.Get("mi_res_id"), q.Get("msi_res_id"))}
	m := s.dir.identity(sel)
	if m == nil {
		writeJSON(rec, http.StatusBadRequest, msiError{StatusCode: http.StatusBadRequest, Message: "No Managed Identity found for specified ClientId/ResourceId/PrincipalId."})
		return
	}
	now := s.now()
	tok, exp, err := s.signer.issue(principal{tenantID: m.tenantID, objectID: m.objectID, appID: m.clientID, miResID: m.resourceID}, resource, now)
	if err != nil {
		http.Error(rec, "issuing token: "+err.Error(), http.StatusInternalServerError)
		return
	}
	s.log.Debug("managed identity token issued", "client", m.clientID, "resource", resource)
	writeJSON(rec, http.StatusOK, msiTokenResponse{AccessToken: tok, ExpiresOn: fmt.Sprint(exp.Unix()), Resource: resource, TokenType: "Bearer", ClientID: m.clientID})
}

// firstNonEmpty returns the first non-empty string.
func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
