package envexec_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/latchkey-dev/latchkey/internal/envexec"
)

func TestRewrite(t *testing.T) {
	environ := []string{
		"PATH=/bin",
		"DB=db@azurekeyvault",
		"LATCHKEY_REFS={}",
		"MAIL=me@azurekeyvault.example.com",
		"CRT=cert@azurekeyvault?tls.crt",
		"AZURE_CLIENT_ID=id",
		"ENV_INJECTOR_LOG_LEVEL=debug",
		"LATCHKEY_SOMETHING_ELSE=1",
		"NOEQUALS",
		"LATCHKEY=kept", // not our prefix: LATCHKEY_ is
	}
	bindings := envexec.FindPlaceholders(environ)
	got := envexec.Rewrite(environ, bindings, []string{"db-value", "-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n"})
	want := []string{
		"PATH=/bin",
		"DB=db-value",
		"MAIL=me@azurekeyvault.example.com",
		"CRT=-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n",
		"AZURE_CLIENT_ID=id",
		"ENV_INJECTOR_LOG_LEVEL=debug",
		"NOEQUALS",
		"LATCHKEY=kept",
	}
	if !slices.Equal(got, want) {
		t.Errorf("Rewrite =\n%q\nwant\n%q", got, want)
	}
	if environ[1] != "DB=db@azurekeyvault" {
		t.Error("Rewrite changed its input")
	}
	if got := envexec.Rewrite(nil, nil, nil); len(got) != 0 {
		t.Errorf("Rewrite(nil) = %q", got)
	}
}

func TestLookPath(t *testing.T) {
	exists := map[string]bool{"/usr/bin/app": true, "/opt/bin/app": true, "bin/tool": true, "local": true, "/bin/sh": true}
	isExec := func(p string) bool { return exists[p] }
	tests := []struct {
		name, file, path string
		want             string
		err              error
	}{
		{"first PATH entry that has it", "app", "/nope:/opt/bin:/usr/bin", "/opt/bin/app", nil},
		{"order matters", "app", "/usr/bin:/opt/bin", "/usr/bin/app", nil},
		{"absolute path used as is", "/somewhere/else", "/usr/bin", "/somewhere/else", nil},
		{"relative path with a slash used as is", "./run.sh", "/usr/bin", "./run.sh", nil},
		{"relative PATH entry", "tool", "/nope:bin", "bin/tool", nil},
		{"empty PATH entry is the working directory", "local", "/nope::/usr/bin", "local", nil},
		{"no PATH: Docker's default", "sh", "", "/bin/sh", nil},
		{"not found", "missing", "/usr/bin:/opt/bin", "", envexec.ErrNotFound},
		{"no name", "", "/usr/bin", "", envexec.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := envexec.LookPath(tt.file, tt.path, isExec)
			if got != tt.want || !errors.Is(err, tt.err) {
				t.Errorf("LookPath(%q, %q) = %q, %v; want %q, %v", tt.file, tt.path, got, err, tt.want, tt.err)
			}
		})
	}
}

// TestLookPathFiles: only regular files with an execute bit are programs.
func TestLookPathFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, mode os.FileMode) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"), mode); err != nil {
			t.Fatal(err)
		}
	}
	write("prog", 0o755)
	write("data", 0o644)
	write("group-only", 0o610)
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	second := t.TempDir()
	if err := os.WriteFile(filepath.Join(second, "data"), nil, 0o700); err != nil {
		t.Fatal(err)
	}
	path := dir + ":" + second
	for file, want := range map[string]string{
		"prog":       filepath.Join(dir, "prog"),
		"data":       filepath.Join(second, "data"), // the first is not executable
		"group-only": filepath.Join(dir, "group-only"),
		"sub":        "",
	} {
		got, err := envexec.LookPath(file, path, nil)
		if got != want || (want == "") != (err != nil) {
			t.Errorf("LookPath(%q) = %q, %v; want %q", file, got, err, want)
		}
	}
}
