package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// clockTicks is Linux's USER_HZ, the unit of utime and stime in
// /proc/<pid>/stat (100 on every architecture Go supports on Linux).
const clockTicks = 100

// cpuSnapshot is the CPU time used so far by this process and each of its
// children (kube-apiserver, etcd, the controller), keyed by command name.
type cpuSnapshot struct {
	at   time.Time
	busy map[string]time.Duration
}

// takeCPU reads /proc for this process and its direct children. The bench
// process's own figure includes the emulator, the proxy, the watches and the
// creates.
func takeCPU() cpuSnapshot {
	s := cpuSnapshot{at: time.Now(), busy: map[string]time.Duration{}}
	self := os.Getpid()
	if _, d, ok := procCPU(strconv.Itoa(self)); ok {
		s.busy["bench"] = d
	}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, dir := range dirs {
		pid := filepath.Base(dir)
		raw, err := os.ReadFile(filepath.Join(dir, "stat"))
		if err != nil {
			continue
		}
		f := statFields(string(raw))
		if len(f) < 2 || f[1] != strconv.Itoa(self) {
			continue
		}
		if name, d, ok := procCPU(pid); ok {
			s.busy[name] += d
		}
	}
	return s
}

// procCPU returns a process's command name and user+system CPU time.
func procCPU(pid string) (string, time.Duration, bool) {
	raw, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return "", 0, false
	}
	s := string(raw)
	open, closing := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || closing < open {
		return "", 0, false
	}
	f := statFields(s)
	// After the command: state(0) ppid(1) … utime(11) stime(12).
	if len(f) < 13 {
		return "", 0, false
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	k, _ := strconv.ParseInt(f[12], 10, 64)
	return s[open+1 : closing], time.Duration(u+k) * time.Second / clockTicks, true
}

// statFields are the fields of /proc/<pid>/stat after the command name.
func statFields(s string) []string {
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(s[i+1:])
}

// cpuSince says how many CPU seconds each process used since s, and what
// share of the machine that was.
func cpuSince(s cpuSnapshot) string {
	now := takeCPU()
	wall := now.at.Sub(s.at).Seconds()
	var parts []string
	var total float64
	for _, name := range []string{"latchkey-contro", "kube-apiserver", "etcd", "bench"} {
		d := (now.busy[name] - s.busy[name]).Seconds()
		total += d
		label := name
		if name == "latchkey-contro" {
			label = "controller"
		}
		parts = append(parts, fmt.Sprintf("%s %.1f", label, d))
	}
	cores := float64(runtime.NumCPU())
	return fmt.Sprintf("CPU s over %.1f s: %s; %.0f%% of %d cores", wall, strings.Join(parts, ", "), 100*total/(wall*cores), int(cores))
}

// profileAPIServer saves a CPU profile of the API server over the next d in
// $LATCHKEY_BENCH_PROFILE/<name>-apiserver.pprof when that variable names a
// folder (kube-apiserver serves /debug/pprof to the admin). The channel is
// closed when the profile is written, or at once without the variable.
func (e *benchEnv) profileAPIServer(b *testing.B, name string, d time.Duration) <-chan struct{} {
	done := make(chan struct{})
	dir := profileDir()
	if dir == "" {
		close(done)
		return done
	}
	go func() {
		defer close(done)
		raw, err := e.kube.CoreV1().RESTClient().Get().AbsPath("/debug/pprof/profile").
			Param("seconds", strconv.Itoa(int(d.Seconds()))).Timeout(d + 30*time.Second).DoRaw(context.Background())
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, name+"-apiserver.pprof"), raw, 0o600)
		}
		if err != nil {
			b.Logf("API server profile: %v", err)
		}
	}()
	return done
}
