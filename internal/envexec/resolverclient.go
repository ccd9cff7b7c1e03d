package envexec

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/latchkey-dev/latchkey/internal/keyvault"
	"github.com/latchkey-dev/latchkey/internal/podcontract"
	"github.com/latchkey-dev/latchkey/internal/resolver/protocol"
)

// Resolver client limits.
const (
	// DefaultAttemptTimeout bounds one request to the resolver: above the
	// resolver's own request timeout (20 s), so its answer arrives.
	DefaultAttemptTimeout = 30 * time.Second
	// maxRetryAfter caps a Retry-After the resolver asks for.
	maxRetryAfter = 5 * time.Minute
	// maxResponseBytes bounds the answer: the values of one container.
	maxResponseBytes = 16 << 20
)

// ResolverClientOptions configure a ResolverClient.
type ResolverClientOptions struct {
	// URL is the resolver's base URL; it must be https.
	URL string
	// Container is this container's name in its pod's spec.
	Container string
	// TokenFile holds the projected token, read at every attempt (the
	// kubelet renews it).
	TokenFile string
	// CAFile holds the CA bundle (current and next CA): the only roots
	// trusted for the resolver.
	CAFile string
	// Retry is ENV_INJECTOR_RETRIES and ENV_INJECTOR_WAIT_BEFORE_RETRY.
	Retry RetryPolicy
	// AttemptTimeout bounds one request (default DefaultAttemptTimeout).
	AttemptTimeout time.Duration
	// Log gets the retries (warn) and the request (debug); names only.
	Log *slog.Logger
	// Sleep waits between attempts; nil means a timer that ctx cancels.
	Sleep func(ctx context.Context, d time.Duration) error
	// DialContext opens connections; nil means a net.Dialer. Tests send a
	// name to a test server with it.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
}

// ResolverOptionsFromEnv reads the webhook's LATCHKEY_RESOLVER_* and
// LATCHKEY_CONTAINER variables.
func ResolverOptionsFromEnv(getenv func(string) string) ResolverClientOptions {
	return ResolverClientOptions{
		URL:       getenv(podcontract.EnvResolverURL),
		Container: getenv(podcontract.EnvContainer),
		TokenFile: getenv(podcontract.EnvResolverToken),
		CAFile:    getenv(podcontract.EnvResolverCA),
	}
}

// ResolverClient is resolver mode: one request per container start with
// all its placeholders, over TLS 1.2 or newer verified against the CA
// bundle alone, never through a proxy (HTTPS_PROXY is for the program, and
// a proxy could read the values), retried as ENV_INJECTOR_RETRIES says when
// the resolver is unreachable or answers 429 or 503 (after its Retry-After
// when longer), or when an AzureKeyVaultSecret does not exist yet.
type ResolverClient struct {
	o        ResolverClientOptions
	endpoint string
	http     *http.Client
}

// NewResolverClient checks the options and reads the CA bundle.
func NewResolverClient(o ResolverClientOptions) (*ResolverClient, error) {
	var errs []error
	u, err := url.Parse(o.URL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		errs = append(errs, fmt.Errorf("%s %q is not an https URL", podcontract.EnvResolverURL, o.URL))
	}
	if o.Container == "" {
		errs = append(errs, fmt.Errorf("%s is not set", podcontract.EnvContainer))
	}
	if o.TokenFile == "" {
		errs = append(errs, fmt.Errorf("%s is not set", podcontract.EnvResolverToken))
	}
	var roots *x509.CertPool
	if o.CAFile == "" {
		errs = append(errs, fmt.Errorf("%s is not set", podcontract.EnvResolverCA))
	} else if roots, err = loadRoots(o.CAFile); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if o.AttemptTimeout <= 0 {
		o.AttemptTimeout = DefaultAttemptTimeout
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	dial := o.DialContext
	if dial == nil {
		dial = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	}
	transport := &http.Transport{
		Proxy:               nil, // never HTTPS_PROXY: see ResolverClient
		DialContext:         dial,
		TLSClientConfig:     &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout: 10 * time.Second,
		ForceAttemptHTTP2:   true,
		MaxIdleConns:        1,
		IdleConnTimeout:     30 * time.Second,
	}
	return &ResolverClient{o: o, endpoint: strings.TrimSuffix(u.String(), "/") + protocol.ResolvePath, http: &http.Client{Transport: transport}}, nil
}

// loadRoots reads the CA bundle: PEM certificates, at least one.
func loadRoots(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("the resolver's CA bundle (%s): %w", podcontract.EnvResolverCA, err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("the resolver's CA bundle %s holds no PEM certificate", path)
	}
	return roots, nil
}

// Resolve implements Resolver.
func (c *ResolverClient) Resolve(ctx context.Context, bindings []Binding) ([]string, error) {
	env := make(map[string]string, len(bindings))
	for _, b := range bindings {
		env[b.Var] = b.String()
	}
	body, err := json.Marshal(protocol.Request{Container: c.o.Container, Env: env})
	if err != nil {
		return nil, allVars(bindings, err)
	}
	// The resolver refuses more; say so here, without asking.
	if len(env) > protocol.MaxVariables || len(body) > protocol.MaxRequestBytes {
		return nil, allVars(bindings, fmt.Errorf("%w: %d placeholders (%d bytes) are more than the resolver serves to one container (%d placeholders, %d bytes)",
			ErrResolverRefused, len(env), len(body), protocol.MaxVariables, protocol.MaxRequestBytes))
	}
	c.o.Log.LogAttrs(ctx, slog.LevelDebug, "asking the resolver", slog.String("url", c.endpoint),
		slog.String("container", c.o.Container), slog.Int("variables", len(bindings)))
	var waited time.Duration
	for attempt := 1; ; attempt++ {
		values, retryAfter, err := c.attempt(ctx, body, bindings)
		if err == nil {
			return values, nil
		}
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		if !retryable(err) {
			return nil, err
		}
		wait, again := c.o.Retry.Backoff(attempt)
		if !again {
			return nil, gaveUp(err, attempt-1, waited)
		}
		wait = max(wait, min(retryAfter, maxRetryAfter))
		c.logRetry(ctx, err, attempt, wait)
		if err := c.sleep(ctx, wait); err != nil {
			return nil, err
		}
		waited += wait
	}
}

// retryable reports whether waiting may change the resolver's answer: it
// could not be reached or asked to be asked again (429, 503), or it knows
// no AzureKeyVaultSecret of some placeholder's name, which may yet be
// created (404 AzureKeyVaultSecretNotFound) — and nothing failed for good.
func retryable(err error) bool {
	vars := varErrors(err)
	if len(vars) == 0 {
		return errors.Is(err, ErrResolverUnavailable)
	}
	for _, ve := range vars {
		if !errors.Is(ve.Err, ErrResolverUnavailable) && !errors.Is(ve.Err, ErrAKVSNotFound) {
			return false
		}
	}
	return true
}

// logRetry says why the attempt-th request is retried after wait: names
// and reasons, never a value.
func (c *ResolverClient) logRetry(ctx context.Context, err error, attempt int, wait time.Duration) {
	attrs := []slog.Attr{slog.Int("retry", attempt), slog.Int("retries", c.o.Retry.Retries), slog.Duration("wait", wait)}
	if missing := missingAKVS(err); missing != nil {
		c.o.Log.LogAttrs(ctx, slog.LevelWarn, "waiting for the AzureKeyVaultSecrets to be created",
			append(attrs, slog.Any("azureKeyVaultSecrets", missing))...)
		return
	}
	c.o.Log.LogAttrs(ctx, slog.LevelWarn, "resolver request failed; retrying",
		append(attrs, slog.String("reason", Reason(err)), slog.String("error", err.Error()))...)
}

// missingAKVS lists the AzureKeyVaultSecrets err says do not exist, when
// that is all it says; nil otherwise.
func missingAKVS(err error) []string {
	var names []string
	for _, ve := range varErrors(err) {
		if !errors.Is(ve.Err, ErrAKVSNotFound) {
			return nil
		}
		names = append(names, ve.AKVS...)
	}
	return sortedSet(names)
}

// gaveUp is err, retried in vain, saying so in each variable's failure:
// the limit is the user's (ENV_INJECTOR_RETRIES), so the message names it.
func gaveUp(err error, retries int, waited time.Duration) error {
	noun := "retries"
	if retries == 1 {
		noun = "retry"
	}
	note := fmt.Sprintf("gave up after %d %s over %s (%s, %s)", retries, noun, waited, EnvRetries, EnvWaitBeforeRetry)
	if retries == 0 {
		note = fmt.Sprintf("not retried (%s is 0)", EnvRetries)
	}
	vars := varErrors(err)
	if len(vars) == 0 {
		return fmt.Errorf("%w; %s", err, note)
	}
	errs := make([]error, len(vars))
	for i, ve := range vars {
		errs[i] = &VarError{Vars: ve.Vars, AKVS: ve.AKVS, Err: fmt.Errorf("%w; %s", ve.Err, note)}
	}
	return errors.Join(errs...)
}

// attempt makes one request. It returns the values in the bindings' order,
// or the failure and the Retry-After the resolver asked for.
func (c *ResolverClient) attempt(ctx context.Context, body []byte, bindings []Binding) ([]string, time.Duration, error) {
	raw, retryAfter, err := c.exchange(ctx, body, bindings)
	if err != nil {
		return nil, retryAfter, err
	}
	values, err := valuesOf(raw, bindings)
	return values, 0, err
}

// Refreshed is the answer to Refresh.
type Refreshed struct {
	// Values, in the bindings' order, unless Unchanged.
	Values    []string
	Unchanged bool
	// Interval is how often the values may change, as the resolver
	// answers it (zero when it does not).
	Interval time.Duration
}

// Refresh asks once, without retries (the caller polls), for the values of
// bindings, naming the Digest of each value it holds (have, by variable):
// the resolver answers Unchanged, without the values, when they are all
// still those.
func (c *ResolverClient) Refresh(ctx context.Context, bindings []Binding, have map[string]string) (Refreshed, error) {
	env := make(map[string]string, len(bindings))
	for _, b := range bindings {
		env[b.Var] = b.String()
	}
	// Every variable is named, "" for a value not held (never a digest):
	// an empty Have would not be sent, and the answer would lack the
	// interval.
	named := make(map[string]string, len(bindings))
	for _, b := range bindings {
		named[b.Var] = have[b.Var]
	}
	have = named
	body, err := json.Marshal(protocol.Request{Container: c.o.Container, Env: env, Have: have})
	if err != nil {
		return Refreshed{}, allVars(bindings, err)
	}
	raw, _, err := c.exchange(ctx, body, bindings)
	if err != nil {
		return Refreshed{}, err
	}
	var resp protocol.Response
	if err := json.Unmarshal(raw, &resp); err != nil {
		return Refreshed{}, allVars(bindings, fmt.Errorf("%w: the answer is not JSON", ErrResolverRefused))
	}
	out := Refreshed{Unchanged: resp.Unchanged, Interval: time.Duration(resp.RefreshSeconds) * time.Second}
	if !resp.Unchanged {
		out.Values, err = valuesOf(raw, bindings)
	}
	return out, err
}

// exchange makes one request and returns a 200 answer's body, or the
// failure and the Retry-After the resolver asked for.
func (c *ResolverClient) exchange(ctx context.Context, body []byte, bindings []Binding) ([]byte, time.Duration, error) {
	token, err := os.ReadFile(c.o.TokenFile)
	if err != nil {
		return nil, 0, allVars(bindings, fmt.Errorf("the resolver token (%s): %w", podcontract.EnvResolverToken, err))
	}
	ctx, cancel := context.WithTimeout(ctx, c.o.AttemptTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, 0, allVars(bindings, err)
	}
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "latchkey-env")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, 0, allVars(bindings, c.transportError(err))
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return nil, 0, allVars(bindings, fmt.Errorf("%w: reading the answer: %w", ErrResolverUnavailable, err))
	}
	if resp.StatusCode == http.StatusOK {
		return raw, 0, nil
	}
	retryAfter := parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	return nil, retryAfter, answerError(resp.StatusCode, raw, bindings)
}

// transportError says why no answer came: a certificate the CA bundle does
// not verify is final (and says so plainly); anything else may pass.
func (c *ResolverClient) transportError(err error) error {
	var unknown x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	var host x509.HostnameError
	var verify *tls.CertificateVerificationError
	if errors.As(err, &unknown) || errors.As(err, &invalid) || errors.As(err, &host) || errors.As(err, &verify) {
		return fmt.Errorf("%w: the resolver's certificate is not trusted by the CA bundle %s (%s): %w", ErrResolverRefused, c.o.CAFile, podcontract.EnvResolverCA, err)
	}
	return fmt.Errorf("%w: %w", ErrResolverUnavailable, err)
}

// valuesOf reads a 200 answer: a value for every binding.
func valuesOf(raw []byte, bindings []Binding) ([]string, error) {
	var resp protocol.Response
	if err := json.Unmarshal(raw, &resp); err != nil {
		return nil, allVars(bindings, fmt.Errorf("%w: the answer is not JSON", ErrResolverRefused))
	}
	values := make([]string, len(bindings))
	var missing []Binding
	for i, b := range bindings {
		v, ok := resp.Env[b.Var]
		if !ok {
			missing = append(missing, b)
			continue
		}
		values[i] = v
	}
	if len(missing) > 0 {
		return nil, allVars(missing, fmt.Errorf("%w: the answer has no value for it", ErrResolverRefused))
	}
	return values, nil
}

// answerError turns an error answer into errors naming the variables:
// one per failure the resolver lists, else one for all. The resolver's
// Key Vault codes keep Key Vault's classes, so the log says "not found" or
// "throttled" as in direct mode.
func answerError(status int, raw []byte, bindings []Binding) error {
	var body protocol.ErrorBody
	if json.Unmarshal(raw, &body) != nil || body.Error.Code == "" {
		body.Error = protocol.Error{Code: strconv.Itoa(status), Message: http.StatusText(status)}
	}
	e := body.Error
	if len(e.Failures) == 0 {
		return allVars(bindings, classify(status, e.Code, e.Message))
	}
	akvsOf := map[string]string{}
	for _, b := range bindings {
		akvsOf[b.Var] = b.AKVS
	}
	var errs []error
	for _, f := range e.Failures {
		ve := &VarError{Vars: sortedSet(f.Variables), Err: classify(status, f.Code, f.Message)}
		for _, v := range ve.Vars {
			ve.AKVS = append(ve.AKVS, akvsOf[v])
		}
		ve.AKVS = sortedSet(ve.AKVS)
		errs = append(errs, ve)
	}
	return errors.Join(errs...)
}

// codeClasses are the resolver's codes that stand for a class of this
// binary's own.
var codeClasses = map[string]error{
	protocol.CodeKeyVaultNotFound:    keyvault.ErrNotFound,
	protocol.CodeKeyVaultForbidden:   keyvault.ErrForbidden,
	protocol.CodeInvalidObject:       keyvault.ErrInvalidObject,
	protocol.CodeKeyVaultAuthFailed:  keyvault.ErrAuthentication,
	protocol.CodeKeyVaultThrottled:   keyvault.ErrThrottled,
	protocol.CodeKeyVaultUnavailable: keyvault.ErrUnavailable,
	protocol.CodeQueryFailed:         ErrQuery,
	protocol.CodeAKVSNotFound:        ErrAKVSNotFound,
}

// ResolverError is one failure the resolver reported: its status, its
// code and its message (names and reasons, never a value). errors.Is
// matches ErrResolverUnavailable (429, 503: retried), ErrAKVSNotFound
// (waited for) or ErrResolverRefused, and for the resolver's Key Vault
// codes Key Vault's class too, so the log
// says "not found" or "throttled" as in direct mode.
type ResolverError struct {
	Status  int
	Code    string
	Message string
}

func (e *ResolverError) Error() string {
	return fmt.Sprintf("the resolver answered %d %s: %s", e.Status, e.Code, e.Message)
}

// Unwrap gives errors.Is the classes. An AzureKeyVaultSecret the resolver
// does not know is a class of its own, neither refused nor unavailable: it
// is waited for.
func (e *ResolverError) Unwrap() []error {
	unavailable := e.Status == http.StatusTooManyRequests || e.Status == http.StatusServiceUnavailable
	class := ErrResolverRefused
	if unavailable {
		class = ErrResolverUnavailable
	}
	c, ok := codeClasses[e.Code]
	switch {
	case e.Code == protocol.CodeAKVSNotFound && !unavailable:
		return []error{c}
	case ok:
		return []error{c, class}
	}
	return []error{class}
}

func classify(status int, code, message string) error {
	return &ResolverError{Status: status, Code: code, Message: message}
}

// parseRetryAfter reads a Retry-After header: seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil && s > 0 {
		return time.Duration(min(s, int64(maxRetryAfter/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

func (c *ResolverClient) sleep(ctx context.Context, d time.Duration) error {
	if c.o.Sleep != nil {
		return c.o.Sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}
