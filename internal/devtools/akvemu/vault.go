package akvemu

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"
)

// maxBodyBytes bounds request bodies; Key Vault's largest objects are 25 KB
// secrets and certificates, so 4 MiB is ample.
const maxBodyBytes = 4 << 20

// vaultRoute maps a method and path pattern to an operation.
type vaultRoute struct {
	method string
	// pattern is slash-separated; {name} and {version} capture, a trailing
	// {version?} may be missing or empty (the SDK sends ".../name/" for "latest").
	pattern string
	op      string
	handle  func(*Server, *vaultCall)
}

// notImplemented answers 501 for operations the emulator does not model.
func notImplemented(_ *Server, c *vaultCall) { c.fail(errNotImplemented(c.op)) }

// vaultRoutes is the vault REST API the emulator serves, first match wins.
func vaultRoutes() []vaultRoute {
	return []vaultRoute{
		{"GET", "secrets", "ListSecrets", handleListSecrets},
		{"POST", "secrets/restore", "RestoreSecret", notImplemented},
		{"GET", "secrets/{name}/versions", "ListSecretVersions", handleListSecretVersions},
		{"POST", "secrets/{name}/backup", "BackupSecret", notImplemented},
		{"GET", "secrets/{name}/{version?}", "GetSecret", handleGetSecret},
		{"PUT", "secrets/{name}", "SetSecret", handleSetSecret},
		{"PATCH", "secrets/{name}/{version?}", "UpdateSecret", handleUpdateSecret},
		{"DELETE", "secrets/{name}", "DeleteSecret", handleDeleteSecret},
		{"GET", "deletedsecrets", "ListDeletedSecrets", handleListDeletedSecrets},
		{"GET", "deletedsecrets/{name}", "GetDeletedSecret", handleGetDeletedSecret},
		{"DELETE", "deletedsecrets/{name}", "PurgeDeletedSecret", handlePurgeDeletedSecret},
		{"POST", "deletedsecrets/{name}/recover", "RecoverDeletedSecret", handleRecoverDeletedSecret},

		{"GET", "keys", "ListKeys", handleListKeys},
		{"POST", "keys/restore", "RestoreKey", notImplemented},
		{"GET", "keys/{name}/versions", "ListKeyVersions", handleListKeyVersions},
		{"GET", "keys/{name}/rotationpolicy", "GetKeyRotationPolicy", notImplemented},
		{"PUT", "keys/{name}/rotationpolicy", "UpdateKeyRotationPolicy", notImplemented},
		{"POST", "keys/{name}/create", "CreateKey", handleCreateKey},
		{"POST", "keys/{name}/rotate", "RotateKey", notImplemented},
		{"POST", "keys/{name}/backup", "BackupKey", notImplemented},
		{"PUT", "keys/{name}", "ImportKey", handleImportKey},
		{"GET", "keys/{name}/{version?}", "GetKey", handleGetKey},
		{"PATCH", "keys/{name}/{version?}", "UpdateKey", handleUpdateKey},
		{"DELETE", "keys/{name}", "DeleteKey", handleDeleteKey},
		{"POST", "keys/{name}/{version}/{operation}", "KeyOperation", notImplemented},
		{"GET", "deletedkeys", "ListDeletedKeys", handleListDeletedKeys},
		{"GET", "deletedkeys/{name}", "GetDeletedKey", handleGetDeletedKey},
		{"DELETE", "deletedkeys/{name}", "PurgeDeletedKey", handlePurgeDeletedKey},
		{"POST", "deletedkeys/{name}/recover", "RecoverDeletedKey", handleRecoverDeletedKey},

		{"GET", "certificates", "ListCertificates", handleListCertificates},
		{"GET", "certificates/issuers", "ListCertificateIssuers", notImplemented},
		{"GET", "certificates/contacts", "GetCertificateContacts", notImplemented},
		{"POST", "certificates/restore", "RestoreCertificate", notImplemented},
		{"GET", "certificates/{name}/versions", "ListCertificateVersions", handleListCertificateVersions},
		{"GET", "certificates/{name}/policy", "GetCertificatePolicy", handleGetCertificatePolicy},
		{"PATCH", "certificates/{name}/policy", "UpdateCertificatePolicy", notImplemented},
		{"GET", "certificates/{name}/pending", "GetCertificateOperation", handleGetCertificateOperation},
		{"POST", "certificates/{name}/create", "CreateCertificate", handleCreateCertificate},
		{"POST", "certificates/{name}/import", "ImportCertificate", handleImportCertificate},
		{"POST", "certificates/{name}/backup", "BackupCertificate", notImplemented},
		{"GET", "certificates/{name}/{version?}", "GetCertificate", handleGetCertificate},
		{"PATCH", "certificates/{name}/{version?}", "UpdateCertificate", handleUpdateCertificate},
		{"DELETE", "certificates/{name}", "DeleteCertificate", handleDeleteCertificate},
		{"GET", "deletedcertificates", "ListDeletedCertificates", handleListDeletedCertificates},
		{"GET", "deletedcertificates/{name}", "GetDeletedCertificate", handleGetDeletedCertificate},
		{"DELETE", "deletedcertificates/{name}", "PurgeDeletedCertificate", handlePurgeDeletedCertificate},
		{"POST", "deletedcertificates/{name}/recover", "RecoverDeletedCertificate", handleRecoverDeletedCertificate},
	}
}

// routeParams are the captured path segments.
type routeParams struct {
	name, version string
}

// matchVaultRoute finds the route of a request; it is pure so routing can be
// table-tested and fuzzed.
func matchVaultRoute(routes []vaultRoute, method, path string) (vaultRoute, routeParams, bool) {
	segs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	for _, rt := range routes {
		if rt.method != method {
			continue
		}
		if p, ok := matchPattern(strings.Split(rt.pattern, "/"), segs); ok {
			return rt, p, true
		}
	}
	return vaultRoute{}, routeParams{}, false
}

// matchPattern matches path segments against pattern segments.
func matchPattern(pat, segs []string) (routeParams, bool) {
	var p routeParams
	if n := len(pat); n > 0 && pat[n-1] == "{version?}" {
		switch {
		case len(segs) == n-1:
			segs = append(segs, "")
		case len(segs) != n:
			return p, false
		}
	} else if len(segs) != len(pat) {
		return p, false
	}
	for i, ps := range pat {
		s := segs[i]
		switch ps {
		case "{name}":
			if s == "" {
				return p, false
			}
			p.name = s
		case "{version}", "{operation}":
			if s == "" {
				return p, false
			}
			if ps == "{version}" {
				p.version = s
			}
		case "{version?}":
			p.version = s
		default:
			if !strings.EqualFold(ps, s) {
				return p, false
			}
		}
	}
	return p, true
}

// vaultCall is one authorised vault request being served.
type vaultCall struct {
	w       http.ResponseWriter
	r       *http.Request
	v       *vault
	op      string
	name    string
	version string
	// base is the vault URL as the client addressed it, for ids and next links.
	base string
	now  time.Time
	// pageSize is the page size of lists without maxresults.
	pageSize int
	caller   *claims
}

// ok writes a 200 JSON body.
func (c *vaultCall) ok(body any) { writeJSON(c.w, http.StatusOK, body) }

// fail writes a Key Vault error.
func (c *vaultCall) fail(e *kvError) { writeKVError(c.w, e) }

// decode reads the JSON body into dst.
func (c *vaultCall) decode(dst any) *kvError {
	body, err := io.ReadAll(io.LimitReader(c.r.Body, maxBodyBytes+1))
	if err != nil {
		return errBadParameter("Could not read the request body: %v", err)
	}
	if len(body) > maxBodyBytes {
		return errBadParameter("The request body is larger than %d bytes.", maxBodyBytes)
	}
	if len(body) == 0 {
		return errBadParameter("The request body is empty.")
	}
	if err := json.Unmarshal(body, dst); err != nil {
		return errBadParameter("The request body is not valid JSON: %v", err)
	}
	return nil
}

// page reads the paging parameters.
func (c *vaultCall) page() (pageRequest, *kvError) {
	return parsePageRequest(c.r.URL.Query(), c.pageSize)
}

// next builds the next link for a list path.
func (c *vaultCall) next(path, token string, size int) string {
	return nextLink(c.base, path, c.r.URL.Query().Get("api-version"), token, size)
}

// serveVault serves one request to a vault host: find the vault,
// authenticate, authorise, inject faults, then run the operation.
func (s *Server) serveVault(w http.ResponseWriter, r *http.Request, name string, cl cloud) {
	rt, params, found := matchVaultRoute(s.routes, r.Method, r.URL.Path)
	op := rt.op
	if !found {
		op = "Unsupported"
	}
	rec := &statusRecorder{ResponseWriter: w}
	defer func() { s.counters.add(CounterKey{Vault: strings.ToLower(name), Operation: op, Status: rec.code()}) }()

	v := s.lookupVault(name, cl)
	if v == nil {
		writeKVError(rec, &kvError{status: http.StatusNotFound, code: "VaultNotFound", msg: fmt.Sprintf(
			"The vault '%s' does not exist in this emulator (Azure would fail to resolve %s). Seed it, or start the emulator with vault auto-creation.", name, stripPort(r.Host))})
		return
	}
	now := s.now()
	caller, authErr := s.authenticateVault(r, v, now)
	if authErr != nil {
		rec.Header().Set("WWW-Authenticate", challenge(v, authErr.refresh, now))
		writeKVError(rec, authErr.err)
		return
	}
	if !v.permits(caller, op) {
		writeKVError(rec, forbiddenCaller(v, caller, op))
		return
	}
	if !s.applyFault(rec, r, s.faults.decide(v.name, op)) {
		return
	}
	if !found {
		writeKVError(rec, &kvError{status: http.StatusNotImplemented, code: "NotImplemented", msg: fmt.Sprintf("The emulator does not serve %s %s.", r.Method, r.URL.Path)})
		return
	}
	if params.name != "" && !validObjectName(params.name) {
		writeKVError(rec, errBadParameter("The request URI contains an invalid name: %s", params.name))
		return
	}
	r.Body = http.MaxBytesReader(rec, r.Body, maxBodyBytes+1)
	rt.handle(s, &vaultCall{w: rec, r: r, v: v, op: op, name: params.name, version: params.version, base: "https://" + r.Host, now: now, pageSize: s.opts.PageSize, caller: caller})
}

// lookupVault finds the vault a host names, creating it when auto-creation is
// on. A vault of another cloud is not found: its DNS name would differ.
func (s *Server) lookupVault(name string, cl cloud) *vault {
	v := s.store.vault(name)
	if v == nil && s.opts.AutoCreateVaults && vaultNamePattern.MatchString(name) {
		v = s.store.ensureVault(name, func() *vault { return newVault(name, cl, s.opts.DefaultTenantID, nil, nil) })
		s.log.Info("auto-created vault", "vault", v.name, "cloud", cl.name)
	}
	if v == nil || v.cloud.name != cl.name {
		return nil
	}
	return v
}

// challenge is the WWW-Authenticate header Key Vault sends with every 401:
// the authority (login host of the vault's cloud and the vault's tenant) and
// the resource, which the SDK checks against the vault's host.
//
// With refresh it is also a continuous-access-evaluation claims challenge
// (error="insufficient_claims"), which makes the SDK and MSAL skip their
// token caches and fetch a new token. The emulator sends it for tokens signed
// by a key it does not know: tokens of an earlier emulator process or
// instance, which clients would otherwise replay until they expire (MSAL
// caches managed-identity tokens process-wide).
func challenge(v *vault, refresh bool, now time.Time) string {
	h := fmt.Sprintf(`Bearer authorization="%s", resource="%s"`, v.cloud.authority(v.tenantID), v.cloud.resource())
	if refresh {
		claims := fmt.Sprintf(`{"access_token":{"nbf":{"essential":true,"value":"%d"}}}`, now.Unix())
		h += fmt.Sprintf(`, error="insufficient_claims", claims="%s"`, base64.StdEncoding.EncodeToString([]byte(claims)))
	}
	return h
}

// authFailure is why a vault request is not authenticated.
type authFailure struct {
	err *kvError
	// refresh asks the client for a new token (see challenge).
	refresh bool
}

// unauthorized builds an authFailure.
func unauthorized(refresh bool, format string, args ...any) *authFailure {
	return &authFailure{err: errUnauthorized(format, args...), refresh: refresh}
}

// authenticateVault checks the bearer token of a vault request.
func (s *Server) authenticateVault(r *http.Request, v *vault, now time.Time) (*claims, *authFailure) {
	h := r.Header.Get("Authorization")
	scheme, raw, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(raw) == "" {
		return nil, unauthorized(false, "AKV10000: Request is missing a Bearer or PoP token.")
	}
	c, err := s.signer.check(strings.TrimSpace(raw), now)
	switch {
	case errors.Is(err, errTokenKey):
		return nil, unauthorized(true, "AKV10046: Unable to resolve the key used for signature validation.")
	case errors.Is(err, errTokenExpired):
		return nil, unauthorized(false, "Token has expired.")
	case errors.Is(err, errTokenNotYet):
		return nil, unauthorized(false, "Token is not yet valid.")
	case errors.Is(err, errJWTSignature):
		return nil, unauthorized(false, "Token signature validation failed.")
	case err != nil:
		return nil, unauthorized(false, "Bearer token is malformed.")
	}
	if e := checkVaultClaims(v, c); e != nil {
		return nil, &authFailure{err: e}
	}
	return c, nil
}

// checkVaultClaims checks that a valid token is meant for this vault: its
// audience is the vault resource of the vault's cloud (or Key Vault's app ID),
// and it was issued by the vault's tenant.
func checkVaultClaims(v *vault, c *claims) *kvError {
	res := v.cloud.resource()
	if !c.Aud.contains(res) && !c.Aud.contains(keyVaultAppID) {
		return errUnauthorized("AKV10022: Invalid audience. Expected %s or %s, found: %s.", res, keyVaultAppID, strings.Join(c.Aud, ","))
	}
	if !strings.EqualFold(c.Tid, v.tenantID) {
		return errUnauthorized("AKV10032: Invalid issuer. Expected one of %s, found %s.", v.cloud.issuer(v.tenantID), c.Iss)
	}
	return nil
}

// permits applies the vault's access list (empty lets everyone of the tenant
// in) and keeps certificate-only principals away from secret operations.
func (v *vault) permits(c *claims, op string) bool {
	ids := []string{c.Oid, c.AppID, c.Upn}
	if strings.Contains(op, "Secret") && slices.ContainsFunc(ids, func(id string) bool { return id != "" && v.certOnly[strings.ToLower(id)] }) {
		return false
	}
	if len(v.allowed) == 0 {
		return true
	}
	return slices.ContainsFunc(ids, func(id string) bool { return id != "" && v.allowed[strings.ToLower(id)] })
}

// forbiddenCaller is the 403 of a principal outside the vault's access list,
// worded like Key Vault's RBAC denial.
func forbiddenCaller(v *vault, c *claims, op string) *kvError {
	return errForbidden("ForbiddenByRbac",
		"Caller is not authorized to perform action on resource.\r\nIf role assignments, deny assignments or role definitions were changed recently, please observe propagation time.\r\nCaller: appid=%s;oid=%s;iss=%s\r\nAction: '%s'\r\nResource: '%s'\r\nAssignment: (not found)\r\nDecisionReason: null\r\nVault: %s;location=emulator\r\n",
		c.AppID, c.Oid, c.Iss, op, v.name, v.name)
}
