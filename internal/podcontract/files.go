package podcontract

// Files: Key Vault values written as files into a memory-backed volume of
// the pod (docs/files.md). The user declares them in pod annotations, in
// the style of the Vault Agent Injector; the webhook translates the
// declaration into the env of a writer container (FileSet), which is
// immutable. The resolver authorises the writer exactly as any rewritten
// container: it serves a LATCHKEY_FILE_<n> placeholder only if the stored
// container's env holds it, so an annotation edited after admission
// changes nothing a pod can obtain.

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/latchkey-dev/latchkey/internal/output"
)

// The declaration: pod annotations.
const (
	// FileAnnotationPrefix + <file name> declares one file; its value is
	// `<akvs>[?query]` (or the env placeholder `<akvs>@azurekeyvault[?query]`).
	FileAnnotationPrefix = "latchkey.dev/file."
	// FileModeAnnotationPrefix + <file name> is that file's mode, in octal
	// ("0400"); FilesModeAnnotation is every other file's.
	FileModeAnnotationPrefix = "latchkey.dev/file-mode."
	FilesModeAnnotation      = "latchkey.dev/files-mode"
	// FileEncodingAnnotationPrefix + <file name> is how that file's value
	// is encoded in Key Vault: FileEncodingBase64 has the writer decode it
	// and write the bytes (a PFX from a certificate's ?raw, a keytab), as
	// the CSI driver's objectEncoding. The value travels as the text Key
	// Vault holds, so the resolver and its protocol are unchanged.
	FileEncodingAnnotationPrefix = "latchkey.dev/file-encoding."
	// FilesDirAnnotation is where the files appear in the pod's containers
	// (DefaultFilesDir when absent).
	FilesDirAnnotation = "latchkey.dev/files-dir"
	// FilesRefreshAnnotation "true" adds the sidecar that keeps the files
	// current; FilesRefreshIntervalAnnotation overrides how often it asks
	// (a Go duration, at least MinFilesRefreshInterval).
	FilesRefreshAnnotation         = "latchkey.dev/files-refresh"
	FilesRefreshIntervalAnnotation = "latchkey.dev/files-refresh-interval"
	// FilesSignalAnnotation "<SIGNAL> <program>" has the sidecar send the
	// signal (HUP, USR1, USR2, INT, TERM, WINCH) to every process of that
	// program name after it rewrote the files. It needs the pod's
	// shareProcessNamespace and the program running as the sidecar's user
	// (the pod's runAsUser): the sidecar has no capability.
	FilesSignalAnnotation = "latchkey.dev/files-signal"
	// FilesAnnotationStem starts every annotation of the declaration (the
	// webhook's match condition selects pods by it): one
	// that starts so and is none of the above is refused, not ignored (a
	// typo would otherwise leave the program without its file).
	FilesAnnotationStem = "latchkey.dev/file"
)

// What the webhook adds to the pod.
const (
	// FilesVolume is the memory-backed emptyDir holding the files.
	FilesVolume = "latchkey-files"
	// FilesWriterDir is where the writer containers mount FilesVolume.
	FilesWriterDir = "/latchkey/files-writer"
	// DefaultFilesDir is where the pod's containers see the files unless
	// FilesDirAnnotation says otherwise.
	DefaultFilesDir = "/latchkey/files"
	// FilesWriterContainer is the init container that writes every file
	// before any of the pod's own containers starts.
	FilesWriterContainer = "latchkey-files"
	// FilesRefreshContainer is the native sidecar (an init container with
	// restartPolicy Always) that keeps them current.
	FilesRefreshContainer = "latchkey-files-refresh"
	// CmdFiles is the binary's subcommand for both: `latchkey-env files
	// write` and `latchkey-env files refresh`.
	CmdFiles        = "files"
	CmdFilesWrite   = "write"
	CmdFilesRefresh = "refresh"
	// EnvFiles holds the writer's FileSet as JSON.
	EnvFiles = "LATCHKEY_FILES"
	// FileVarPrefix + <n> holds the n-th file's placeholder.
	FileVarPrefix = "LATCHKEY_FILE_"
)

// Bounds and defaults of the declaration.
const (
	// MaxFiles bounds the files of one pod.
	MaxFiles = 100
	// maxFileName keeps "file-encoding.<name>", the longest annotation of
	// a file, within an annotation name's 63 characters.
	maxFileName = 63 - len("file-encoding.")
	// DefaultFileMode is the mode of a file no annotation sets: readable by
	// every user of the pod, as a Secret volume's default.
	DefaultFileMode fs.FileMode = 0o644
	// FileEncodingBase64 is the one encoding a file may declare: standard
	// base64, padded or not, line breaks skipped (output.DecodeBase64).
	FileEncodingBase64 = "base64"
	// MinFilesRefreshInterval is the shortest declared interval: an
	// AzureKeyVaultSecret's own minimum.
	MinFilesRefreshInterval = 30 * time.Second
)

// FileDeclaration is a pod's file annotations, parsed.
type FileDeclaration struct {
	// Dir is where the pod's containers see the files.
	Dir string
	// Files, sorted by name.
	Files []DeclaredFile
	// Refresh asks for the sidecar; Interval, when set, overrides the
	// AzureKeyVaultSecrets' refresh interval as its poll interval.
	Refresh  bool
	Interval time.Duration
	// Signal and Program: FilesSignalAnnotation, parsed ("HUP", "nginx").
	Signal, Program string
}

// Signals the sidecar may send, by name without "SIG".
var Signals = []string{"HUP", "INT", "TERM", "USR1", "USR2", "WINCH"}

// DeclaredFile is one file: its name in Dir, what it holds, its mode and
// the encoding of its value ("" or FileEncodingBase64).
type DeclaredFile struct {
	Name string
	Placeholder
	Mode     fs.FileMode
	Encoding string
}

// ErrFileDeclaration is the class of a pod's malformed file annotations.
var ErrFileDeclaration = errors.New("invalid latchkey.dev/file annotations")

// ParseFileDeclaration reads the file annotations of a pod. No annotation
// of the declaration gives a zero declaration and no error. Every problem
// is reported, by annotation name; annotations hold names only, so the
// errors may quote them.
func ParseFileDeclaration(annotations map[string]string) (FileDeclaration, error) {
	d := FileDeclaration{Dir: DefaultFilesDir}
	mode := DefaultFileMode
	modes := map[string]fs.FileMode{}
	encodings := map[string]string{}
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: %s: %s", ErrFileDeclaration, key, fmt.Sprintf(format, args...)))
	}
	seen := false
	for _, key := range slices.Sorted(maps.Keys(annotations)) {
		value := annotations[key]
		if !strings.HasPrefix(key, FilesAnnotationStem) {
			continue
		}
		seen = true
		switch {
		case strings.HasPrefix(key, FileAnnotationPrefix):
			name := strings.TrimPrefix(key, FileAnnotationPrefix)
			if why := checkFileName(name); why != "" {
				bad(key, "%s", why)
				continue
			}
			p, ok := ParseFileSource(value)
			if !ok {
				bad(key, "want <AzureKeyVaultSecret name>[?query], as in an @azurekeyvault placeholder")
				continue
			}
			d.Files = append(d.Files, DeclaredFile{Name: name, Placeholder: p})
		case strings.HasPrefix(key, FileModeAnnotationPrefix):
			m, err := parseMode(value)
			if err != nil {
				bad(key, "%v", err)
				continue
			}
			modes[strings.TrimPrefix(key, FileModeAnnotationPrefix)] = m
		case strings.HasPrefix(key, FileEncodingAnnotationPrefix):
			if strings.TrimSpace(value) != FileEncodingBase64 {
				bad(key, "want %s (the value is base64 in Key Vault and the file gets the bytes)", FileEncodingBase64)
				continue
			}
			encodings[strings.TrimPrefix(key, FileEncodingAnnotationPrefix)] = FileEncodingBase64
		case key == FilesModeAnnotation:
			m, err := parseMode(value)
			if err != nil {
				bad(key, "%v", err)
				continue
			}
			mode = m
		case key == FilesDirAnnotation:
			if why := checkDir(value); why != "" {
				bad(key, "%s", why)
				continue
			}
			d.Dir = value
		case key == FilesRefreshAnnotation:
			b, err := strconv.ParseBool(strings.TrimSpace(value))
			if err != nil {
				bad(key, "want true or false")
				continue
			}
			d.Refresh = b
		case key == FilesSignalAnnotation:
			sig, program, ok := strings.Cut(strings.TrimSpace(value), " ")
			sig, program = strings.TrimPrefix(strings.ToUpper(sig), "SIG"), strings.TrimSpace(program)
			if !ok || !slices.Contains(Signals, sig) || program == "" || strings.ContainsAny(program, "/ \n\x00") {
				bad(key, "want \"<signal> <program name>\", the signal one of %s, such as \"HUP nginx\"", strings.Join(Signals, ", "))
				continue
			}
			d.Signal, d.Program = sig, program
		case key == FilesRefreshIntervalAnnotation:
			iv, err := time.ParseDuration(strings.TrimSpace(value))
			if err != nil || iv < MinFilesRefreshInterval {
				bad(key, "want a duration of at least %s, such as 5m", MinFilesRefreshInterval)
				continue
			}
			d.Interval = iv
		default:
			bad(key, "not an annotation latchkey knows (%s<name>, %s<name>, %s<name>, %s, %s, %s, %s, %s)", FileAnnotationPrefix, FileModeAnnotationPrefix,
				FileEncodingAnnotationPrefix, FilesModeAnnotation, FilesDirAnnotation, FilesRefreshAnnotation, FilesRefreshIntervalAnnotation, FilesSignalAnnotation)
		}
	}
	if !seen {
		return FileDeclaration{}, nil
	}
	for i := range d.Files {
		d.Files[i].Mode = mode
		if m, ok := modes[d.Files[i].Name]; ok {
			d.Files[i].Mode = m
			delete(modes, d.Files[i].Name)
		}
		d.Files[i].Encoding = encodings[d.Files[i].Name]
		delete(encodings, d.Files[i].Name)
	}
	for _, name := range slices.Sorted(maps.Keys(modes)) {
		bad(FileModeAnnotationPrefix+name, "no file %s is declared (%s%s)", name, FileAnnotationPrefix, name)
	}
	for _, name := range slices.Sorted(maps.Keys(encodings)) {
		bad(FileEncodingAnnotationPrefix+name, "no file %s is declared (%s%s)", name, FileAnnotationPrefix, name)
	}
	if d.Signal != "" && !d.Refresh {
		errs = append(errs, fmt.Errorf("%w: %s: only the refresh sidecar signals; set %s: \"true\"", ErrFileDeclaration, FilesSignalAnnotation, FilesRefreshAnnotation))
	}
	switch {
	case len(d.Files) == 0 && len(errs) == 0:
		errs = append(errs, fmt.Errorf("%w: no file is declared (%s<name>: <AzureKeyVaultSecret>[?query])", ErrFileDeclaration, FileAnnotationPrefix))
	case len(d.Files) > MaxFiles:
		errs = append(errs, fmt.Errorf("%w: %d files; at most %d per pod", ErrFileDeclaration, len(d.Files), MaxFiles))
	}
	if err := errors.Join(errs...); err != nil {
		return FileDeclaration{}, err
	}
	return d, nil
}

// Declared reports whether the declaration names any file.
func (d FileDeclaration) Declared() bool { return len(d.Files) > 0 }

// ParseFileSource reads a file annotation's value: `<akvs>[?query]`, or
// the env placeholder form `<akvs>@azurekeyvault[?query]`, one grammar
// with ParsePlaceholder.
func ParseFileSource(value string) (Placeholder, bool) {
	if strings.Contains(value, PlaceholderMarker) {
		return ParsePlaceholder(value)
	}
	name, query, hasQuery := strings.Cut(value, "?")
	if hasQuery {
		return ParsePlaceholder(name + PlaceholderMarker + "?" + query)
	}
	return ParsePlaceholder(name + PlaceholderMarker)
}

// checkFileName says why name cannot name a file in the volume, or "":
// one path element of letters, digits, '.', '_' and '-', starting with a
// letter or digit (so never "..data", which the writer owns), short enough
// for its mode annotation.
func checkFileName(name string) string {
	if name == "" || len(name) > maxFileName {
		return fmt.Sprintf("a file name is 1 to %d characters", maxFileName)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if i == 0 && !alnum || !alnum && c != '.' && c != '_' && c != '-' {
			return "a file name is letters, digits, '.', '_' and '-', and starts with a letter or digit"
		}
	}
	return ""
}

// checkDir says why dir cannot be the files' directory, or "": an
// absolute, clean path other than "/", outside latchkey's own mounts.
func checkDir(dir string) string {
	switch {
	case !path.IsAbs(dir) || path.Clean(dir) != dir || dir == "/":
		return "want a clean absolute path other than /, such as /etc/tls"
	case strings.ContainsAny(dir, ":\n"):
		return "a path without ':' or a line break"
	case dir == BinDir || dir == ResolverDir || dir == FilesWriterDir || dir == VaultTokenDir ||
		strings.HasPrefix(dir, BinDir+"/") || strings.HasPrefix(dir, ResolverDir+"/") || strings.HasPrefix(dir, FilesWriterDir+"/") ||
		strings.HasPrefix(dir, VaultTokenDir+"/"):
		return "a directory latchkey mounts its own volumes at"
	}
	return ""
}

// parseMode reads an octal file mode, at most 0777.
func parseMode(s string) (fs.FileMode, error) {
	m, err := strconv.ParseUint(strings.TrimSpace(s), 8, 32)
	if err != nil || m > 0o777 {
		return 0, errors.New("want an octal mode from 0000 to 0777, such as 0440")
	}
	return fs.FileMode(m), nil
}

// FileSet is the writer's LATCHKEY_FILES: the files and where to write
// them. Their placeholders are in the writer's env, FileVarPrefix<n>.
type FileSet struct {
	// Dir is where the writer writes (FilesWriterDir).
	Dir   string      `json:"dir"`
	Files []FileEntry `json:"files"`
	// Interval is the declared poll interval ("5m"); empty: the
	// AzureKeyVaultSecrets' own, as the resolver answers it.
	Interval string `json:"interval,omitempty"`
	// Signal and Program: whom the sidecar signals after a rewrite.
	Signal  string `json:"signal,omitempty"`
	Program string `json:"program,omitempty"`
}

// FileEntry is one file of a FileSet.
type FileEntry struct {
	Name string `json:"name"`
	// Var is the env variable holding its placeholder.
	Var string `json:"var"`
	// Mode is octal ("0644").
	Mode string `json:"mode"`
	// Encoding is FileEncodingBase64 or empty (the value as it is).
	Encoding string `json:"encoding,omitempty"`
}

// EnvVar is a name and a literal value, as the webhook writes them.
type EnvVar struct{ Name, Value string }

// WriterEnv is what the webhook writes into the env of the writer
// containers: LATCHKEY_FILES, then each file's placeholder variable.
func (d FileDeclaration) WriterEnv() []EnvVar {
	set := FileSet{Dir: FilesWriterDir, Signal: d.Signal, Program: d.Program}
	if d.Interval > 0 {
		set.Interval = d.Interval.String()
	}
	vars := make([]EnvVar, 0, len(d.Files)+1)
	for i, f := range d.Files {
		v := FileVarPrefix + strconv.Itoa(i)
		set.Files = append(set.Files, FileEntry{Name: f.Name, Var: v, Mode: fmt.Sprintf("%04o", uint32(f.Mode)), Encoding: f.Encoding})
		vars = append(vars, EnvVar{Name: v, Value: f.String()})
	}
	doc, _ := json.Marshal(set) // strings only: cannot fail
	return append([]EnvVar{{Name: EnvFiles, Value: string(doc)}}, vars...)
}

// WriterFile is one file as the writer reads its env: name, mode, the
// encoding of its value and the placeholder its variable holds.
type WriterFile struct {
	Name     string
	Var      string
	Mode     fs.FileMode
	Encoding string
	Placeholder
}

// ErrFileEncoding is the class of a value that is not in its file's
// declared encoding.
var ErrFileEncoding = errors.New("not in the file's encoding")

// Content is what the writer writes for the value the resolver answered:
// the value itself, or the bytes it encodes in base64. The error names the
// file and its placeholder, never the value.
func (f WriterFile) Content(value string) ([]byte, error) {
	if f.Encoding != FileEncodingBase64 {
		return []byte(value), nil
	}
	b, ok := output.DecodeBase64([]byte(value))
	if !ok {
		hint := ""
		if f.Query == output.QueryRaw {
			hint = " (a certificate Key Vault stores as PEM has no PFX: its raw value is PEM text)"
		}
		return nil, fmt.Errorf("%w: file %s: %s is not base64, as %s%s declares%s",
			ErrFileEncoding, f.Name, f.Placeholder, FileEncodingAnnotationPrefix, f.Name, hint)
	}
	return b, nil
}

// Carried is the inverse of Content: the value that gives content, as
// the resolver carries it (canonical padded base64 for a base64 file), so
// the sidecar can name the digest of what it holds.
func (f WriterFile) Carried(content []byte) string {
	if f.Encoding != FileEncodingBase64 {
		return string(content)
	}
	return base64.StdEncoding.EncodeToString(content)
}

// WriterConfig is the writer's env, parsed.
type WriterConfig struct {
	// Dir is where to write.
	Dir   string
	Files []WriterFile
	// Interval is the declared poll interval; zero when none.
	Interval time.Duration
	// Signal ("HUP") and Program: whom to signal after a rewrite; empty
	// when none.
	Signal, Program string
}

// ErrInvalidFiles is the class of a malformed LATCHKEY_FILES.
var ErrInvalidFiles = errors.New("invalid " + EnvFiles)

// ParseWriterEnv reads LATCHKEY_FILES and the placeholders it points to,
// through getenv, strictly: the binary trusts nothing the webhook did not
// write.
func ParseWriterEnv(getenv func(string) string) (WriterConfig, error) {
	raw := getenv(EnvFiles)
	if raw == "" {
		return WriterConfig{}, fmt.Errorf("%w: not set: was the pod admitted by latchkey's webhook?", ErrInvalidFiles)
	}
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.DisallowUnknownFields()
	var set FileSet
	if err := dec.Decode(&set); err != nil {
		return WriterConfig{}, fmt.Errorf("%w: %s", ErrInvalidFiles, jsonProblem(err))
	}
	if dec.More() {
		return WriterConfig{}, fmt.Errorf("%w: data after the JSON object", ErrInvalidFiles)
	}
	var errs []error
	if !path.IsAbs(set.Dir) {
		errs = append(errs, fmt.Errorf("%w: dir is not an absolute path", ErrInvalidFiles))
	}
	cfg := WriterConfig{Dir: set.Dir, Signal: set.Signal, Program: set.Program}
	if set.Interval != "" {
		iv, err := time.ParseDuration(set.Interval)
		if err != nil || iv < MinFilesRefreshInterval {
			errs = append(errs, fmt.Errorf("%w: interval %q is not a duration of at least %s", ErrInvalidFiles, set.Interval, MinFilesRefreshInterval))
		}
		cfg.Interval = iv
	}
	if (set.Signal == "") != (set.Program == "") || set.Signal != "" && !slices.Contains(Signals, set.Signal) || strings.ContainsAny(set.Program, "/ \n\x00") {
		errs = append(errs, fmt.Errorf("%w: signal %q to program %q", ErrInvalidFiles, set.Signal, set.Program))
	}
	if len(set.Files) == 0 || len(set.Files) > MaxFiles {
		errs = append(errs, fmt.Errorf("%w: %d files; want 1 to %d", ErrInvalidFiles, len(set.Files), MaxFiles))
	}
	seen := map[string]bool{}
	for _, f := range set.Files {
		if why := checkFileName(f.Name); why != "" || seen[f.Name] {
			errs = append(errs, fmt.Errorf("%w: file %q: not a file name, or given twice", ErrInvalidFiles, f.Name))
			continue
		}
		seen[f.Name] = true
		mode, err := parseMode(f.Mode)
		if err != nil {
			errs = append(errs, fmt.Errorf("%w: file %s: %w", ErrInvalidFiles, f.Name, err))
			continue
		}
		if f.Encoding != "" && f.Encoding != FileEncodingBase64 {
			errs = append(errs, fmt.Errorf("%w: file %s: encoding %q; want %s or none", ErrInvalidFiles, f.Name, f.Encoding, FileEncodingBase64))
			continue
		}
		if !strings.HasPrefix(f.Var, FileVarPrefix) {
			errs = append(errs, fmt.Errorf("%w: file %s: variable %q does not start with %s", ErrInvalidFiles, f.Name, f.Var, FileVarPrefix))
			continue
		}
		p, ok := ParsePlaceholder(getenv(f.Var))
		if !ok {
			errs = append(errs, fmt.Errorf("%w: file %s: %s does not hold an @azurekeyvault placeholder", ErrInvalidFiles, f.Name, f.Var))
			continue
		}
		cfg.Files = append(cfg.Files, WriterFile{Name: f.Name, Var: f.Var, Mode: mode, Encoding: f.Encoding, Placeholder: p})
	}
	if err := errors.Join(errs...); err != nil {
		return WriterConfig{}, err
	}
	return cfg, nil
}
