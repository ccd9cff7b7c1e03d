package bench

import (
	"flag"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
)

// env is the environment the benchmarks share; nil unless benchmarks were
// requested.
var env *benchEnv

func TestMain(m *testing.M) {
	flag.Parse()
	if !benchmarksRequested() {
		// `go test` without -bench (make test): nothing to start.
		os.Exit(m.Run())
	}
	os.Exit(runBenchmarks(m))
}

// benchmarksRequested reports whether -test.bench selects anything.
func benchmarksRequested() bool {
	f := flag.Lookup("test.bench")
	return f != nil && f.Value.String() != ""
}

func runBenchmarks(m *testing.M) int {
	start := time.Now()
	// The benchmark's own watches use controller-runtime; their logs are noise.
	ctrllog.SetLogger(logr.Discard())
	e, err := startEnv()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	env = e
	report.notef("setup: envtest, Key Vault emulator (%d objects), CONNECT proxy and controller build took %s; controller built from %s",
		e.seededObjects, time.Since(start).Round(100*time.Millisecond), e.version)
	code := m.Run()
	if err := e.stop(); err != nil {
		fmt.Fprintln(os.Stderr, "bench: stop:", err)
	}
	report.print(os.Stdout, time.Since(start))
	return code
}

// environment returns the shared environment, or stops the benchmark when
// TestMain did not start one.
func environment(b *testing.B) *benchEnv {
	b.Helper()
	if env == nil {
		b.Fatal("bench: no environment (TestMain starts it when -test.bench is set)")
	}
	return env
}
