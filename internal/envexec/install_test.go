package envexec_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/latchkey-dev/latchkey/internal/envexec"
)

func TestInstall(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	dst := filepath.Join(dir, "latchkey-env")
	if err := os.WriteFile(dst, []byte("an older binary"), 0o755); err != nil {
		t.Fatal(err)
	}
	for range 2 { // over an existing file, then over its own copy (read-only)
		if err := envexec.Install(dst); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(dst)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("installed copy differs from the running binary (err %v)", err)
		}
		fi, err := os.Stat(dst)
		if err != nil || fi.Mode() != 0o555 {
			t.Fatalf("mode = %v (err %v), want -r-xr-xr-x", fi.Mode(), err)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}

	if err := envexec.Install(filepath.Join(dir, "no-such-folder", "x")); err == nil || envexec.ExitCode(err) != envexec.ExitFailure {
		t.Errorf("Install into a missing folder = %v", err)
	}
	if err := envexec.Install(""); envexec.ExitCode(err) != envexec.ExitUsage {
		t.Errorf("Install(\"\") = %v", err)
	}
}
