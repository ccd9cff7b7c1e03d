package devcluster

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// process is one component of the cluster running as a child process. Its PID
// is recorded under <state>/pids so that Teardown can stop it even when the
// process that started it died without cleaning up.
type process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	err     error
}

// startProcess starts bin with args, its output appended to <state>/logs/<name>.log.
func startProcess(state, name, bin string, args []string, env []string) (*process, error) {
	logPath := filepath.Join(state, "logs", name+".log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...) //nolint:noctx // a component outlives any context; Cluster.Stop ends it
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// Own process group: a Ctrl-C meant for the test run reaches us first,
		// and we stop components in order instead of all at once.
		Setpgid: true,
		// If the test process dies outright (go test's timeout panics without
		// running deferred calls), the kernel kills the component with it.
		Pdeathsig: syscall.SIGKILL,
	}
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	if err := writePID(state, name, cmd.Process.Pid, bin); err != nil {
		_ = cmd.Process.Kill()
		return nil, err
	}
	go func() {
		p.err = cmd.Wait()
		_ = logFile.Close()
		close(p.done)
	}()
	return p, nil
}

// exited reports whether the process has ended, with its error.
func (p *process) exited() (bool, error) {
	select {
	case <-p.done:
		return true, fmt.Errorf("%s exited: %w (log: %s)%s", p.name, p.err, p.logPath, logTail(p.logPath))
	default:
		return false, nil
	}
}

// stop sends SIGTERM, then SIGKILL after grace, and forgets the PID file.
func (p *process) stop(state string, grace time.Duration) {
	select {
	case <-p.done:
	default:
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(grace):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	}
	_ = os.Remove(pidPath(state, p.name))
}

func pidPath(state, name string) string { return filepath.Join(state, "pids", name) }

// writePID records "<pid> <binary>" so a later teardown can check that the PID
// still belongs to the binary we started before signalling it.
func writePID(state, name string, pid int, bin string) error {
	return os.WriteFile(pidPath(state, name), []byte(fmt.Sprintf("%d %s\n", pid, bin)), 0o644)
}

// killRecorded kills every process recorded under <state>/pids whose
// executable is still the one recorded, and removes the records.
func killRecorded(state string) error {
	entries, err := os.ReadDir(filepath.Join(state, "pids"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		path := filepath.Join(state, "pids", e.Name())
		raw, err := os.ReadFile(path)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		fields := strings.Fields(string(raw))
		if len(fields) != 2 {
			_ = os.Remove(path)
			continue
		}
		pid, err := strconv.Atoi(fields[0])
		if err == nil && exeOf(pid) == fields[1] {
			killAndWait(pid)
		}
		_ = os.Remove(path)
	}
	return errors.Join(errs...)
}

// exeOf returns the executable path of pid, or "" when it is gone.
func exeOf(pid int) string {
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(exe, " (deleted)")
}

// killAndWait sends SIGTERM, waits up to five seconds, then SIGKILL.
func killAndWait(pid int) {
	_ = syscall.Kill(pid, syscall.SIGTERM)
	for range 50 {
		if syscall.Kill(pid, 0) != nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
}

// logTail returns the last lines of a log file, for error messages.
func logTail(path string) string {
	raw, err := os.ReadFile(path)
	if err != nil || len(raw) == 0 {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(raw), "\n"), "\n")
	if len(lines) > 15 {
		lines = lines[len(lines)-15:]
	}
	return "\n  " + strings.Join(lines, "\n  ")
}
