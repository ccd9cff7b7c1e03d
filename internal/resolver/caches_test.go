package resolver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/latchkey-dev/latchkey/internal/keyvault"
	"github.com/latchkey-dev/latchkey/internal/resolver/protocol"
	"github.com/latchkey-dev/latchkey/internal/scheme"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Unix(1_800_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// fakeReviews answers TokenReviews: tokens in ok authenticate, others not;
// fail makes the request itself fail. It counts requests.
type fakeReviews struct {
	ok    map[string]bool
	fail  atomic.Bool
	calls atomic.Int32
	// gate, if set, holds every review until closed.
	gate chan struct{}
}

func (f *fakeReviews) create(ctx context.Context, tr *authenticationv1.TokenReview) (*authenticationv1.TokenReview, error) {
	f.calls.Add(1)
	if f.gate != nil {
		select {
		case <-f.gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if f.fail.Load() {
		return nil, errors.New("connection refused")
	}
	out := tr.DeepCopy()
	if f.ok[tr.Spec.Token] {
		out.Status = authenticationv1.TokenReviewStatus{Authenticated: true, Audiences: tr.Spec.Audiences,
			User: authenticationv1.UserInfo{Username: "system:serviceaccount:team:app"}}
	}
	return out, nil
}

func TestReviewCache(t *testing.T) {
	type step struct {
		advance time.Duration
		token   string
		fail    bool // the API server fails this request
		wantErr string
		calls   int32 // reviews made so far
	}
	long := time.Unix(1_800_000_600, 0)
	tests := []struct {
		name   string
		ttl    time.Duration
		expiry time.Time
		steps  []step
	}{
		{"reused within the TTL, asked again after", time.Minute, long, []step{
			{0, "good", false, "", 1},
			{59 * time.Second, "good", false, "", 1},
			{time.Second, "good", false, "", 2},
		}},
		{"a TTL above a minute is a minute", time.Hour, long, []step{
			{0, "good", false, "", 1},
			{time.Minute, "good", false, "", 2},
		}},
		{"never past the token's expiry", time.Minute, time.Unix(1_800_000_020, 0), []step{
			{0, "good", false, "", 1},
			{19 * time.Second, "good", false, "", 1},
			{time.Second, "good", false, "", 2},
		}},
		{"TTL zero: every request asks", 0, long, []step{
			{0, "good", false, "", 1},
			{0, "good", false, "", 2},
		}},
		{"a refused token stays refused for a while", time.Minute, long, []step{
			{0, "bad", false, protocol.CodeTokenRejected, 1},
			{negativeReviewTTL - time.Second, "bad", false, protocol.CodeTokenRejected, 1},
			{time.Second, "bad", false, protocol.CodeTokenRejected, 2},
		}},
		{"a failed review is not kept", time.Minute, long, []step{
			{0, "good", true, "connection refused", 1},
			{0, "good", false, "", 2},
			{0, "good", false, "", 2},
		}},
		{"tokens are told apart", time.Minute, long, []step{
			{0, "good", false, "", 1},
			{0, "good-too", false, "", 2},
			{0, "bad", false, protocol.CodeTokenRejected, 3},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newFakeClock()
			f := &fakeReviews{ok: map[string]bool{"good": true, "good-too": true}}
			r := &Reviewer{Create: f.create, Audience: "latchkey-x", TTL: tt.ttl, Now: clock.Now}
			for i, s := range tt.steps {
				clock.Advance(s.advance)
				f.fail.Store(s.fail)
				_, err := r.Review(context.Background(), s.token, tt.expiry)
				switch {
				case s.wantErr == "" && err != nil:
					t.Fatalf("step %d: %v", i, err)
				case s.wantErr != "" && (err == nil || !strings.Contains(err.Error(), s.wantErr)):
					t.Fatalf("step %d: %v, want %s", i, err, s.wantErr)
				}
				if n := f.calls.Load(); n != s.calls {
					t.Fatalf("step %d: %d reviews, want %d", i, n, s.calls)
				}
			}
		})
	}
}

// TestReviewSingleFlight: concurrent requests with one token share a
// review, and expired entries are swept.
func TestReviewSingleFlight(t *testing.T) {
	clock := newFakeClock()
	f := &fakeReviews{ok: map[string]bool{"good": true}, gate: make(chan struct{})}
	r := &Reviewer{Create: f.create, Audience: "latchkey-x", TTL: time.Minute, Now: clock.Now}
	expiry := clock.Now().Add(10 * time.Minute)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() {
			_, err := r.Review(context.Background(), "good", expiry)
			errs <- err
		})
	}
	for r.Len() == 0 || f.calls.Load() == 0 { // the first review is under way
		time.Sleep(time.Millisecond)
	}
	close(f.gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := f.calls.Load(); n != 1 {
		t.Errorf("%d reviews for one token, want 1", n)
	}
	clock.Advance(2 * time.Minute)
	if _, err := r.Review(context.Background(), "other", expiry); err == nil || r.Len() != 1 {
		t.Errorf("after the sweep: %v, %d entries; want a refusal and only its entry", err, r.Len())
	}
}

// TestReviewBounds: reviews not answered by the cache are limited
// globally (503 with Retry-After beyond), cached answers are not, and the
// cache stores no more than MaxEntries.
func TestReviewBounds(t *testing.T) {
	clock := newFakeClock()
	f := &fakeReviews{ok: map[string]bool{"good": true}}
	r := &Reviewer{Create: f.create, Audience: "latchkey-x", TTL: time.Minute, Now: clock.Now,
		Limit: rate.NewLimiter(1, 2), MaxEntries: 2}
	expiry := clock.Now().Add(10 * time.Minute)
	for i := range 2 {
		if _, err := r.Review(context.Background(), fmt.Sprintf("forged-%d", i), expiry); err == nil || !strings.Contains(err.Error(), protocol.CodeTokenRejected) {
			t.Fatalf("forged token %d: %v", i, err)
		}
	}
	_, err := r.Review(context.Background(), "forged-2", expiry)
	var d *Denial
	if !errors.As(err, &d) || d.Status != http.StatusServiceUnavailable || d.RetryAfter <= 0 {
		t.Fatalf("over the limit: %v, want 503 with Retry-After", err)
	}
	if _, err := r.Review(context.Background(), "forged-0", expiry); err == nil || !strings.Contains(err.Error(), protocol.CodeTokenRejected) {
		t.Errorf("a cached refusal: %v", err)
	}
	if n := f.calls.Load(); n != 2 {
		t.Errorf("%d reviews, want 2", n)
	}
	clock.Advance(time.Second)
	if _, err := r.Review(context.Background(), "good", expiry); err != nil {
		t.Fatal(err)
	}
	if n := r.Len(); n > 2 {
		t.Errorf("%d entries cached, want at most 2", n)
	}
}

// countingReader counts pod reads; gate, if set, holds each until closed.
type countingReader struct {
	client.Reader
	gets atomic.Int32
	gate chan struct{}
}

func (c *countingReader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	c.gets.Add(1)
	if c.gate != nil {
		<-c.gate
	}
	return c.Reader.Get(ctx, key, obj, opts...)
}

// TestPodCacheRead: a pod the cache does not watch is read once for all
// the requests of its UID at the time, stripped; a pod that is gone is a
// 403; a pod of another UID is returned for Authorize to refuse.
func TestPodCacheRead(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "web-1", UID: "uid-1", Labels: map[string]string{"app": "web"}}}
	c := fake.NewClientBuilder().WithScheme(scheme.New()).WithObjects(pod).Build()
	reader := &countingReader{Reader: c, gate: make(chan struct{})}
	s := &PodCache{Live: reader, Wait: time.Second}
	ctx := context.Background()

	var wg sync.WaitGroup
	got := make([]*corev1.Pod, 20)
	for i := range got {
		wg.Go(func() {
			p, err := s.Get(ctx, theIdentity)
			if err != nil {
				t.Error(err)
			}
			got[i] = p
		})
	}
	for reader.gets.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // the others join the read in flight
	close(reader.gate)
	wg.Wait()
	if n := reader.gets.Load(); n != 1 {
		t.Errorf("%d reads for 20 requests of one UID at once, want 1", n)
	}
	if got[0] == nil || got[0].UID != "uid-1" || got[0].Labels != nil {
		t.Errorf("read %+v, want the pod stripped", got[0])
	}
	if err := c.Delete(ctx, pod); err != nil {
		t.Fatal(err)
	}
	_, err := s.Get(ctx, theIdentity)
	var d *Denial
	if !errors.As(err, &d) || d.Code != protocol.CodePodNotFound || d.Status != http.StatusForbidden {
		t.Fatalf("deleted pod: %v, want 403 %s", err, protocol.CodePodNotFound)
	}
	again := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "web-1", UID: "uid-2"}}
	if err := c.Create(ctx, again); err != nil {
		t.Fatal(err)
	}
	if p, err := s.Get(ctx, theIdentity); err != nil || p.UID != "uid-2" {
		t.Fatalf("recreated: %v, %v", p, err)
	}
	if n := reader.gets.Load(); n != 3 {
		t.Errorf("%d reads, want 3", n)
	}
}

func TestNamespaceLimiter(t *testing.T) {
	clock := newFakeClock()
	l := &NamespaceLimiter{Rate: 2, Burst: 3, Now: clock.Now}
	for i := range 3 {
		if _, ok := l.Allow("a"); !ok {
			t.Fatalf("request %d of the burst refused", i+1)
		}
	}
	retry, ok := l.Allow("a")
	if ok || retry != 500*time.Millisecond {
		t.Fatalf("over the burst: ok=%v, retry after %v; want refused, 500ms", ok, retry)
	}
	if _, ok := l.Allow("b"); !ok {
		t.Error("another namespace's bucket is not shared")
	}
	// A refusal takes no token: half a second later one is back.
	clock.Advance(500 * time.Millisecond)
	if _, ok := l.Allow("a"); !ok {
		t.Error("a token should be back")
	}
	if _, ok := l.Allow("a"); ok {
		t.Error("only one token should be back")
	}
	// Full buckets are forgotten.
	clock.Advance(2 * time.Minute)
	l.Allow("c")
	if len(l.buckets) != 1 {
		t.Errorf("%d buckets after the sweep, want 1", len(l.buckets))
	}
	if got := retryAfterSeconds(500 * time.Millisecond); got != "1" {
		t.Errorf("Retry-After for 500ms = %s, want 1", got)
	}
	if got := retryAfterSeconds(2001 * time.Millisecond); got != "3" {
		t.Errorf("Retry-After for 2.001s = %s, want 3", got)
	}
}

func TestCombine(t *testing.T) {
	notFound := failure{status: http.StatusNotFound, code: protocol.CodeKeyVaultNotFound, err: "gone", vars: []string{"B"}, akvs: []string{"b"}}
	throttled := failure{status: http.StatusServiceUnavailable, code: protocol.CodeKeyVaultThrottled, err: "slow", vars: []string{"C", "A"}, akvs: []string{"c", "c"}, retryAfter: 7 * time.Second}
	denied := failure{status: http.StatusForbidden, code: protocol.CodeVaultNotAllowed, err: "no", vars: []string{"D"}, akvs: []string{"d"}}
	tests := []struct {
		name   string
		in     []failure
		status int
		code   string
		retry  time.Duration
		msg    string
	}{
		{"one", []failure{notFound}, 404, protocol.CodeKeyVaultNotFound, 0, "variable B: gone"},
		{"retryable before final", []failure{notFound, throttled}, 503, protocol.CodeKeyVaultThrottled, 7 * time.Second, "variables A, C: slow; variable B: gone"},
		{"a refusal first", []failure{throttled, denied}, 403, protocol.CodeVaultNotAllowed, 0, "variable D: no; variables A, C: slow"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := combine(tt.in)
			if d.Status != tt.status || d.Code != tt.code || d.RetryAfter != tt.retry || d.Message != tt.msg || len(d.Failures) != len(tt.in) {
				t.Errorf("combine = %+v", d)
			}
		})
	}
	if combine(nil) != nil {
		t.Error("no failures must be no denial")
	}
}

func TestKeyVaultFailure(t *testing.T) {
	kv := func(class error, status int, retry time.Duration) error {
		return &keyvault.Error{Ref: keyvault.Ref{Backend: keyvault.Backend, Store: "kv", Kind: keyvault.KindSecret, Name: "s"}, Class: class, Status: status, RetryAfter: retry}
	}
	tests := []struct {
		err    error
		status int
		code   string
		retry  time.Duration
	}{
		{kv(keyvault.ErrNotFound, 404, 0), 404, protocol.CodeKeyVaultNotFound, 0},
		{kv(keyvault.ErrForbidden, 403, 0), 403, protocol.CodeKeyVaultForbidden, 0},
		{kv(keyvault.ErrInvalidObject, 0, 0), 422, protocol.CodeInvalidObject, 0},
		{kv(keyvault.ErrThrottled, 429, 9*time.Second), 503, protocol.CodeKeyVaultThrottled, 9 * time.Second},
		{kv(keyvault.ErrUnavailable, 503, 0), 503, protocol.CodeKeyVaultUnavailable, 0},
		{kv(keyvault.ErrAuthentication, 401, 0), 502, protocol.CodeKeyVaultAuthFailed, 0},
		{kv(keyvault.ErrAuthentication, 0, 0), 502, protocol.CodeKeyVaultAuthFailed, 0},
		{kv(keyvault.ErrAuthentication, 503, 0), 503, protocol.CodeKeyVaultUnavailable, 0},
		{kv(keyvault.ErrAuthentication, 429, 0), 503, protocol.CodeKeyVaultUnavailable, 0},
		{fmt.Errorf("sign in: %w", keyvault.ErrAuthentication), 502, protocol.CodeKeyVaultAuthFailed, 0},
		{context.DeadlineExceeded, 503, protocol.CodeKeyVaultUnavailable, 0},
	}
	for _, tt := range tests {
		f := storeFailure(tt.err)
		if f.status != tt.status || f.code != tt.code || f.retryAfter != tt.retry {
			t.Errorf("%v: %d %s %v, want %d %s %v", tt.err, f.status, f.code, f.retryAfter, tt.status, tt.code, tt.retry)
		}
	}
}
