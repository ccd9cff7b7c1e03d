package atomicdir_test

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/latchkey-dev/latchkey/internal/atomicdir"
)

func TestWriteReplacesTheSet(t *testing.T) {
	dir := t.TempDir()
	if err := atomicdir.Write(dir, []atomicdir.File{{Name: "tls.crt", Data: []byte("crt1"), Mode: 0o644}, {Name: "tls.key", Data: []byte("key1"), Mode: 0o400}}); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"tls.crt": "crt1", "tls.key": "key1"} {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || string(got) != want {
			t.Errorf("%s = %q, %v; want %q", name, got, err, want)
		}
	}
	if st, err := os.Stat(filepath.Join(dir, "tls.key")); err != nil || st.Mode().Perm() != 0o400 {
		t.Errorf("tls.key mode %v, %v; want 0400", st.Mode(), err)
	}
	// The second version drops tls.key and adds ca.crt.
	if err := atomicdir.Write(dir, []atomicdir.File{{Name: "tls.crt", Data: []byte("crt2"), Mode: 0o644}, {Name: "ca.crt", Data: []byte("ca2"), Mode: 0o644}}); err != nil {
		t.Fatal(err)
	}
	got, err := atomicdir.Read(dir)
	if err != nil || !reflect.DeepEqual(got, map[string][]byte{"tls.crt": []byte("crt2"), "ca.crt": []byte("ca2")}) {
		t.Errorf("Read = %q, %v", got, err)
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	// ..data, one version directory, two links: the old version and tls.key are gone.
	if len(names) != 4 {
		t.Errorf("directory holds %v", names)
	}
	if _, err := os.Lstat(filepath.Join(dir, "tls.key")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("tls.key still there: %v", err)
	}
}

func TestWriteRefusesNames(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"", "..data", ".hidden", "a/b", "../x"} {
		if err := atomicdir.Write(dir, []atomicdir.File{{Name: name, Data: []byte("x"), Mode: 0o644}}); err == nil {
			t.Errorf("Write(%q) = nil", name)
		}
	}
	if got, err := atomicdir.Read(dir); got != nil || err != nil {
		t.Errorf("a refused write left %v, %v", got, err)
	}
}

// TestConcurrentReaderNeverSeesAMix: while versions are written as fast
// as possible, readers see each file whole, and every set read through
// ..data of one version only.
func TestConcurrentReaderNeverSeesAMix(t *testing.T) {
	dir := t.TempDir()
	version := func(n int) []atomicdir.File {
		// Files of different sizes, so a partial file shows.
		return []atomicdir.File{
			{Name: "a", Data: bytes.Repeat([]byte(fmt.Sprintf("a%06d", n)), 100), Mode: 0o644},
			{Name: "b", Data: bytes.Repeat([]byte(fmt.Sprintf("b%06d", n)), 3000), Mode: 0o644},
		}
	}
	if err := atomicdir.Write(dir, version(0)); err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	var sets, files atomic.Int64
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for !stop.Load() {
				set, err := atomicdir.Read(dir)
				if err == nil {
					a, b := set["a"], set["b"]
					if len(a) != 700 || len(b) != 21000 || !bytes.Equal(a[1:7], b[1:7]) {
						t.Errorf("a set of two versions, or partial: a %q… b %q…", a[:min(len(a), 7)], b[:min(len(b), 7)])
						return
					}
					sets.Add(1)
				} else if !errors.Is(err, fs.ErrNotExist) { // the version removed between readlink and read: retry
					t.Error(err)
					return
				}
				for _, name := range []string{"a", "b"} {
					data, err := os.ReadFile(filepath.Join(dir, name))
					if err != nil {
						if errors.Is(err, fs.ErrNotExist) {
							continue
						}
						t.Error(err)
						return
					}
					if want := bytes.Repeat(data[:7], len(data)/7); len(data)%7 != 0 || !bytes.Equal(data, want) {
						t.Errorf("file %s is partial or mixed (%d bytes)", name, len(data))
						return
					}
					files.Add(1)
				}
			}
		})
	}
	for n := 1; n <= 100; n++ {
		if err := atomicdir.Write(dir, version(n)); err != nil {
			t.Fatal(err)
		}
	}
	stop.Store(true)
	wg.Wait()
	if sets.Load() == 0 || files.Load() == 0 {
		t.Fatalf("the readers read %d sets and %d files: the test checked nothing", sets.Load(), files.Load())
	}
	t.Logf("%d sets and %d files read during 100 switches", sets.Load(), files.Load())
}
