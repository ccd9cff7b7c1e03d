package podcontract_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io/fs"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/internal/podcontract"
)

func TestParseFileDeclaration(t *testing.T) {
	type F = podcontract.DeclaredFile
	type P = podcontract.Placeholder
	tests := []struct {
		name    string
		ann     map[string]string
		want    podcontract.FileDeclaration
		wantErr []string
	}{
		{name: "none", ann: map[string]string{"other": "x", "latchkey.dev/injected": "v1.x"}},
		{name: "certificate pair, defaults", ann: map[string]string{
			"latchkey.dev/file.tls.crt": "web?tls.crt",
			"latchkey.dev/file.tls.key": "web@azurekeyvault?tls.key",
		}, want: podcontract.FileDeclaration{Dir: podcontract.DefaultFilesDir, Files: []F{
			{Name: "tls.crt", Placeholder: P{AKVS: "web", Query: "tls.crt"}, Mode: 0o644},
			{Name: "tls.key", Placeholder: P{AKVS: "web", Query: "tls.key"}, Mode: 0o644},
		}}},
		{name: "every setting", ann: map[string]string{
			"latchkey.dev/file.config.json":       "app-config",
			"latchkey.dev/file.key.pem":           "web?tls.key",
			"latchkey.dev/file-mode.key.pem":      "0400",
			"latchkey.dev/file.web.pfx":           "web?raw",
			"latchkey.dev/file-encoding.web.pfx":  " base64",
			"latchkey.dev/files-mode":             "440",
			"latchkey.dev/files-dir":              "/etc/app",
			"latchkey.dev/files-refresh":          "true",
			"latchkey.dev/files-refresh-interval": "2m",
			"latchkey.dev/files-signal":           "sighup nginx",
		}, want: podcontract.FileDeclaration{Dir: "/etc/app", Refresh: true, Interval: 2 * time.Minute, Signal: "HUP", Program: "nginx", Files: []F{
			{Name: "config.json", Placeholder: P{AKVS: "app-config"}, Mode: 0o440},
			{Name: "key.pem", Placeholder: P{AKVS: "web", Query: "tls.key"}, Mode: 0o400},
			{Name: "web.pfx", Placeholder: P{AKVS: "web", Query: "raw"}, Mode: 0o440, Encoding: "base64"},
		}}},
		{name: "settings without a file", ann: map[string]string{"latchkey.dev/files-refresh": "true"},
			wantErr: []string{"no file is declared"}},
		{name: "every problem at once", ann: map[string]string{
			"latchkey.dev/file..data":             "x",
			"latchkey.dev/file.a/b":               "x",
			"latchkey.dev/file.ok":                "Not_A_Name",
			"latchkey.dev/file-mode.missing":      "0400",
			"latchkey.dev/files-mode":             "0999",
			"latchkey.dev/files-dir":              "relative/dir",
			"latchkey.dev/files-refresh":          "sometimes",
			"latchkey.dev/files-refresh-interval": "10s",
			"latchkey.dev/files-dri":              "/typo",
			"latchkey.dev/file-encoding.ok":       "hex",
			"latchkey.dev/file-encoding.missing":  "base64",
		}, wantErr: []string{
			"file-encoding.ok: want base64", "file-encoding.missing: no file missing is declared",
			"file..data: a file name", "file.a/b: a file name", "file.ok: want <AzureKeyVaultSecret name>",
			"file-mode.missing: no file missing is declared", "files-mode: want an octal mode",
			"files-dir: want a clean absolute path", "files-refresh: want true or false",
			"files-refresh-interval: want a duration of at least 30s", "files-dri: not an annotation latchkey knows",
		}},
		{name: "signal without refresh", ann: map[string]string{"latchkey.dev/file.a": "x", "latchkey.dev/files-signal": "HUP nginx"},
			wantErr: []string{"only the refresh sidecar signals"}},
		{name: "signals", ann: map[string]string{"latchkey.dev/file.a": "x", "latchkey.dev/files-refresh": "true", "latchkey.dev/files-signal": "KILL nginx"},
			wantErr: []string{"files-signal: want \"<signal> <program name>\""}},
		{name: "program path", ann: map[string]string{"latchkey.dev/file.a": "x", "latchkey.dev/files-refresh": "true", "latchkey.dev/files-signal": "HUP /usr/sbin/nginx"},
			wantErr: []string{"files-signal: want"}},
		{name: "latchkey's own directories", ann: map[string]string{"latchkey.dev/file.a": "x", "latchkey.dev/files-dir": podcontract.ResolverDir},
			wantErr: []string{"a directory latchkey mounts its own volumes at"}},
		{name: "unclean directory", ann: map[string]string{"latchkey.dev/file.a": "x", "latchkey.dev/files-dir": "/etc/../tls"},
			wantErr: []string{"want a clean absolute path"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := podcontract.ParseFileDeclaration(tt.ann)
			if len(tt.wantErr) > 0 {
				if err == nil || !errors.Is(err, podcontract.ErrFileDeclaration) {
					t.Fatalf("err = %v, want ErrFileDeclaration", err)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not say %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// TestWriterEnvRoundTrip: what the webhook writes, the binary reads back
// as the same files.
func TestWriterEnvRoundTrip(t *testing.T) {
	d, err := podcontract.ParseFileDeclaration(map[string]string{
		"latchkey.dev/file.tls.crt":           "web?tls.crt",
		"latchkey.dev/file.tls.key":           "web?tls.key",
		"latchkey.dev/file-mode.tls.key":      "0400",
		"latchkey.dev/file.web.pfx":           "web?raw",
		"latchkey.dev/file-encoding.web.pfx":  "base64",
		"latchkey.dev/files-refresh-interval": "90s",
		"latchkey.dev/files-refresh":          "true",
		"latchkey.dev/files-signal":           "USR1 app",
	})
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, e := range d.WriterEnv() {
		env[e.Name] = e.Value
	}
	if got := env["LATCHKEY_FILE_1"]; got != "web@azurekeyvault?tls.key" {
		t.Errorf("LATCHKEY_FILE_1 = %q", got)
	}
	cfg, err := podcontract.ParseWriterEnv(func(k string) string { return env[k] })
	dir, files, iv := cfg.Dir, cfg.Files, cfg.Interval
	if err != nil {
		t.Fatal(err)
	}
	want := []podcontract.WriterFile{
		{Name: "tls.crt", Var: "LATCHKEY_FILE_0", Mode: 0o644, Placeholder: podcontract.Placeholder{AKVS: "web", Query: "tls.crt"}},
		{Name: "tls.key", Var: "LATCHKEY_FILE_1", Mode: 0o400, Placeholder: podcontract.Placeholder{AKVS: "web", Query: "tls.key"}},
		{Name: "web.pfx", Var: "LATCHKEY_FILE_2", Mode: 0o644, Encoding: "base64", Placeholder: podcontract.Placeholder{AKVS: "web", Query: "raw"}},
	}
	if dir != podcontract.FilesWriterDir || iv != 90*time.Second || !reflect.DeepEqual(files, want) || cfg.Signal != "USR1" || cfg.Program != "app" {
		t.Errorf("ParseWriterEnv = %q, %+v, %s", dir, files, iv)
	}
}

func TestParseWriterEnvRefuses(t *testing.T) {
	for _, tt := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"unset", nil, "not set"},
		{"unknown field", map[string]string{"LATCHKEY_FILES": `{"dir":"/d","files":[],"x":1}`}, "unknown field"},
		{"no files", map[string]string{"LATCHKEY_FILES": `{"dir":"/d","files":[]}`}, "0 files"},
		{"relative dir", map[string]string{"LATCHKEY_FILES": `{"dir":"d","files":[{"name":"a","var":"LATCHKEY_FILE_0","mode":"0644"}]}`, "LATCHKEY_FILE_0": "a@azurekeyvault"}, "absolute"},
		{"escaping name", map[string]string{"LATCHKEY_FILES": `{"dir":"/d","files":[{"name":"../a","var":"LATCHKEY_FILE_0","mode":"0644"}]}`}, "not a file name"},
		{"twice", map[string]string{"LATCHKEY_FILES": `{"dir":"/d","files":[{"name":"a","var":"LATCHKEY_FILE_0","mode":"0644"},{"name":"a","var":"LATCHKEY_FILE_0","mode":"0644"}]}`, "LATCHKEY_FILE_0": "a@azurekeyvault"}, "given twice"},
		{"other variable", map[string]string{"LATCHKEY_FILES": `{"dir":"/d","files":[{"name":"a","var":"PATH","mode":"0644"}]}`}, "does not start with"},
		{"no placeholder", map[string]string{"LATCHKEY_FILES": `{"dir":"/d","files":[{"name":"a","var":"LATCHKEY_FILE_0","mode":"0644"}]}`, "LATCHKEY_FILE_0": "plain"}, "does not hold"},
		{"signal without program", map[string]string{"LATCHKEY_FILES": `{"dir":"/d","signal":"HUP","files":[{"name":"a","var":"LATCHKEY_FILE_0","mode":"0644"}]}`, "LATCHKEY_FILE_0": "a@azurekeyvault"}, "signal"},
		{"unknown signal", map[string]string{"LATCHKEY_FILES": `{"dir":"/d","signal":"KILL","program":"x","files":[{"name":"a","var":"LATCHKEY_FILE_0","mode":"0644"}]}`, "LATCHKEY_FILE_0": "a@azurekeyvault"}, "signal"},
		{"unknown encoding", map[string]string{"LATCHKEY_FILES": `{"dir":"/d","files":[{"name":"a","var":"LATCHKEY_FILE_0","mode":"0644","encoding":"hex"}]}`, "LATCHKEY_FILE_0": "a@azurekeyvault"}, "encoding"},
		{"short interval", map[string]string{"LATCHKEY_FILES": `{"dir":"/d","interval":"1s","files":[{"name":"a","var":"LATCHKEY_FILE_0","mode":"0644"}]}`, "LATCHKEY_FILE_0": "a@azurekeyvault"}, "interval"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := podcontract.ParseWriterEnv(func(k string) string { return tt.env[k] })
			if err == nil || !errors.Is(err, podcontract.ErrInvalidFiles) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want ErrInvalidFiles saying %q", err, tt.want)
			}
		})
	}
}

// FuzzParseFileDeclaration holds the parser to its grammar: a declared
// file is a single path element that never starts with '.', its source is
// a placeholder that round-trips, its mode at most 0777, the directory
// clean and absolute; the writer env it yields reads back the same.
func FuzzParseFileDeclaration(f *testing.F) {
	f.Add("tls.crt", "web?tls.crt", "0400", "/etc/tls", "true", "")
	f.Add("..data", "x", "0644", "/", "false", "base64")
	f.Add("a", "m@azurekeyvault?a?b", "777", "/a/../b", "1", "utf-8")
	f.Add("a", "x@y", "-1", "", "", "BASE64")
	f.Add("é", "?", "0o7", "/latchkey/bin/x", "yes", "base64\n")
	f.Fuzz(func(t *testing.T, name, source, mode, dir, refresh, encoding string) {
		ann := map[string]string{
			podcontract.FileAnnotationPrefix + name:     source,
			podcontract.FileModeAnnotationPrefix + name: mode,
			podcontract.FilesDirAnnotation:              dir,
			podcontract.FilesRefreshAnnotation:          refresh,
		}
		if encoding != "" {
			ann[podcontract.FileEncodingAnnotationPrefix+name] = encoding
		}
		d, err := podcontract.ParseFileDeclaration(ann)
		if err != nil {
			if !errors.Is(err, podcontract.ErrFileDeclaration) || d.Declared() {
				t.Fatalf("error %v with declaration %+v", err, d)
			}
			return
		}
		if len(d.Files) != 1 {
			t.Fatalf("declaration %+v from one file annotation", d)
		}
		file := d.Files[0]
		if file.Name != name || strings.ContainsAny(name, "/\x00") || strings.HasPrefix(name, ".") || file.Mode > 0o777 || file.Mode&^fs.ModePerm != 0 ||
			file.Encoding != "" && file.Encoding != podcontract.FileEncodingBase64 || (file.Encoding == "") != (encoding == "") {
			t.Fatalf("accepted file %+v", file)
		}
		if p, ok := podcontract.ParsePlaceholder(file.String()); !ok || p != file.Placeholder {
			t.Fatalf("source %q gave %+v, which does not round-trip", source, file.Placeholder)
		}
		if d.Dir != dir || !strings.HasPrefix(dir, "/") || strings.Contains(dir, "/../") || dir == "/" {
			t.Fatalf("accepted dir %q", d.Dir)
		}
		env := map[string]string{}
		for _, e := range d.WriterEnv() {
			env[e.Name] = e.Value
		}
		cfg, err := podcontract.ParseWriterEnv(func(k string) string { return env[k] })
		files := cfg.Files
		if err != nil || len(files) != 1 || files[0].Name != name || files[0].Mode != file.Mode || files[0].Encoding != file.Encoding || files[0].Placeholder != file.Placeholder {
			t.Fatalf("writer env of %+v reads back as %+v, %v", d, files, err)
		}
	})
}

// TestWriterFileContent: a base64 file is written as the bytes its value
// encodes, in any of the forms the base64decode transform reads, and
// Carried gives back the canonical text; a value that is not base64 fails
// naming the file and the placeholder, never the value; a plain file is
// its value.
func TestWriterFileContent(t *testing.T) {
	der := []byte{0x30, 0x82, 0x00, 0x00, 0xff, 0xfe, 0x00, 0x01} // NUL bytes: what an env cannot hold
	pfx := podcontract.WriterFile{Name: "web.pfx", Var: "LATCHKEY_FILE_0", Encoding: podcontract.FileEncodingBase64,
		Placeholder: podcontract.Placeholder{AKVS: "web", Query: "raw"}}
	canonical := base64.StdEncoding.EncodeToString(der)
	for _, carried := range []string{canonical, base64.RawStdEncoding.EncodeToString(der), canonical[:4] + "\r\n" + canonical[4:]} {
		got, err := pfx.Content(carried)
		if err != nil || !bytes.Equal(got, der) {
			t.Errorf("Content(%q) = %x, %v; want %x", carried, got, err, der)
		}
		if pfx.Carried(got) != canonical {
			t.Errorf("Carried(%x) = %q, want %q", got, pfx.Carried(got), canonical)
		}
	}
	const secretPEM = "-----BEGIN PRIVATE KEY-----\nsecret-Qq7\n-----END PRIVATE KEY-----\n"
	_, err := pfx.Content(secretPEM)
	if !errors.Is(err, podcontract.ErrFileEncoding) || strings.Contains(err.Error(), "secret-Qq7") ||
		!strings.Contains(err.Error(), "web.pfx") || !strings.Contains(err.Error(), "web@azurekeyvault?raw") || !strings.Contains(err.Error(), "PEM") {
		t.Errorf("Content(PEM) error %v: want ErrFileEncoding naming the file and placeholder, not the value", err)
	}
	plain := podcontract.WriterFile{Name: "tls.crt", Placeholder: podcontract.Placeholder{AKVS: "web", Query: "tls.crt"}}
	if got, err := plain.Content(secretPEM); err != nil || string(got) != secretPEM || plain.Carried(got) != secretPEM {
		t.Errorf("a plain file: %q, %v", got, err)
	}
}
