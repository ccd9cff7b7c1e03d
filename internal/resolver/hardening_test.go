package resolver_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/api/v2beta1"
	"github.com/latchkey-dev/latchkey/internal/devtools/akvemu"
	"github.com/latchkey-dev/latchkey/internal/resolver"
	"github.com/latchkey-dev/latchkey/internal/resolver/protocol"
)

// forger makes tokens a network neighbour can make from one real token it
// saw (or from none): each with a fresh claim, so no cache could answer
// them.
type forger struct {
	t         testing.TB
	real      string
	rsaKey    *rsa.PrivateKey
	ecKey     *ecdsa.PrivateKey
	n         atomic.Int64
	realKeyID string
}

func newForger(t testing.TB, real string) *forger {
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &forger{t: t, real: real, rsaKey: rk, ecKey: ek, realKeyID: kid(t, real)}
}

// forgeryKinds names what next makes, in turn.
var forgeryKinds = []string{"unsigned", "another key under the issuer's key id", "claims changed, signature kept", "an unknown key id"}

// next is the i-th forgery: the real token's claims with a fresh jti.
func (f *forger) next() (kind, token string) {
	i := f.n.Add(1)
	fresh := tampered(f.t, f.real, func(c map[string]any) { c["jti"] = fmt.Sprintf("forged-%d", i) })
	switch kind = forgeryKinds[int(i)%len(forgeryKinds)]; kind {
	case "unsigned":
		return kind, unsignedCopy(f.t, fresh)
	case "another key under the issuer's key id":
		return kind, resign(f.t, fresh, f.rsaKey, f.realKeyID)
	case "claims changed, signature kept":
		return kind, fresh
	default:
		return kind, resign(f.t, fresh, f.ecKey, fmt.Sprintf("kid-%d", i))
	}
}

// send posts body with token to r and returns the status, or 0 when the
// connection failed.
func send(client *http.Client, r *testResolver, token string, body []byte) int {
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, r.url+protocol.ResolvePath, bytes.NewReader(body))
	if err != nil {
		return 0
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode
}

// TestForgedTokenFlood: forged tokens, each with a fresh claim, sent while
// a real pod asks, cost no TokenReview, no pod read and no cache entry: the
// only API calls they can cause are reads of the issuer's keys, at most
// one per interval. Every forgery is refused; the real pod is served.
func TestForgedTokenFlood(t *testing.T) {
	t.Parallel()
	r := newResolver(t, nil)
	w := newWorld(t, r)
	w.akvs("db", vault, "db-password", v2beta1.ObjectTypeSecret)
	p := w.pod("web-1", app("app", "DB", "db@azurekeyvault"))
	real := token(t, p, audience)
	f := newForger(t, real)
	body, _ := json.Marshal(protocol.Request{Container: "app", Env: dbEnv})
	// A first request starts the informers it reads from.
	if a := ask(t, r, real, "app", dbEnv); a.status != http.StatusOK {
		t.Fatalf("warm-up: %d %s", a.status, a.raw)
	}
	calls, reviews, gets, keys := r.apiCalls.Load(), r.reviews.Load(), r.podGets.Load(), r.keyReads.Load()

	const forgeries = 800
	statuses := make(chan string, forgeries)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range forgeries / 8 {
				kind, tok := f.next()
				statuses <- fmt.Sprintf("%s: %d", kind, send(suite.pki.client, r, tok, body))
			}
		})
	}
	var served int
	for range 10 {
		if a := ask(t, r, real, "app", dbEnv); a.status == http.StatusOK && a.env["DB"] == dbPassword {
			served++
		}
	}
	wg.Wait()
	close(statuses)
	for s := range statuses {
		unknownKeyWait := strings.HasPrefix(s, "an unknown key id") && strings.HasSuffix(s, ": 503")
		if !strings.HasSuffix(s, ": 401") && !unknownKeyWait {
			t.Errorf("a forgery answered %s, want 401 (or 503 for an unknown key id, read at most once per interval)", s)
		}
	}
	if served != 10 {
		t.Errorf("the real pod was served %d times of 10 during the flood", served)
	}
	if n := r.reviews.Load() - reviews; n != 0 {
		t.Errorf("%d TokenReviews, want 0", n)
	}
	if n := r.keyReads.Load() - keys; n > 2 {
		t.Errorf("%d reads of the issuer's documents for %d forgeries, want at most 2 (one read of discovery and keys)", n, forgeries)
	}
	podGets := r.podGets.Load() - gets
	if podGets > 10 {
		t.Errorf("%d pod reads, want at most the real pod's 10", podGets)
	}
	if n := r.apiCalls.Load() - calls; n != podGets+r.keyReads.Load()-keys {
		t.Errorf("%d API calls, want only the real pod's reads and the key reads", n)
	}
	if v := metric(t, r.registry, "latchkey_resolver_token_reviews_total"); v != 0 {
		t.Errorf("the review cache was used %v times, want 0", v)
	}
}

// heapWatch samples the heap in use while a test runs and reports its
// growth over the start.
type heapWatch struct {
	base, peak atomic.Uint64
	stop       chan struct{}
	done       sync.WaitGroup
}

func watchHeap() *heapWatch {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	h := &heapWatch{stop: make(chan struct{})}
	h.base.Store(m.HeapInuse)
	h.done.Go(func() {
		for {
			select {
			case <-h.stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			if m.HeapInuse > h.peak.Load() {
				h.peak.Store(m.HeapInuse)
			}
		}
	})
	return h
}

// growth stops the sampling and returns the peak growth in MiB.
func (h *heapWatch) growth() float64 {
	close(h.stop)
	h.done.Wait()
	if h.peak.Load() < h.base.Load() {
		return 0
	}
	return float64(h.peak.Load()-h.base.Load()) / (1 << 20)
}

// TestBoundedInputs: what one injected pod sends is bounded before it is
// parsed: oversized bodies, more variables than allowed or than its
// container's env holds, malformed bodies; and many such requests at once
// leave the resolver (this whole test process) within a memory bound while
// another namespace's pod is served throughout.
func TestBoundedInputs(t *testing.T) {
	t.Parallel()
	r := newResolver(t, func(c *resolver.Config) { c.RateLimit, c.RateBurst = 1e6, 1_000_000 })
	w := newWorld(t, r)
	w.akvs("db", vault, "db-password", v2beta1.ObjectTypeSecret)
	p := w.pod("web-1", app("app", "DB", "db@azurekeyvault"))
	tok := token(t, p, audience)

	var manyVars bytes.Buffer // 2,000 variables, 60 KB: under the size bound
	manyVars.WriteString(`{"container":"app","env":{`)
	for i := range 2000 {
		if i > 0 {
			manyVars.WriteByte(',')
		}
		fmt.Fprintf(&manyVars, `"V%d":"db@azurekeyvault"`, i)
	}
	manyVars.WriteString(`}}`)
	huge := append([]byte(`{"container":"app","env":{"DB":"`), bytes.Repeat([]byte("x"), 4<<20)...) // 4 MiB
	huge = append(huge, `"}}`...)
	var flood bytes.Buffer // 1 MiB of 40,000 variables
	flood.WriteString(`{"container":"app","env":{`)
	for i := 0; flood.Len() < 1<<20-64; i++ {
		if i > 0 {
			flood.WriteByte(',')
		}
		fmt.Fprintf(&flood, `"V%d":"db@azurekeyvault"`, i)
	}
	flood.WriteString(`}}`)
	var envVars []string
	for _, e := range p.Spec.Containers[0].Env {
		envVars = append(envVars, e.Name)
	}
	moreThanEnv := map[string]string{}
	for i := range len(envVars) + 1 {
		moreThanEnv[fmt.Sprintf("V%d", i)] = "db@azurekeyvault"
	}
	moreThanEnvBody, _ := json.Marshal(protocol.Request{Container: "app", Env: moreThanEnv})

	for _, tt := range []struct {
		name   string
		body   []byte
		status int
	}{
		{"a 4 MiB body", huge, http.StatusRequestEntityTooLarge},
		{"1 MiB of variables", flood.Bytes(), http.StatusRequestEntityTooLarge},
		{"2,000 variables", manyVars.Bytes(), http.StatusRequestEntityTooLarge},
		{"more variables than the container's env holds", moreThanEnvBody, http.StatusBadRequest},
		{"an unknown field", []byte(`{"container":"app","env":{"DB":"db@azurekeyvault"},"pod":"other"}`), http.StatusBadRequest},
		{"a variable twice", []byte(`{"container":"app","env":{"DB":"db@azurekeyvault","DB":"db@azurekeyvault"}}`), http.StatusBadRequest},
		{"data after the request", []byte(`{"container":"app","env":{"DB":"db@azurekeyvault"}} {}`), http.StatusBadRequest},
		{"a value not a string", []byte(`{"container":"app","env":{"DB":{"nested":[1,2,3]}}}`), http.StatusBadRequest},
	} {
		// 0: the server closed the connection while the client was still
		// sending what it had refused.
		got := send(suite.pki.client, r, tok, tt.body)
		closedEarly := got == 0 && len(tt.body) > protocol.MaxRequestBytes
		if got != tt.status && !closedEarly {
			t.Errorf("%s: %d, want %d", tt.name, got, tt.status)
		}
	}

	// All at once, 40 clients 10 times each, while another pod asks.
	other := newWorld(t, r)
	other.akvs("db", vault, "db-password", v2beta1.ObjectTypeSecret)
	otherTok := token(t, other.pod("web-1", app("app", "DB", "db@azurekeyvault")), audience)
	heap := watchHeap()
	var wg sync.WaitGroup
	var refused atomic.Int64
	for i := range 40 {
		body := [][]byte{flood.Bytes(), manyVars.Bytes()}[i%2]
		wg.Go(func() {
			for range 10 {
				// Too large, or (a loaded machine) cut off while still
				// sending, timed out reading, or over the in-flight bound:
				// refused all the same; never served, never a 500.
				switch s := send(suite.pki.client, r, tok, body); s {
				case http.StatusRequestEntityTooLarge, 0, http.StatusRequestTimeout, http.StatusServiceUnavailable, http.StatusTooManyRequests:
					refused.Add(1)
				default:
					t.Errorf("an oversized request: %d", s)
				}
			}
		})
	}
	var served int
	for range 20 {
		if a := ask(t, r, otherTok, "app", dbEnv); a.status == http.StatusOK {
			served++
		}
	}
	wg.Wait()
	growth := heap.growth()
	if served != 20 {
		t.Errorf("the other pod was served %d times of 20", served)
	}
	if n := refused.Load(); n != 400 {
		t.Errorf("%d of 400 oversized requests refused", n)
	}
	// Generous: bounded, each request holds at most 128 KiB of body and
	// 1,000 variables; unbounded, 20 decodings of 40,000 variables at once
	// exceed it.
	if growth > 64 {
		t.Errorf("the heap grew by %.0f MiB during the attack, want at most 64", growth)
	}
	t.Logf("heap growth during the attack: %.1f MiB", growth)
}

// TestSlowClients: a client that trickles its headers or its body is cut
// off (the server's read timeouts, here shortened), and others are served
// meanwhile.
func TestSlowClients(t *testing.T) {
	t.Parallel()
	r := newResolver(t, func(c *resolver.Config) {
		c.Server = resolver.ServerTimeouts{ReadHeader: time.Second, Read: 3 * time.Second, Body: time.Second}
	})
	w := newWorld(t, r)
	w.akvs("db", vault, "db-password", v2beta1.ObjectTypeSecret)
	p := w.pod("web-1", app("app", "DB", "db@azurekeyvault"))
	tok := token(t, p, audience)
	addr := strings.TrimPrefix(r.url, "https://")

	// trickle writes head at once, then rest a byte every 100 ms until the
	// server answers or closes; it returns the answer's status line, or ""
	// for a closed connection.
	trickle := func(head, rest string) string {
		conn, err := tlsDial(addr)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = conn.Close() }()
		if _, err := io.WriteString(conn, head); err != nil {
			t.Fatal(err)
		}
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				case <-time.After(100 * time.Millisecond):
				}
				if _, err := io.WriteString(conn, string(rest[i%len(rest)])); err != nil {
					return
				}
			}
		}()
		// A hang guard, far above the timeouts under test.
		_ = conn.SetReadDeadline(time.Now().Add(time.Minute))
		line, err := bufio.NewReader(conn).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			t.Fatalf("no answer and no close: %v", err)
		}
		return strings.TrimSpace(line)
	}
	results := make(chan string, 2)
	go func() {
		results <- "headers: " + trickle("POST "+protocol.ResolvePath+" HTTP/1.1\r\nHost: resolver\r\n", "X-Slow: aaaa\r\n")
	}()
	go func() {
		results <- "body: " + trickle("POST "+protocol.ResolvePath+" HTTP/1.1\r\nHost: resolver\r\nAuthorization: Bearer "+tok+
			"\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"container\":\"app\",\"env\":{", "          ")
	}()
	for range 5 {
		if a := ask(t, r, tok, "app", dbEnv); a.status != http.StatusOK {
			t.Errorf("while slow clients are connected: %d %s", a.status, a.raw)
		}
	}
	for range 2 {
		switch got := <-results; {
		case got == "headers: " || strings.HasPrefix(got, "headers: HTTP/1.1 408"):
		case got == "body: " || strings.HasPrefix(got, "body: HTTP/1.1 408"):
		default:
			t.Errorf("a slow client got %q, want the connection closed or 408", got)
		}
	}
}

// TestClientGoneAway: a request whose client disconnects stops at once,
// although what it waits for (a Key Vault read, here of minutes) has not
// answered: its slot is free again.
func TestClientGoneAway(t *testing.T) {
	t.Parallel()
	if err := suite.emu.Faults().Set(slowVault, akvemu.FaultConfig{Rules: []akvemu.FaultRule{{Operation: "GetSecret", Latency: 5 * time.Minute}}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = suite.emu.Faults().Set(slowVault, akvemu.FaultConfig{}) })
	r := newResolver(t, func(c *resolver.Config) { c.RequestTimeout = 10 * time.Minute })
	w := newWorld(t, r)
	w.akvs("slow", slowVault, "slow", v2beta1.ObjectTypeSecret)
	w.akvs("db", vault, "db-password", v2beta1.ObjectTypeSecret)
	p := w.pod("web-1", app("app", "SLOW", "slow@azurekeyvault"), app("fast", "DB", "db@azurekeyvault"))
	tok := token(t, p, audience)
	// A first request starts the informers it reads from.
	if a := ask(t, r, tok, "fast", dbEnv); a.status != http.StatusOK {
		t.Fatalf("warm-up: %d %s", a.status, a.raw)
	}
	body, _ := json.Marshal(protocol.Request{Container: "app", Env: map[string]string{"SLOW": "slow@azurekeyvault"}})
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.url+protocol.ResolvePath, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	done := make(chan error, 1)
	go func() {
		resp, err := suite.pki.client.Do(req)
		if err == nil {
			_ = resp.Body.Close()
		}
		done <- err
	}()
	inFlight := func() float64 { return metric(t, r.registry, "latchkey_resolver_requests_in_flight") }
	eventually(t, func() error {
		if n := inFlight(); n != 1 {
			return fmt.Errorf("%v requests in flight, want 1", n)
		}
		return nil
	})
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("the client: %v", err)
	}
	eventually(t, func() error {
		if n := inFlight(); n != 0 {
			return fmt.Errorf("%v requests in flight after the client left, want 0", n)
		}
		return nil
	})
	logged(t, r, map[string]any{"msg": "request failed", "namespace": w.ns, "pod": "web-1", "code": protocol.CodeKeyVaultUnavailable})
}
