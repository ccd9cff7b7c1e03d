package resolver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/latchkey-dev/latchkey/internal/injectmark"
	"github.com/latchkey-dev/latchkey/internal/resolver/protocol"
)

// Handler serves protocol.ResolvePath: the checks in order, then the values.
type Handler struct {
	// Verifier authenticates the token before anything else.
	Verifier   *TokenVerifier
	Pods       *PodCache
	Namespaces *Namespaces
	Values     *Values
	Limiter    *NamespaceLimiter
	// InFlight bounds the authenticated requests handled at once.
	InFlight *InFlight
	// Marks verify the webhook's admission mark on the stored pod.
	Marks *injectmark.Keys
	// RequirePodIP refuses callers whose address is not the pod's.
	RequirePodIP bool
	// Timeout bounds one request (API and Key Vault included).
	Timeout time.Duration
	// BodyTimeout bounds the reading of a body, from the moment the token
	// is accepted (DefaultServerTimeouts.Body when zero).
	BodyTimeout time.Duration
	Log         logr.Logger
	Metrics     *Metrics
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
	// unchanged: a refreshing client holds every value already.
	unchanged bool
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
	resp, err := h.serve(ctx, w, r, &o)
	if err != nil {
		var d *Denial
		if !errors.As(err, &d) {
			d = unavailable(err)
		}
		o.denial = d
		writeDenial(w, d)
	} else {
		writeJSON(w, http.StatusOK, resp)
	}
	h.record(r, o, time.Since(start))
}

// serve runs the checks in order and resolves the values. Nothing is read
// of the body, and no API call made, before the token is verified.
func (h *Handler) serve(ctx context.Context, w http.ResponseWriter, r *http.Request, o *outcome) (protocol.Response, error) {
	var none protocol.Response
	if r.Method != http.MethodPost {
		return none, deny(http.StatusMethodNotAllowed, protocol.CodeBadRequest, "use POST")
	}
	token, ok := bearer(r.Header.Get("Authorization"))
	if !ok {
		return none, deny(http.StatusUnauthorized, protocol.CodeTokenMissing, "no bearer token")
	}
	// 1-2. The token, verified locally, and the pod it is bound to.
	id, err := h.Verifier.Verify(ctx, token)
	if err != nil {
		return none, err
	}
	o.id = id
	// 3. The namespace's token bucket, a slot in flight, the body.
	if retry, ok := h.Limiter.Allow(id.Namespace); !ok {
		d := deny(http.StatusTooManyRequests, protocol.CodeRateLimited, "namespace %s asks too often; retry after %s", id.Namespace, retryAfterSeconds(retry)+"s")
		d.RetryAfter = retry
		return none, d
	}
	release, err := h.InFlight.Acquire(ctx)
	if err != nil {
		return none, err
	}
	defer release()
	req, err := h.decodeRequest(w, r)
	if err != nil {
		return none, err
	}
	o.container = req.Container
	o.vars = slices.Sorted(maps.Keys(req.Env))
	// 4. The stored pod and its namespace.
	enabled, err := h.Namespaces.Enabled(ctx, id.Namespace)
	if err != nil {
		return none, err
	}
	pod, err := h.Pods.Get(ctx, id)
	if err != nil {
		return none, err
	}
	c, d := Authorize(Request{Identity: id, Pod: pod, NamespaceEnabled: enabled, Marks: h.Marks, Container: req.Container,
		CallerIP: callerIP(r), RequirePodIP: h.RequirePodIP})
	if d != nil {
		return none, d
	}
	// 5. Only the placeholders of that container's env in the stored spec.
	wanted, d := MatchPlaceholders(c, req.Env)
	if d != nil {
		return none, d
	}
	for _, w := range wanted {
		o.akvs = append(o.akvs, w.AKVS)
	}
	// 6. The values, under the tenancy guard, through the shared cache.
	values, err := h.Values.Resolve(ctx, id.Namespace, wanted)
	if err != nil || req.Have == nil {
		return protocol.Response{Env: values}, err
	}
	// A refreshing client: "unchanged" costs it no value on the wire, and
	// the read above came from the shared cache (at most one Key Vault
	// read per object per interval, however many pods ask).
	o.unchanged = unchanged(values, req.Have)
	resp := protocol.Response{Env: values, RefreshSeconds: int64(h.Values.PollInterval(ctx, id.Namespace, o.akvs) / time.Second)}
	if o.unchanged {
		resp.Env, resp.Unchanged = nil, true
	}
	return resp, nil
}

// unchanged reports whether have names the digest of every value, and
// nothing else.
func unchanged(values, have map[string]string) bool {
	if len(have) != len(values) {
		return false
	}
	for name, v := range values {
		if d, ok := have[name]; !ok || d != protocol.Digest(v) {
			return false
		}
	}
	return true
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
	} else if o.unchanged {
		h.Log.V(1).Info("placeholders unchanged", kv...)
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

// bearer extracts the token of an Authorization header.
func bearer(header string) (string, bool) {
	scheme, token, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// decodeRequest reads the body: at most protocol.MaxRequestBytes and
// protocol.MaxVariables, within BodyTimeout.
func (h *Handler) decodeRequest(w http.ResponseWriter, r *http.Request) (protocol.Request, error) {
	timeout := h.BodyTimeout
	if timeout <= 0 {
		timeout = DefaultServerTimeouts.Body
	}
	// Not every ResponseWriter can (an HTTP/2 one can); the server's
	// ReadTimeout bounds the body then.
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(timeout))
	req, err := protocol.DecodeRequest(http.MaxBytesReader(w, r.Body, protocol.MaxRequestBytes), protocol.MaxVariables)
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return req, deny(http.StatusRequestEntityTooLarge, protocol.CodeBadRequest, "the body is larger than %d bytes", protocol.MaxRequestBytes)
	case errors.Is(err, protocol.ErrTooManyVariables):
		return req, deny(http.StatusRequestEntityTooLarge, protocol.CodeBadRequest, "the request names more than %d variables", protocol.MaxVariables)
	case errors.Is(err, os.ErrDeadlineExceeded):
		return req, deny(http.StatusRequestTimeout, protocol.CodeBadRequest, "the body did not arrive within %s", timeout)
	case err != nil:
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
