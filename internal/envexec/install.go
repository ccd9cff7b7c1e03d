package envexec

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// selfExe is the running binary, whatever name started it.
const selfExe = "/proc/self/exe"

// Install is `latchkey-env install <dst>`: it copies the running binary to
// dst with mode 0555, through a temporary file in dst's folder renamed into
// place, so the init container needs no shell and no cp, and a container
// never sees half a binary.
func Install(dst string) error {
	if dst == "" {
		return &ExitError{Code: ExitUsage, Err: errors.New("no destination: want `latchkey-env install <path>`")}
	}
	src, err := os.Open(selfExe)
	if err != nil {
		exe, exeErr := os.Executable()
		if exeErr != nil {
			return fmt.Errorf("finding the running binary: %w", errors.Join(err, exeErr))
		}
		if src, err = os.Open(exe); err != nil { //nolint:gosec // our own binary
			return fmt.Errorf("reading the running binary: %w", err)
		}
	}
	defer func() { _ = src.Close() }()
	return copyAtomically(src, dst, 0o555)
}

// copyAtomically writes r to dst with mode: to a temporary file in the same
// folder, then renamed over dst.
func copyAtomically(r io.Reader, dst string, mode os.FileMode) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".*")
	if err != nil {
		return fmt.Errorf("installing %s: %w", dst, err)
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if _, err = io.Copy(tmp, r); err != nil {
		return fmt.Errorf("installing %s: %w", dst, err)
	}
	if err = tmp.Chmod(mode); err != nil {
		return fmt.Errorf("installing %s: %w", dst, err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("installing %s: %w", dst, err)
	}
	if err = os.Rename(tmp.Name(), dst); err != nil {
		return fmt.Errorf("installing %s: %w", dst, err)
	}
	return nil
}
