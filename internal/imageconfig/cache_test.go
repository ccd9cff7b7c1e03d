package imageconfig

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestCacheSecondLookupMakesNoRequest(t *testing.T) {
	tr := newTestRegistry(t, registryOpts{mode: authBearer})
	tr.front.users["bob"] = "hunter2-long"
	tr.push("app:v1", image(t, "linux/amd64", []string{"/bin/app"}, []string{"serve"}))
	r := newClient(t, tr, Options{})
	req := Request{Image: tr.ref("app:v1"), Platform: linuxAMD64, PullSecrets: []PullSecret{
		{Name: "regcred", Type: SecretTypeDockerConfigJSON, Data: dockerConfigJSON(tr.host, "bob", "hunter2-long")},
	}}

	first, err := r.Lookup(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	before := tr.front.requests.Load()
	first.Entrypoint[0] = "changed by the caller"

	// The same credentials under another secret name are the same identity.
	req.PullSecrets[0].Name = "copy-in-another-namespace"
	second, err := r.Lookup(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	if n := tr.front.requests.Load() - before; n != 0 {
		t.Errorf("second lookup made %d requests, want 0", n)
	}
	if !slices.Equal(second.Entrypoint, []string{"/bin/app"}) {
		t.Errorf("cached Entrypoint = %q: a caller changed the cache", second.Entrypoint)
	}
}

func TestCacheIsPerCredentialIdentity(t *testing.T) {
	tr := newTestRegistry(t, registryOpts{mode: authBasic})
	tr.front.users["alice"] = "s3cret-pass"
	tr.push("private/app:v1", image(t, "linux/amd64", []string{"/bin/private"}, nil))
	r := newClient(t, tr, Options{})
	ref := tr.ref("private/app:v1")
	withSecret := Request{Image: ref, PullSecrets: []PullSecret{
		{Name: "regcred", Type: SecretTypeDockerConfigJSON, Data: dockerConfigJSON(tr.host, "alice", "s3cret-pass")},
	}}
	if _, err := r.Lookup(t.Context(), withSecret); err != nil {
		t.Fatal(err)
	}

	// A pod without the credentials asks the registry itself, which refuses.
	before := tr.front.requests.Load()
	_, err := r.Lookup(t.Context(), Request{Image: ref})
	if !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("lookup without credentials: err = %v, want ErrUnauthorized (the cached config must not leak)", err)
	}
	if tr.front.requests.Load() == before {
		t.Error("lookup without credentials made no request")
	}
	// So does one with other (wrong) credentials.
	_, err = r.Lookup(t.Context(), Request{Image: ref, PullSecrets: []PullSecret{
		{Name: "regcred", Type: SecretTypeDockerConfigJSON, Data: dockerConfigJSON(tr.host, "alice", "guessed")},
	}})
	if !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("lookup with wrong credentials: err = %v, want ErrUnauthorized", err)
	}
}

func TestCacheSharesConfigAcrossIdentitiesAfterAccessCheck(t *testing.T) {
	tr := newTestRegistry(t, registryOpts{mode: authBasic})
	tr.front.users["alice"] = "pass-one-long"
	tr.front.users["carol"] = "pass-two-long"
	tr.push("private/app:v1", image(t, "linux/amd64", []string{"/bin/private"}, nil))
	r := newClient(t, tr, Options{})
	ref := tr.ref("private/app:v1")
	for i, user := range []string{"alice", "carol"} {
		manifests, blobs := tr.front.manifests.Load(), tr.front.blobs.Load()
		_, err := r.Lookup(t.Context(), Request{Image: ref, PullSecrets: []PullSecret{
			{Name: user, Type: SecretTypeDockerConfigJSON, Data: dockerConfigJSON(tr.host, user, tr.front.users[user])},
		}})
		if err != nil {
			t.Fatal(err)
		}
		// Each identity makes its own manifest request (the access
		// check); only the first reads the config blob.
		wantBlobs := int64(1 - i)
		if m, b := tr.front.manifests.Load()-manifests, tr.front.blobs.Load()-blobs; m != 1 || b != wantBlobs {
			t.Errorf("%s: %d manifest and %d blob requests, want 1 and %d", user, m, b, wantBlobs)
		}
	}
}

func TestCacheTagMovedAfterTTL(t *testing.T) {
	tr := newTestRegistry(t, registryOpts{})
	tr.push("app:stable", image(t, "linux/amd64", []string{"/old"}, nil))
	clock := newFakeClock()
	r := newClient(t, tr, Options{Now: clock.Now, TagTTL: 5 * time.Minute})
	req := Request{Image: tr.ref("app:stable"), Platform: linuxAMD64}
	lookup := func() string {
		t.Helper()
		res, err := r.Lookup(t.Context(), req)
		if err != nil {
			t.Fatal(err)
		}
		return res.Entrypoint[0]
	}

	if got := lookup(); got != "/old" {
		t.Fatalf("Entrypoint = %q, want /old", got)
	}
	tr.push("app:stable", image(t, "linux/amd64", []string{"/new"}, nil))
	clock.Advance(4 * time.Minute)
	if got := lookup(); got != "/old" {
		t.Errorf("within the tag TTL: Entrypoint = %q, want the cached /old", got)
	}
	clock.Advance(2 * time.Minute)
	if got := lookup(); got != "/new" {
		t.Errorf("after the tag TTL: Entrypoint = %q, want /new", got)
	}
}

func TestCacheDigestReferenceKeepsLonger(t *testing.T) {
	tr := newTestRegistry(t, registryOpts{})
	digest := tr.push("app:v1", image(t, "linux/amd64", []string{"/bin/app"}, nil))
	clock := newFakeClock()
	r := newClient(t, tr, Options{Now: clock.Now})
	req := Request{Image: tr.ref("app@" + digest), Platform: linuxAMD64}
	if _, err := r.Lookup(t.Context(), req); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Hour)
	before := tr.front.requests.Load()
	res, err := r.Lookup(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	if n := tr.front.requests.Load() - before; n != 0 || res.Digest != digest {
		t.Errorf("an hour later: %d requests, digest %s; want 0 and %s", n, res.Digest, digest)
	}
}

func TestCacheKeyIncludesPlatform(t *testing.T) {
	tr := newTestRegistry(t, registryOpts{})
	tr.pushIndex("multi:v1",
		image(t, "linux/amd64", []string{"/amd64"}, nil),
		image(t, "linux/arm64", []string{"/arm64"}, nil),
	)
	r := newClient(t, tr, Options{})
	for range 2 {
		for _, arch := range []string{"amd64", "arm64"} {
			res, err := r.Lookup(t.Context(), Request{Image: tr.ref("multi:v1"), Platform: Platform{OS: "linux", Architecture: arch}})
			if err != nil {
				t.Fatal(err)
			}
			if res.Entrypoint[0] != "/"+arch {
				t.Errorf("%s: Entrypoint = %q", arch, res.Entrypoint)
			}
		}
	}
}

func TestCacheSingleFlight(t *testing.T) {
	tr := newTestRegistry(t, registryOpts{})
	tr.push("app:v1", image(t, "linux/amd64", []string{"/bin/app"}, nil))
	tr.front.gate = make(chan struct{})
	tr.front.arrived = make(chan struct{}, 1)
	r := newClient(t, tr, Options{})

	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			_, err := r.Lookup(t.Context(), Request{Image: tr.ref("app:v1"), Platform: linuxAMD64})
			errs <- err
		})
	}
	<-tr.front.arrived // the one manifest request is at the registry
	// Let every goroutine reach Lookup before the request is answered.
	waitFor(t, func() bool { return r.waiters(tr.ref("app:v1")) == n })
	close(tr.front.gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if got := tr.front.manifests.Load(); got != 1 {
		t.Errorf("%d concurrent lookups made %d manifest requests, want 1", n, got)
	}
}

func TestCacheSingleFlightSurvivesFirstCallerLeaving(t *testing.T) {
	tr := newTestRegistry(t, registryOpts{})
	tr.push("app:v1", image(t, "linux/amd64", []string{"/bin/app"}, nil))
	tr.front.gate = make(chan struct{})
	tr.front.arrived = make(chan struct{}, 1)
	r := newClient(t, tr, Options{})
	req := Request{Image: tr.ref("app:v1"), Platform: linuxAMD64}

	ctx, cancel := contextWithCancel(t)
	first := make(chan error, 1)
	go func() {
		_, err := r.Lookup(ctx, req)
		first <- err
	}()
	<-tr.front.arrived
	second := make(chan error, 1)
	go func() {
		_, err := r.Lookup(t.Context(), req)
		second <- err
	}()
	waitFor(t, func() bool { return r.waiters(req.Image) == 2 })
	cancel()
	if err := <-first; !errors.Is(err, ErrTimeout) {
		t.Errorf("cancelled caller: err = %v, want ErrTimeout", err)
	}
	close(tr.front.gate)
	if err := <-second; err != nil {
		t.Errorf("second caller: %v (the shared lookup must outlive the first caller)", err)
	}
}

func TestCacheNegativeTTL(t *testing.T) {
	tr := newTestRegistry(t, registryOpts{})
	clock := newFakeClock()
	r := newClient(t, tr, Options{Now: clock.Now, NegativeTTL: 5 * time.Second})
	req := Request{Image: tr.ref("later:v1"), Platform: linuxAMD64}

	if _, err := r.Lookup(t.Context(), req); !errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
	before := tr.front.requests.Load()
	if _, err := r.Lookup(t.Context(), req); !errors.Is(err, ErrNotFound) {
		t.Fatalf("again: err = %v, want ErrNotFound", err)
	}
	if n := tr.front.requests.Load() - before; n != 0 {
		t.Errorf("a repeated not-found lookup made %d requests, want 0", n)
	}
	tr.push("later:v1", image(t, "linux/amd64", []string{"/bin/app"}, nil))
	clock.Advance(6 * time.Second)
	if _, err := r.Lookup(t.Context(), req); err != nil {
		t.Errorf("after the negative TTL: %v", err)
	}
}

func TestCacheIsBounded(t *testing.T) {
	tr := newTestRegistry(t, registryOpts{})
	r := newClient(t, tr, Options{MaxEntries: 3})
	for i := range 6 {
		tag := fmt.Sprintf("app:v%d", i)
		tr.push(tag, image(t, "linux/amd64", []string{"/bin/" + tag}, nil))
		if _, err := r.Lookup(t.Context(), Request{Image: tr.ref(tag)}); err != nil {
			t.Fatal(err)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.tags.len() > 3 || r.configs.len() > 3 {
		t.Errorf("caches hold %d tags and %d configs, want at most 3 each", r.tags.len(), r.configs.len())
	}
}

func TestLRU(t *testing.T) {
	now := time.Unix(0, 0)
	l := newLRU[string, int](2)
	l.add("a", 1, now.Add(time.Minute))
	l.add("b", 2, now.Add(time.Minute))
	if _, ok := l.get("a", now); !ok { // a is now the most recent
		t.Fatal("a missing")
	}
	l.add("c", 3, now.Add(time.Minute)) // evicts b
	if _, ok := l.get("b", now); ok {
		t.Error("b survived eviction")
	}
	if v, ok := l.get("a", now); !ok || v != 1 {
		t.Errorf("a = %d, %v", v, ok)
	}
	if _, ok := l.get("c", now.Add(time.Minute)); ok {
		t.Error("c did not expire")
	}
	if l.len() != 1 {
		t.Errorf("len = %d after expiry, want 1", l.len())
	}
}

// waiters counts the callers waiting for lookups of image.
func (r *Client) waiters(image string) int {
	ref, err := r.parseImage(image)
	if err != nil {
		return 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for k, f := range r.flights {
		if k.ref == ref.Name() {
			n += f.waiters
		}
	}
	return n
}

// waitFor polls cond until it holds, failing the test after 10 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(time.Millisecond)
	}
}

func contextWithCancel(t *testing.T) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	return ctx, cancel
}

// len is how many entries the cache holds.
func (l *lru[K, V]) len() int { return l.order.Len() }
