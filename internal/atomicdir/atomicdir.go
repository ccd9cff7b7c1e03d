// Package atomicdir writes a set of files into a directory so that a
// reader never sees a partial file, nor old and new files mixed: the
// kubelet's AtomicWriter scheme for projected volumes. Each version is a
// directory of its own ("..<time>"); a symlink "..data" names the current
// one and is switched by one rename; each file the user sees is a symlink
// "<name>" → "..data/<name>". A reader that opens files by name sees, for
// each, one whole version; one that resolves "..data" once sees the whole
// set of one version.
//
// It is linked into the in-container binary: the standard library only.
package atomicdir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// DataLink is the symlink to the current version.
const DataLink = "..data"

// dataTmp is the new DataLink before its rename over the old.
const dataTmp = "..data_tmp"

// File is one file of a set.
type File struct {
	// Name is one path element that does not start with '.'.
	Name string
	Data []byte
	Mode fs.FileMode
}

// Write makes files the contents of dir, atomically as a set: files no
// longer in the set disappear, others are replaced. dir must exist. On an
// error before the switch the previous version stays whole; the error
// names files, never their contents.
func Write(dir string, files []File) error {
	for _, f := range files {
		if f.Name == "" || strings.HasPrefix(f.Name, ".") || strings.ContainsAny(f.Name, "/\x00") {
			return fmt.Errorf("file name %q: want one path element that does not start with '.'", f.Name)
		}
	}
	version, err := os.MkdirTemp(dir, ".."+time.Now().UTC().Format("2006_01_02_15_04_05.")) // 0700
	if err != nil {
		return fmt.Errorf("new version directory: %w", err)
	}
	cleanup := func(err error) error { return errors.Join(err, os.RemoveAll(version)) }
	// Readable by the pod's other users as far as each file's mode allows.
	if err := os.Chmod(version, 0o755); err != nil {
		return cleanup(err)
	}
	for _, f := range files {
		if err := writeFile(filepath.Join(version, f.Name), f.Data, f.Mode); err != nil {
			return cleanup(fmt.Errorf("file %s: %w", f.Name, err))
		}
	}
	tmp := filepath.Join(dir, dataTmp)
	_ = os.Remove(tmp) // left by a writer that died here
	if err := os.Symlink(filepath.Base(version), tmp); err != nil {
		return cleanup(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, DataLink)); err != nil {
		return cleanup(errors.Join(err, os.Remove(tmp)))
	}
	// The switch is done; what follows tidies up and never undoes it.
	var errs []error
	for _, f := range files {
		link := filepath.Join(dir, f.Name)
		if target, err := os.Readlink(link); err == nil && target == filepath.Join(DataLink, f.Name) {
			continue
		}
		_ = os.Remove(link)
		if err := os.Symlink(filepath.Join(DataLink, f.Name), link); err != nil {
			errs = append(errs, fmt.Errorf("file %s: %w", f.Name, err))
		}
	}
	errs = append(errs, removeStale(dir, filepath.Base(version), files))
	return errors.Join(errs...)
}

// writeFile writes data with mode exactly (no umask), synced.
func writeFile(name string, data []byte, mode fs.FileMode) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = f.Chmod(mode & fs.ModePerm)
	}
	return errors.Join(err, f.Close())
}

// removeStale removes the previous version and the links of files no
// longer in the set, and versions a writer that died left behind.
func removeStale(dir, current string, files []File) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		name := e.Name()
		switch {
		case name == DataLink || name == current:
		case strings.HasPrefix(name, "..") && e.IsDir():
			errs = append(errs, os.RemoveAll(filepath.Join(dir, name)))
		case !strings.HasPrefix(name, ".") && e.Type()&fs.ModeSymlink != 0 &&
			!slices.ContainsFunc(files, func(f File) bool { return f.Name == name }):
			errs = append(errs, os.Remove(filepath.Join(dir, name)))
		}
	}
	return errors.Join(errs...)
}

// Read returns the files of the current version, by name, as one set. A
// version is removed only after the switch away from it, so a read that
// finds DataLink unchanged after it read every file read one whole
// version; otherwise it reads again. A directory never written has none.
func Read(dir string) (map[string][]byte, error) {
	for {
		target, err := os.Readlink(filepath.Join(dir, DataLink))
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		out, err := readVersion(filepath.Join(dir, target))
		if again, _ := os.Readlink(filepath.Join(dir, DataLink)); again != target {
			continue // switched while reading
		}
		return out, err
	}
}

func readVersion(version string) (map[string][]byte, error) {
	entries, err := os.ReadDir(version)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]byte, len(entries))
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(version, e.Name()))
		if err != nil {
			return nil, err
		}
		out[e.Name()] = data
	}
	return out, nil
}
