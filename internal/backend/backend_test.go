package backend_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/internal/backend"
)

// store is a Fetcher serving "value of <name>" and counting reads per name.
type store struct{ reads map[string]int }

func (s *store) Identity() string { return "test" }
func (s *store) Read(_ context.Context, ref backend.Ref) (backend.Object, error) {
	s.reads[ref.Name]++
	if ref.Name == "missing" {
		return backend.Object{}, fmt.Errorf("%s: %w", ref, backend.ErrNotFound)
	}
	return backend.Object{Ref: ref, Version: "1", Value: []byte("value of " + ref.Name)}, nil
}

func TestSourcesRouteByBackend(t *testing.T) {
	a, b := &store{reads: map[string]int{}}, &store{reads: map[string]int{}}
	src := backend.Sources{"a": backend.NewCache(a, backend.CacheOptions{}), "b": backend.NewCache(b, backend.CacheOptions{})}
	ctx := context.Background()
	obj, err := src.Get(ctx, backend.Ref{Backend: "b", Store: "s", Kind: backend.KindSecret, Name: "x"}, time.Minute)
	if err != nil || string(obj.Value) != "value of x" {
		t.Fatalf("Get = %q, %v", obj.Value, err)
	}
	if a.reads["x"] != 0 || b.reads["x"] != 1 {
		t.Errorf("reads: backend a %d, backend b %d; want 0 and 1", a.reads["x"], b.reads["x"])
	}
	_, err = src.Get(ctx, backend.Ref{Backend: "c", Store: "s", Kind: backend.KindSecret, Name: "x"}, time.Minute)
	if !errors.Is(err, backend.ErrUnavailable) {
		t.Errorf("an unregistered backend: %v, want ErrUnavailable", err)
	}
	if _, err := src.Get(ctx, backend.Ref{Backend: "a", Name: "missing"}, time.Minute); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("a backend's class is kept: %v", err)
	}
}

// TestCacheKeepsCaseWithoutFold: only a backend that folds names shares
// reads between spellings; the cache itself compares refs as they are.
func TestCacheKeepsCaseWithoutFold(t *testing.T) {
	s := &store{reads: map[string]int{}}
	c := backend.NewCache(s, backend.CacheOptions{})
	for _, name := range []string{"X", "x", "x"} {
		if _, err := c.Get(context.Background(), backend.Ref{Backend: "a", Name: name}, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if s.reads["X"] != 1 || s.reads["x"] != 1 {
		t.Errorf("reads %v, want one per spelling", s.reads)
	}
}

type hinted struct {
	delay     time.Duration
	transient bool
}

func (h *hinted) Error() string             { return "hinted" }
func (h *hinted) Unwrap() error             { return backend.ErrThrottled }
func (h *hinted) RetryDelay() time.Duration { return h.delay }
func (h *hinted) Transient() bool           { return h.transient }

func TestRetryAfterAndTransient(t *testing.T) {
	err := fmt.Errorf("read: %w", &hinted{delay: 3 * time.Second, transient: true})
	if d, ok := backend.RetryAfter(err); !ok || d != 3*time.Second {
		t.Errorf("RetryAfter = %v, %v", d, ok)
	}
	if !backend.Transient(err) {
		t.Error("Transient = false")
	}
	if _, ok := backend.RetryAfter(&hinted{}); ok {
		t.Error("RetryAfter of a zero delay is a hint")
	}
	if backend.Transient(backend.ErrAuthentication) || backend.Transient(&hinted{}) {
		t.Error("Transient without a transient hint")
	}
}
