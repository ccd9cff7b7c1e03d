package imageconfig

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// marker is in everything the hostile registry says: no message may
// repeat it.
const marker = "HOSTILE-MARKER-10.99.88.77"

// memoryBound is how much a lookup may allocate, however hostile the
// registry (a generous bound: a lookup reads at most a 4 MiB manifest and a
// 4 MiB config).
const memoryBound = 64 << 20

// liar is a hostile registry: it answers the paths it has routes for and
// hands the rest to the in-memory registry behind it.
type liar struct {
	inner http.Handler

	mu     sync.Mutex
	routes map[string]http.HandlerFunc
	hits   map[string]int
}

func newLiar(tr *testRegistry) *liar {
	l := &liar{inner: tr.front.inner, routes: map[string]http.HandlerFunc{}, hits: map[string]int{}}
	tr.front.inner = l
	return l
}

func (l *liar) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	l.mu.Lock()
	h := l.routes[r.URL.Path]
	l.hits[r.URL.Path]++
	l.mu.Unlock()
	if h == nil {
		l.inner.ServeHTTP(w, r)
		return
	}
	h(w, r)
}

func (l *liar) route(path string, h http.HandlerFunc) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.routes[path] = h
}

func (l *liar) hitsOf(path string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.hits[path]
}

// filler reads prefix, then fill bytes up to n in all, without holding
// them.
type filler struct {
	prefix []byte
	n      int64
	fill   byte
}

func (f *filler) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), f.n)]
	k := copy(p, f.prefix)
	f.prefix = f.prefix[k:]
	for i := k; i < len(p); i++ {
		p[i] = f.fill
	}
	f.n -= int64(len(p))
	return len(p), nil
}

// stream answers n bytes: prefix, then fill (chunked, no Content-Length
// unless headers say one).
func stream(mediaType string, prefix string, n int64, headers ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", mediaType)
		for i := 0; i+1 < len(headers); i += 2 {
			w.Header().Set(headers[i], headers[i+1])
		}
		_, _ = io.Copy(w, &filler{prefix: []byte(prefix), n: n, fill: 'a'})
	}
}

// serve answers body as mediaType.
func serve(mediaType string, body []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", mediaType)
		_, _ = w.Write(body)
	}
}

// manifestWith is an OCI image manifest whose config descriptor is cfg.
func manifestWith(cfg v1.Descriptor) []byte {
	b, _ := json.Marshal(v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1, Config: cfg, Layers: []v1.Descriptor{}})
	return b
}

// indexOf is an OCI index of manifests.
func indexOf(manifests ...v1.Descriptor) []byte {
	b, _ := json.Marshal(v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: manifests})
	return b
}

func digestOf(t *testing.T, b []byte) v1.Hash {
	t.Helper()
	h, _, err := v1.SHA256(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// bombs caches gzipBomb's answers: compressing 64 MiB takes seconds with
// the race detector.
var bombs sync.Map

// gzipBomb is prefix and fill up to n bytes, gzipped (about n/1000 bytes).
func gzipBomb(t *testing.T, prefix string, n int64) []byte {
	t.Helper()
	key := fmt.Sprint(prefix, n)
	if b, ok := bombs.Load(key); ok {
		return b.([]byte)
	}
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(zw, &filler{prefix: []byte(prefix), n: n, fill: ' '}); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	bombs.Store(key, buf.Bytes())
	return buf.Bytes()
}

// allocated is how many bytes the process allocated while f ran.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// hostileCase is one way a registry attacks the lookup: routes for the
// paths under /v2/<repo>/, what the lookup must answer, and the paths it
// must never fetch.
type hostileCase struct {
	name   string
	routes func(t *testing.T, repo string, l *liar)
	// timeout, when set, bounds the lookup's context.
	timeout time.Duration
	want    error
	wantIn  string
	// never are paths (under /v2/<repo>/) the lookup must not request.
	never []string
}

// hostileCases attack every input the lookup reads.
func hostileCases() []hostileCase {
	const gib = 1 << 30
	cfgDigest := "sha256:" + strings.Repeat("c", 64)
	manifest := func(repo string) string { return "/v2/" + repo + "/manifests/v1" }
	blob := func(repo, digest string) string { return "/v2/" + repo + "/blobs/" + digest }
	withConfig := func(size int64, h http.HandlerFunc) func(*testing.T, string, *liar) {
		return func(t *testing.T, repo string, l *liar) {
			d, _ := v1.NewHash(cfgDigest)
			l.route(manifest(repo), serve(string(types.OCIManifestSchema1), manifestWith(v1.Descriptor{MediaType: types.OCIConfigJSON, Size: size, Digest: d})))
			l.route(blob(repo, cfgDigest), h)
		}
	}
	return []hostileCase{
		{
			name:   "config declared 1 GiB",
			routes: withConfig(gib, stream("application/json", `{"config":{"Cmd":["`, gib)),
			want:   ErrTooLarge, wantIn: "image config is declared larger than the webhook reads (4 MiB)",
			never: []string{"blobs/" + cfgDigest},
		},
		{
			name:   "config declared 1 KiB, served 1 GiB",
			routes: withConfig(1<<10, stream("application/json", `{"config":{"Cmd":["`, gib)),
			want:   ErrRegistry, wantIn: "image config that does not match its size",
		},
		{
			name:   "config declared 4 MiB, served 1 GiB",
			routes: withConfig(maxConfigBytes, stream("application/json", `{"config":{"Cmd":["`, gib)),
			want:   ErrTooLarge, wantIn: "image config is larger than the webhook reads (4 MiB)",
		},
		{
			name:   "config with a Content-Length of 1 GiB",
			routes: withConfig(1<<10, stream("application/json", `{"config":{"Cmd":["`, 1<<20, "Content-Length", strconv.Itoa(gib))),
			want:   ErrTooLarge, wantIn: "image config is declared larger than the webhook reads (4 MiB)",
		},
		{
			name: "config gzip bomb",
			routes: func(t *testing.T, repo string, l *liar) {
				bomb := gzipBomb(t, `{"config":{"Cmd":["`, 64<<20)
				withConfig(maxConfigBytes, func(w http.ResponseWriter, _ *http.Request) {
					w.Header().Set("Content-Encoding", "gzip")
					_, _ = w.Write(bomb)
				})(t, repo, l)
			},
			want: ErrTooLarge, wantIn: "image config (inflated) is larger than the webhook reads (4 MiB)",
		},
		{
			name: "manifest of 1 GiB",
			routes: func(_ *testing.T, repo string, l *liar) {
				l.route(manifest(repo), stream(string(types.OCIManifestSchema1), `{"schemaVersion":2,"config":{"digest":"`, gib))
			},
			want: ErrTooLarge, wantIn: "image manifest is larger than the webhook reads (4 MiB)",
		},
		{
			name: "manifest with a Content-Length of 1 GiB",
			routes: func(_ *testing.T, repo string, l *liar) {
				l.route(manifest(repo), stream(string(types.OCIManifestSchema1), `{"schemaVersion":2,"config":{"digest":"`, 1<<20, "Content-Length", strconv.Itoa(gib)))
			},
			want: ErrTooLarge, wantIn: "image manifest is declared larger than the webhook reads (4 MiB)",
		},
		{
			name: "manifest gzip bomb",
			routes: func(t *testing.T, repo string, l *liar) {
				bomb := gzipBomb(t, `{"schemaVersion":2,"config":{"digest":"`, 64<<20)
				l.route(manifest(repo), func(w http.ResponseWriter, _ *http.Request) {
					w.Header().Set("Content-Type", string(types.OCIManifestSchema1))
					w.Header().Set("Content-Encoding", "gzip")
					_, _ = w.Write(bomb)
				})
			},
			want: ErrTooLarge, wantIn: "image manifest (inflated) is larger than the webhook reads (4 MiB)",
		},
		{
			name: "manifest in an encoding the webhook does not read",
			routes: func(_ *testing.T, repo string, l *liar) {
				l.route(manifest(repo), stream(string(types.OCIManifestSchema1), "", 1<<20, "Content-Encoding", "br"))
			},
			want: ErrRegistry, wantIn: "content encoding the webhook does not read",
		},
		{
			name: "slow manifest",
			routes: func(_ *testing.T, repo string, l *liar) {
				l.route(manifest(repo), func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Content-Type", string(types.OCIManifestSchema1))
					for {
						if _, err := w.Write([]byte(" ")); err != nil {
							return
						}
						w.(http.Flusher).Flush()
						select {
						case <-r.Context().Done():
							return
						case <-time.After(20 * time.Millisecond):
						}
					}
				})
			},
			timeout: 500 * time.Millisecond,
			want:    ErrTimeout, wantIn: "did not answer before the lookup deadline",
		},
		{
			name: "endless redirects",
			routes: func(_ *testing.T, repo string, l *liar) {
				l.route(manifest(repo), func(w http.ResponseWriter, r *http.Request) {
					n, _ := strconv.Atoi(r.URL.Query().Get("n"))
					http.Redirect(w, r, fmt.Sprintf("%s?n=%d", r.URL.Path, n+1), http.StatusFound)
				})
			},
			want: ErrRegistry, wantIn: "redirected the webhook more than 5 times",
		},
		{
			name: "header of 1 MiB",
			routes: func(_ *testing.T, repo string, l *liar) {
				l.route(manifest(repo), stream(string(types.OCIManifestSchema1), "{}", 2, "X-Junk", marker+strings.Repeat("a", 1<<20)))
			},
			want: ErrRegistry, wantIn: "could not be used",
		},
		{
			name: "index of 2000 manifests",
			routes: func(t *testing.T, repo string, l *liar) {
				ms := make([]v1.Descriptor, 2000)
				for i := range ms {
					ms[i] = v1.Descriptor{MediaType: types.OCIManifestSchema1, Size: 1000, Digest: digestOf(t, []byte(strconv.Itoa(i))),
						Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}
				}
				l.route(manifest(repo), serve(string(types.OCIImageIndex), indexOf(ms...)))
			},
			want: ErrTooLarge, wantIn: "lists 2000 manifests, more than the webhook reads (1024)",
		},
		{
			name: "index child declared 1 GiB",
			routes: func(t *testing.T, repo string, l *liar) {
				d := digestOf(t, []byte("child"))
				l.route(manifest(repo), serve(string(types.OCIImageIndex), indexOf(v1.Descriptor{
					MediaType: types.OCIManifestSchema1, Size: gib, Digest: d, Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}})))
				l.route("/v2/"+repo+"/manifests/"+d.String(), stream(string(types.OCIManifestSchema1), "{", gib))
			},
			want: ErrTooLarge, wantIn: "image manifest is declared larger than the webhook reads (4 MiB)",
			never: []string{"manifests/" + digestOfString("child")},
		},
		{
			name: "index child that is an index",
			routes: func(t *testing.T, repo string, l *liar) {
				inner := indexOf()
				d := digestOf(t, inner)
				l.route(manifest(repo), serve(string(types.OCIImageIndex), indexOf(v1.Descriptor{
					MediaType: types.OCIManifestSchema1, Size: int64(len(inner)), Digest: d, Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}})))
				l.route("/v2/"+repo+"/manifests/"+d.String(), serve(string(types.OCIImageIndex), inner))
			},
			want: ErrRegistry, wantIn: "not a container image (something else than the image manifest its index lists)",
		},
		{
			name: "ENTRYPOINT of 1 MiB",
			routes: func(t *testing.T, repo string, l *liar) {
				cfg := []byte(`{"config":{"Entrypoint":["` + strings.Repeat("a", 1<<20) + `"]}}`)
				d := digestOf(t, cfg)
				l.route(manifest(repo), serve(string(types.OCIManifestSchema1), manifestWith(v1.Descriptor{MediaType: types.OCIConfigJSON, Size: int64(len(cfg)), Digest: d})))
				l.route(blob(repo, d.String()), serve("application/octet-stream", cfg))
			},
			want: ErrTooLarge, wantIn: "ENTRYPOINT, CMD, USER or WORKDIR in the image config is larger than the webhook reads (64 KiB)",
		},
		{
			name: "config of the wrong digest",
			routes: func(t *testing.T, repo string, l *liar) {
				cfg := []byte(`{"config":{"Entrypoint":["/bin/sh"]}}`)
				d := digestOf(t, []byte("something else"))
				l.route(manifest(repo), serve(string(types.OCIManifestSchema1), manifestWith(v1.Descriptor{MediaType: types.OCIConfigJSON, Size: int64(len(cfg)), Digest: d})))
				l.route(blob(repo, d.String()), serve("application/octet-stream", cfg))
			},
			want: ErrRegistry, wantIn: "image config that does not match its digest",
		},
		{
			name: "media type of 1 MiB",
			routes: func(t *testing.T, repo string, l *liar) {
				l.route(manifest(repo), serve(string(types.OCIManifestSchema1), manifestWith(v1.Descriptor{
					MediaType: types.MediaType(marker + strings.Repeat("\x1b[31m", 1<<18)), Size: 10, Digest: digestOf(t, nil)})))
			},
			want: ErrRegistry, wantIn: "not a container image (a media type the webhook does not know)",
		},
		{
			name: "index of platforms of its own words",
			routes: func(t *testing.T, repo string, l *liar) {
				ms := []v1.Descriptor{
					{MediaType: types.OCIManifestSchema1, Size: 10, Digest: digestOf(t, nil), Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}},
					{MediaType: types.OCIManifestSchema1, Size: 10, Digest: digestOf(t, nil), Platform: &v1.Platform{OS: "linux", Architecture: marker}},
					{MediaType: types.OCIManifestSchema1, Size: 10, Digest: digestOf(t, nil), Platform: &v1.Platform{OS: "linux", Architecture: "arm", Variant: marker}},
				}
				l.route(manifest(repo), serve(string(types.OCIImageIndex), indexOf(ms...)))
			},
			want: ErrNoMatchingPlatform, wantIn: "it has only linux/arm64 and platforms the webhook does not know",
		},
		{
			name: "error answer of 1 MiB",
			routes: func(_ *testing.T, repo string, l *liar) {
				l.route(manifest(repo), func(w http.ResponseWriter, _ *http.Request) {
					w.WriteHeader(http.StatusNotFound)
					_, _ = io.Copy(w, &filler{prefix: []byte(`{"errors":[{"code":"MANIFEST_UNKNOWN","message":"` + marker), n: 1 << 20, fill: 'a'})
				})
			},
			want: ErrTooLarge, wantIn: "answer to a ping, token or failed request is larger than the webhook reads (64 KiB)",
		},
		{
			name: "error answer with codes and messages of its own",
			routes: func(_ *testing.T, repo string, l *liar) {
				l.route(manifest(repo), func(w http.ResponseWriter, _ *http.Request) {
					w.Header().Set("Content-Type", "application/json")
					w.WriteHeader(http.StatusNotFound)
					_, _ = fmt.Fprintf(w, `{"errors":[{"code":"MANIFEST_UNKNOWN","message":%q},{"code":%q}]}`, marker, marker)
				})
			},
			want: ErrNotFound, wantIn: "HTTP 404 MANIFEST_UNKNOWN)",
		},
	}
}

func digestOfString(s string) string {
	h, _, _ := v1.SHA256(strings.NewReader(s))
	return h.String()
}

// TestHostileRegistry: every way a registry can lie is refused with a
// clear error that repeats none of the registry's words, within the memory
// bound, and the same Resolver serves a good image right after.
func TestHostileRegistry(t *testing.T) {
	tr := newTestRegistry(t, registryOpts{})
	tr.push("good/app:v1", image(t, "linux/amd64", []string{"/bin/app"}, []string{"serve"}))
	l := newLiar(tr)
	r := newResolver(t, tr, Options{Timeout: 5 * time.Second, NegativeTTL: -1})

	for i, tc := range hostileCases() {
		t.Run(tc.name, func(t *testing.T) {
			repo := fmt.Sprintf("hostile/case%d", i)
			tc.routes(t, repo, l)
			ctx := t.Context()
			if tc.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.timeout)
				defer cancel()
			}
			image := tr.ref(repo + ":v1")
			var err error
			grew := allocated(func() { _, err = r.Lookup(ctx, Request{Image: image, Platform: linuxAMD64}) })
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.wantIn) {
				t.Errorf("message %q does not say %q", msg, tc.wantIn)
			}
			checkMessage(t, msg, image)
			if grew > memoryBound {
				t.Errorf("the lookup allocated %d MiB, more than %d MiB", grew>>20, memoryBound>>20)
			}
			t.Logf("allocated %.1f MiB", float64(grew)/(1<<20))
			for _, p := range tc.never {
				if n := l.hitsOf("/v2/" + repo + "/" + p); n > 0 {
					t.Errorf("%s was requested %d times; its declared size should have stopped the lookup", p, n)
				}
			}

			res, err := r.Lookup(t.Context(), Request{Image: tr.ref("good/app:v1"), Platform: linuxAMD64})
			if err != nil || !slices.Equal(res.Entrypoint, []string{"/bin/app"}) {
				t.Fatalf("a good image after the hostile one: %+v, %v", res, err)
			}
		})
	}
}

// checkMessage fails when an admission message says more than the class
// and the registry as the pod named it.
func checkMessage(t *testing.T, msg, image string) {
	t.Helper()
	if !strings.Contains(msg, image) {
		t.Errorf("message %q does not name the image %q", msg, image)
	}
	for _, s := range []string{"HOSTILE", "10.99.88.77", "\x1b"} {
		if strings.Contains(msg, s) {
			t.Errorf("message repeats the registry's words (%q): %.300q", s, msg)
		}
	}
	if len(msg) > 1000 {
		t.Errorf("message of %d bytes: %.300q…", len(msg), msg)
	}
}

// TestHostileTokenService: a token service's answer is bounded too.
func TestHostileTokenService(t *testing.T) {
	tr := newTestRegistry(t, registryOpts{mode: authBearer})
	tr.front.users["bob"] = "hunter2-long"
	tr.push("private/app:v1", image(t, "linux/amd64", []string{"/bin/app"}, nil))
	secrets := []PullSecret{{Name: "regcred", Type: SecretTypeDockerConfigJSON, Data: dockerConfigJSON(tr.host, "bob", "hunter2-long")}}
	bomb := gzipBomb(t, `{"token":"`+marker, 64<<20)

	for _, tc := range []struct {
		name   string
		token  http.HandlerFunc
		want   error
		wantIn string
	}{
		{"token of 1 GiB", stream("application/json", `{"token":"`+marker, 1<<30), ErrTooLarge, "answer to a ping, token or failed request is larger than the webhook reads (64 KiB)"},
		{"token with a Content-Length of 1 GiB", stream("application/json", `{"token":"`+marker, 1<<20, "Content-Length", strconv.Itoa(1<<30)), ErrTooLarge, "declared larger than the webhook reads (64 KiB)"},
		{"token gzip bomb", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Encoding", "gzip")
			_, _ = w.Write(bomb)
		}, ErrTooLarge, "(inflated) is larger than the webhook reads (64 KiB)"},
		{"token service failing with its own words", func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusForbidden)
			_, _ = io.WriteString(w, `{"errors":[{"code":"DENIED","message":"`+marker+`"}]}`)
		}, ErrUnauthorized, "HTTP 403 DENIED"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newResolver(t, tr, Options{NegativeTTL: -1, TagTTL: time.Nanosecond})
			tr.front.token = tc.token
			var err error
			grew := allocated(func() {
				_, err = r.Lookup(t.Context(), Request{Image: tr.ref("private/app:v1"), Platform: linuxAMD64, PullSecrets: secrets})
			})
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.wantIn) {
				t.Fatalf("err = %v, want %v saying %q", err, tc.want, tc.wantIn)
			}
			checkMessage(t, err.Error(), tr.ref("private/app:v1"))
			if grew > memoryBound {
				t.Errorf("the lookup allocated %d MiB, more than %d MiB", grew>>20, memoryBound>>20)
			}
			tr.front.token = nil
			if _, err := r.Lookup(t.Context(), Request{Image: tr.ref("private/app:v1"), Platform: linuxAMD64, PullSecrets: secrets}); err != nil {
				t.Fatalf("with the token service fixed: %v", err)
			}
		})
	}
}

// TestLookupReadsGzipAnswers: a registry that compresses although asked
// not to is still read (within the limits).
func TestLookupReadsGzipAnswers(t *testing.T) {
	tr := newTestRegistry(t, registryOpts{})
	tr.push("app:v1", image(t, "linux/amd64", []string{"/bin/app"}, nil))
	inner := tr.front.inner
	tr.front.inner = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.Contains(r.URL.Path, "/manifests/") && !strings.Contains(r.URL.Path, "/blobs/") {
			inner.ServeHTTP(w, r)
			return
		}
		if got := r.Header.Get("Accept-Encoding"); got != "identity" {
			t.Errorf("Accept-Encoding = %q, want identity", got)
		}
		rec := &recorder{header: http.Header{}}
		inner.ServeHTTP(rec, r)
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		_, _ = zw.Write(rec.body.Bytes())
		_ = zw.Close()
		for k, v := range rec.header {
			w.Header()[k] = v
		}
		w.Header().Del("Content-Length")
		w.Header().Set("Content-Encoding", "gzip")
		w.WriteHeader(rec.status)
		_, _ = w.Write(buf.Bytes())
	})
	r := newResolver(t, tr, Options{})
	res, err := r.Lookup(t.Context(), Request{Image: tr.ref("app:v1"), Platform: linuxAMD64})
	if err != nil || !slices.Equal(res.Entrypoint, []string{"/bin/app"}) {
		t.Fatalf("Lookup = %+v, %v", res, err)
	}
}

type recorder struct {
	header http.Header
	body   bytes.Buffer
	status int
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) Write(b []byte) (int, error) { return r.body.Write(b) }
func (r *recorder) WriteHeader(s int)           { r.status = s }

// slowRegistry answers manifests of the repositories under slow/ one byte
// at a time until the client leaves, and counts those in progress.
func slowRegistry(tr *testRegistry) *atomic.Int64 {
	var inFlight atomic.Int64
	inner := tr.front.inner
	tr.front.inner = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/v2/slow/") {
			inner.ServeHTTP(w, r)
			return
		}
		inFlight.Add(1)
		defer inFlight.Add(-1)
		w.Header().Set("Content-Type", string(types.OCIManifestSchema1))
		for {
			if _, err := w.Write([]byte(" ")); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	})
	return &inFlight
}

// TestLookupServesOthersDuringSlowRegistries: lookups held by a slow
// registry leave room for others.
func TestLookupServesOthersDuringSlowRegistries(t *testing.T) {
	tr := newTestRegistry(t, registryOpts{})
	tr.push("good/app:v1", image(t, "linux/amd64", []string{"/bin/app"}, nil))
	inFlight := slowRegistry(tr)
	r := newResolver(t, tr, Options{Timeout: 3 * time.Second})

	var wg sync.WaitGroup
	for i := range DefaultMaxConcurrentLookups - 1 {
		wg.Go(func() {
			_, err := r.Lookup(t.Context(), Request{Image: tr.ref(fmt.Sprintf("slow/app%d:v1", i))})
			if !errors.Is(err, ErrTimeout) {
				t.Errorf("slow registry: err = %v, want ErrTimeout", err)
			}
		})
	}
	waitFor(t, func() bool { return inFlight.Load() == DefaultMaxConcurrentLookups-1 })
	res, err := r.Lookup(t.Context(), Request{Image: tr.ref("good/app:v1")})
	if err != nil || !slices.Equal(res.Entrypoint, []string{"/bin/app"}) {
		t.Fatalf("good image while slow lookups run: %+v, %v", res, err)
	}
	if n := inFlight.Load(); n != DefaultMaxConcurrentLookups-1 {
		t.Errorf("%d slow lookups in flight when the good one returned, want %d", n, DefaultMaxConcurrentLookups-1)
	}
	wg.Wait()
}

// TestLookupConcurrencyIsBounded: no more than MaxConcurrentLookups talk
// to registries at once; the others wait within their deadline, then fail
// saying the webhook was busy.
func TestLookupConcurrencyIsBounded(t *testing.T) {
	tr := newTestRegistry(t, registryOpts{})
	inFlight := slowRegistry(tr)
	r := newResolver(t, tr, Options{MaxConcurrentLookups: 2, Timeout: 2 * time.Second})

	var wg sync.WaitGroup
	for i := range 2 {
		wg.Go(func() { _, _ = r.Lookup(t.Context(), Request{Image: tr.ref(fmt.Sprintf("slow/app%d:v1", i))}) })
	}
	waitFor(t, func() bool { return inFlight.Load() == 2 })
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	_, err := r.Lookup(ctx, Request{Image: tr.ref("slow/third:v1")})
	if !errors.Is(err, ErrTimeout) {
		t.Errorf("third lookup: err = %v, want ErrTimeout", err)
	}
	if n := inFlight.Load(); n != 2 {
		t.Errorf("%d lookups at the registry, want at most 2", n)
	}
	wg.Wait()
}

// TestLookupFailuresDoNotHoldAnswers: a cached failure keeps its words,
// not the registry's answer (a 64 KiB error body per tag would otherwise
// stay in memory for every tag a pod names).
func TestLookupFailuresDoNotHoldAnswers(t *testing.T) {
	tr := newTestRegistry(t, registryOpts{})
	inner := tr.front.inner
	body := `{"errors":[{"code":"MANIFEST_UNKNOWN","message":"` + strings.Repeat("a", 60<<10) + `"}]}`
	tr.front.inner = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.Contains(r.URL.Path, "/manifests/") {
			inner.ServeHTTP(w, r)
			return
		}
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, body)
	})
	r := newResolver(t, tr, Options{NegativeTTL: time.Hour})
	const n = 200
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range n {
		if _, err := r.Lookup(t.Context(), Request{Image: tr.ref(fmt.Sprintf("app:v%d", i))}); !errors.Is(err, ErrNotFound) {
			t.Fatalf("err = %v, want ErrNotFound", err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	r.mu.Lock()
	cached := r.failures.len()
	r.mu.Unlock()
	if cached != n {
		t.Fatalf("%d failures cached, want %d", cached, n)
	}
	// Holding the answers would be n × 60 KiB = 12 MiB.
	if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 4<<20 {
		t.Errorf("%d cached failures hold %d KiB", n, grew>>10)
	}
}
