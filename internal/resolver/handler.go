package resolver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/latchkey-dev/latchkey/internal/resolver/protocol"
)

// Handler serves protocol.ResolvePath: the checks in order, then the values.
type Handler struct {
	// Audience is the install's: the projected tokens carry it.
	Audience   string
	Reviewer   *Reviewer
	Pods       *PodSource
	Namespaces *Namespaces
	Values     *Values
	Limiter    *NamespaceLimiter
	// RequirePodIP refuses callers whose address is not the pod's.
	RequirePodIP bool
	// Timeout bounds one request (API and Key Vault included).
	Timeout time.Duration
	Log     logr.Logger
	Metrics *Metrics
	// Now is the clock of the token checks; nil means time.Now.
	Now func() time.Time
}

// Namespaces says whether a namespace carries the injection label, from
// the informer (which holds only labelled namespaces) or, when it does not
// have the namespace, from the API server: a namespace labelled moments ago
// is not refused.
type Namespaces struct {
	Cache, Live client.Reader
	// Label is the key; its value must be "enabled".
	Label string
}

// Enabled reports whether namespace ns is labelled for injection now.
func (n *Namespaces) Enabled(ctx context.Context, ns string) (bool, error) {
	obj := &corev1.Namespace{}
	err := n.Cache.Get(ctx, types.NamespacedName{Name: ns}, obj)
	if apierrors.IsNotFound(err) && n.Live != nil {
		err = n.Live.Get(ctx, types.NamespacedName{Name: ns}, obj)
	}
	switch {
	case apierrors.IsNotFound(err):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("read namespace %s: %w", ns, err)
	}
	return obj.Labels[n.Label] == "enabled", nil
}

// outcome is what one request came to, for the log and the metrics.
type outcome struct {
	id        Identity
	container string
	vars      []string
	akvs      []string
	denial    *Denial
}

// ServeHTTP answers one request. Its log line names the pod, the
// container, the variables and the reason, never a value or the token.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	ctx := r.Context()
	if h.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, h.Timeout)
		defer cancel()
	}
	var o outcome
	values, err := h.serve(ctx, r, &o)
	if err != nil {
		var d *Denial
		if !errors.As(err, &d) {
			d = unavailable(err)
		}
		o.denial = d
		writeDenial(w, d)
	} else {
		writeJSON(w, http.StatusOK, protocol.Response{Env: values})
	}
	h.record(r, o, time.Since(start))
}

// serve runs the checks in order and resolves the values.
func (h *Handler) serve(ctx context.Context, r *http.Request, o *outcome) (map[string]string, error) {
	if r.Method != http.MethodPost {
		return nil, deny(http.StatusMethodNotAllowed, protocol.CodeBadRequest, "use POST")
	}
	token, ok := bearer(r.Header.Get("Authorization"))
	if !ok {
		return nil, deny(http.StatusUnauthorized, protocol.CodeTokenMissing, "no bearer token")
	}
	// 1. Local checks: no API call for a token that cannot be ours.
	claims, err := CheckToken(token, h.Audience, h.now())
	if err != nil {
		return nil, tokenDenial(err)
	}
	// 2. TokenReview, cached by the token's hash.
	user, err := h.Reviewer.Review(ctx, token, claims)
	if err != nil {
		return nil, err
	}
	// 3. The pod, from the review's extras only.
	id, d := IdentityOf(user)
	if d != nil {
		return nil, d
	}
	o.id = id
	if retry, ok := h.Limiter.Allow(id.Namespace); !ok {
		d := deny(http.StatusTooManyRequests, protocol.CodeRateLimited, "namespace %s asks too often; retry after %s", id.Namespace, retryAfterSeconds(retry)+"s")
		d.RetryAfter = retry
		return nil, d
	}
	req, err := decodeRequest(r)
	if err != nil {
		return nil, err
	}
	o.container = req.Container
	o.vars = sortedKeys(req.Env)
	// 4. The stored pod and its namespace.
	enabled, err := h.Namespaces.Enabled(ctx, id.Namespace)
	if err != nil {
		return nil, err
	}
	pod, err := h.Pods.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	c, d := Authorize(Request{Identity: id, Pod: pod, NamespaceEnabled: enabled, Container: req.Container,
		CallerIP: callerIP(r), RequirePodIP: h.RequirePodIP})
	if d != nil {
		return nil, d
	}
	// 6. Only the placeholders of that container's env in the stored spec.
	wanted, d := MatchPlaceholders(c, req.Env)
	if d != nil {
		return nil, d
	}
	for _, w := range wanted {
		o.akvs = append(o.akvs, w.AKVS)
	}
	// 7. The values, under the tenancy guard, through the shared cache.
	return h.Values.Resolve(ctx, id.Namespace, wanted)
}

// record logs and counts one request.
func (h *Handler) record(r *http.Request, o outcome, took time.Duration) {
	kv := []any{"remote", r.RemoteAddr, "durationMs", float64(took.Microseconds()) / 1000}
	if o.id.PodName != "" {
		kv = append(kv, "namespace", o.id.Namespace, "pod", o.id.PodName, "serviceAccount", o.id.ServiceAccount)
	}
	if o.container != "" {
		kv = append(kv, "container", o.container)
	}
	if len(o.vars) > 0 {
		kv = append(kv, "variables", o.vars)
	}
	if len(o.akvs) > 0 {
		kv = append(kv, "azureKeyVaultSecrets", sortedSet(o.akvs))
	}
	result, code := "served", ""
	if d := o.denial; d != nil {
		result, code = d.result(), d.Code
		kv = append(kv, "status", d.Status, "code", d.Code, "reason", d.Message)
		if d.Status == http.StatusServiceUnavailable {
			h.Log.Error(nil, "request failed", kv...)
		} else {
			h.Log.Info("request refused", kv...)
		}
	} else {
		h.Log.Info("placeholders served", kv...)
	}
	h.Metrics.observe(result, code, took)
}

// unavailable is the answer to a failure of the API server or a timeout:
// retry.
func unavailable(err error) *Denial {
	d := deny(http.StatusServiceUnavailable, protocol.CodeAPIUnavailable, "%v", err)
	if errors.Is(err, context.DeadlineExceeded) {
		d.Message = "the request timed out"
	}
	return d
}

// tokenDenial is a 401 for a failed local token check.
func tokenDenial(err error) *Denial {
	code := protocol.CodeTokenMalformed
	switch {
	case errors.Is(err, errTokenMissing):
		code = protocol.CodeTokenMissing
	case errors.Is(err, errWrongAudience):
		code = protocol.CodeTokenWrongAudience
	case errors.Is(err, errTokenExpired):
		code = protocol.CodeTokenExpired
	}
	return deny(http.StatusUnauthorized, code, "%v", err)
}

// bearer extracts the token of an Authorization header.
func bearer(header string) (string, bool) {
	scheme, token, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// decodeRequest reads the body strictly.
func decodeRequest(r *http.Request) (protocol.Request, error) {
	var req protocol.Request
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, protocol.MaxRequestBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return req, deny(http.StatusBadRequest, protocol.CodeBadRequest, "the body is not a resolve request")
	}
	if req.Container == "" {
		return req, deny(http.StatusBadRequest, protocol.CodeBadRequest, "the request names no container")
	}
	return req, nil
}

// callerIP is the request's source address.
func callerIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func writeDenial(w http.ResponseWriter, d *Denial) {
	if d.RetryAfter > 0 {
		w.Header().Set("Retry-After", retryAfterSeconds(d.RetryAfter))
	}
	writeJSON(w, d.Status, d.body())
}

// retryAfterSeconds is a Retry-After value: whole seconds, rounded up, at
// least one.
func retryAfterSeconds(d time.Duration) string {
	s := int64((d + time.Second - 1) / time.Second)
	return strconv.FormatInt(max(s, 1), 10)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the client went away: nothing to do
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}
