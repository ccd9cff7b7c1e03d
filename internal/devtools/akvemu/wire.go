package akvemu

import "time"

// Wire types: the JSON Key Vault sends and receives (REST API 7.x/2025+).
// Times are Unix seconds; byte fields are base64 (cer, csr) or base64url (x5t, JWK).

// wireAttributes are object attributes on the wire.
type wireAttributes struct {
	Enabled         *bool  `json:"enabled,omitempty"`
	NotBefore       *int64 `json:"nbf,omitempty"`
	Expires         *int64 `json:"exp,omitempty"`
	Created         *int64 `json:"created,omitempty"`
	Updated         *int64 `json:"updated,omitempty"`
	RecoveryLevel   string `json:"recoveryLevel,omitempty"`
	RecoverableDays *int32 `json:"recoverableDays,omitempty"`
	Exportable      *bool  `json:"exportable,omitempty"`
}

// secretBundle is a SecretBundle, SecretItem or DeletedSecretBundle/Item.
type secretBundle struct {
	Value              *string           `json:"value,omitempty"`
	ID                 string            `json:"id"`
	ContentType        string            `json:"contentType,omitempty"`
	Attributes         wireAttributes    `json:"attributes"`
	Tags               map[string]string `json:"tags,omitempty"`
	Kid                string            `json:"kid,omitempty"`
	Managed            *bool             `json:"managed,omitempty"`
	RecoveryID         string            `json:"recoveryId,omitempty"`
	DeletedDate        *int64            `json:"deletedDate,omitempty"`
	ScheduledPurgeDate *int64            `json:"scheduledPurgeDate,omitempty"`
}

// secretSetRequest is the body of PUT /secrets/{name}.
type secretSetRequest struct {
	Value       *string           `json:"value"`
	ContentType *string           `json:"contentType"`
	Attributes  *wireAttributes   `json:"attributes"`
	Tags        map[string]string `json:"tags"`
}

// keyBundle is a KeyBundle, KeyItem or DeletedKeyBundle/Item.
type keyBundle struct {
	Key                *jsonWebKey       `json:"key,omitempty"`
	Kid                string            `json:"kid,omitempty"`
	Attributes         wireAttributes    `json:"attributes"`
	Tags               map[string]string `json:"tags,omitempty"`
	Managed            *bool             `json:"managed,omitempty"`
	RecoveryID         string            `json:"recoveryId,omitempty"`
	DeletedDate        *int64            `json:"deletedDate,omitempty"`
	ScheduledPurgeDate *int64            `json:"scheduledPurgeDate,omitempty"`
}

// keyCreateRequest is the body of POST /keys/{name}/create.
type keyCreateRequest struct {
	Kty        string            `json:"kty"`
	KeySize    *int              `json:"key_size"`
	Crv        string            `json:"crv"`
	PublicExp  *int              `json:"public_exponent"`
	KeyOps     []string          `json:"key_ops"`
	Attributes *wireAttributes   `json:"attributes"`
	Tags       map[string]string `json:"tags"`
}

// keyImportRequest is the body of PUT /keys/{name}.
type keyImportRequest struct {
	Key        *jsonWebKey       `json:"key"`
	HSM        *bool             `json:"Hsm"`
	Attributes *wireAttributes   `json:"attributes"`
	Tags       map[string]string `json:"tags"`
}

// keyUpdateRequest is the body of PATCH /keys/{name}/{version}.
type keyUpdateRequest struct {
	KeyOps     []string          `json:"key_ops"`
	Attributes *wireAttributes   `json:"attributes"`
	Tags       map[string]string `json:"tags"`
}

// certBundle is a CertificateBundle, CertificateItem or DeletedCertificateBundle/Item.
type certBundle struct {
	ID                 string            `json:"id"`
	Kid                string            `json:"kid,omitempty"`
	Sid                string            `json:"sid,omitempty"`
	X5t                string            `json:"x5t,omitempty"`
	Cer                string            `json:"cer,omitempty"`
	ContentType        string            `json:"contentType,omitempty"`
	Attributes         wireAttributes    `json:"attributes"`
	Policy             *wirePolicy       `json:"policy,omitempty"`
	Tags               map[string]string `json:"tags,omitempty"`
	RecoveryID         string            `json:"recoveryId,omitempty"`
	DeletedDate        *int64            `json:"deletedDate,omitempty"`
	ScheduledPurgeDate *int64            `json:"scheduledPurgeDate,omitempty"`
}

// wirePolicy is a CertificatePolicy.
type wirePolicy struct {
	ID              string               `json:"id,omitempty"`
	KeyProps        *wireKeyProps        `json:"key_props,omitempty"`
	SecretProps     *wireSecretProps     `json:"secret_props,omitempty"`
	X509Props       *wireX509Props       `json:"x509_props,omitempty"`
	LifetimeActions []wireLifetimeAction `json:"lifetime_actions,omitempty"`
	Issuer          *wireIssuer          `json:"issuer,omitempty"`
	Attributes      *wireAttributes      `json:"attributes,omitempty"`
}

type wireKeyProps struct {
	Exportable *bool  `json:"exportable,omitempty"`
	Kty        string `json:"kty,omitempty"`
	KeySize    *int   `json:"key_size,omitempty"`
	Crv        string `json:"crv,omitempty"`
	ReuseKey   *bool  `json:"reuse_key,omitempty"`
}

type wireSecretProps struct {
	ContentType string `json:"contentType,omitempty"`
}

type wireX509Props struct {
	Subject        string    `json:"subject,omitempty"`
	Ekus           []string  `json:"ekus,omitempty"`
	Sans           *wireSANs `json:"sans,omitempty"`
	KeyUsage       []string  `json:"key_usage,omitempty"`
	ValidityMonths *int      `json:"validity_months,omitempty"`
}

type wireSANs struct {
	DNSNames    []string `json:"dns_names,omitempty"`
	Emails      []string `json:"emails,omitempty"`
	UPNs        []string `json:"upns,omitempty"`
	IPAddresses []string `json:"ipAddresses,omitempty"`
	URIs        []string `json:"uris,omitempty"`
}

type wireLifetimeAction struct {
	Trigger *wireTrigger `json:"trigger,omitempty"`
	Action  *wireAction  `json:"action,omitempty"`
}

type wireTrigger struct {
	LifetimePercentage *int `json:"lifetime_percentage,omitempty"`
	DaysBeforeExpiry   *int `json:"days_before_expiry,omitempty"`
}

type wireAction struct {
	ActionType string `json:"action_type,omitempty"`
}

type wireIssuer struct {
	Name             string `json:"name,omitempty"`
	Cty              string `json:"cty,omitempty"`
	CertTransparency *bool  `json:"cert_transparency,omitempty"`
}

// certImportRequest is the body of POST /certificates/{name}/import.
type certImportRequest struct {
	Value      string            `json:"value"`
	Password   string            `json:"pwd"`
	Policy     *wirePolicy       `json:"policy"`
	Attributes *wireAttributes   `json:"attributes"`
	Tags       map[string]string `json:"tags"`
}

// certCreateRequest is the body of POST /certificates/{name}/create.
type certCreateRequest struct {
	Policy     *wirePolicy       `json:"policy"`
	Attributes *wireAttributes   `json:"attributes"`
	Tags       map[string]string `json:"tags"`
}

// certUpdateRequest is the body of PATCH /certificates/{name}/{version}.
type certUpdateRequest struct {
	Attributes *wireAttributes   `json:"attributes"`
	Tags       map[string]string `json:"tags"`
}

// certOperationBody is a CertificateOperation.
type certOperationBody struct {
	ID                    string      `json:"id"`
	Issuer                *wireIssuer `json:"issuer,omitempty"`
	CSR                   string      `json:"csr,omitempty"`
	CancellationRequested bool        `json:"cancellation_requested"`
	Status                string      `json:"status"`
	StatusDetails         string      `json:"status_details,omitempty"`
	Target                string      `json:"target,omitempty"`
	RequestID             string      `json:"request_id,omitempty"`
}

// listPage is one page of any list.
type listPage[T any] struct {
	Value    []T    `json:"value"`
	NextLink string `json:"nextLink,omitempty"`
}

// unix converts a time to wire seconds.
func unix(t time.Time) *int64 {
	u := t.Unix()
	return &u
}

// unixPtr converts an optional time.
func unixPtr(t *time.Time) *int64 {
	if t == nil {
		return nil
	}
	return unix(*t)
}

// fromUnix converts optional wire seconds to a time.
func fromUnix(u *int64) *time.Time {
	if u == nil {
		return nil
	}
	t := time.Unix(*u, 0).UTC()
	return &t
}

// wireAttrs renders stored attributes.
func wireAttrs(a objAttrs) wireAttributes {
	enabled := a.enabled
	days := int32(recoverableDays)
	return wireAttributes{
		Enabled:         &enabled,
		NotBefore:       unixPtr(a.notBefore),
		Expires:         unixPtr(a.expires),
		Created:         unix(a.created),
		Updated:         unix(a.updated),
		RecoveryLevel:   recoveryLevel,
		RecoverableDays: &days,
	}
}

// newAttrs builds the attributes of a new version from the request's (optional) ones.
func newAttrs(in *wireAttributes, now time.Time) objAttrs {
	a := objAttrs{enabled: true, created: now, updated: now}
	applyAttrs(&a, in, now)
	return a
}

// applyAttrs updates enabled/nbf/exp from a request, leaving unset fields alone.
func applyAttrs(a *objAttrs, in *wireAttributes, now time.Time) {
	if in == nil {
		return
	}
	if in.Enabled != nil {
		a.enabled = *in.Enabled
	}
	if in.NotBefore != nil {
		a.notBefore = fromUnix(in.NotBefore)
	}
	if in.Expires != nil {
		a.expires = fromUnix(in.Expires)
	}
	a.updated = now
}

// copyTags returns a private copy of a tag map (nil stays nil).
func copyTags(in map[string]string) map[string]string {
	if in == nil {
		return nil
	}
	out := make(map[string]string, len(in))
	for k, v := range in {
		out[k] = v
	}
	return out
}

// ptr returns a pointer to v.
func ptr[T any](v T) *T { return &v }
