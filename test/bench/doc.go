// Package bench measures the controller against the targets of the product
// brief (§6 "Targets") as Go benchmarks.
//
// Run them with `make bench`, which builds kube-apiserver and etcd and runs
//
//	go test -run '^$' -bench . -benchtime=1x ./test/bench/
//
// Each benchmark measures once (-benchtime=1x), reports its figures with
// b.ReportMetric and adds a row to the table printed at the end: figure,
// measured value, target, and whether the target is met. Nothing here asserts
// a time: a missed target is reported, not failed.
//
// The controller runs as a separate process, the binary users run
// (cmd/latchkey-controller), against envtest's API server and the Key Vault
// emulator, which it reaches as it would reach Azure behind a corporate
// proxy: HTTPS_PROXY names a CONNECT proxy of the benchmark that tunnels to
// the emulator, and SSL_CERT_FILE trusts the emulator's CA. So the figures
// are the controller's alone, with no test hook inside it.
//
// Without -bench, `go test` runs nothing here and starts nothing.
//
// LATCHKEY_BENCH_KEEP=1 keeps the temporary folder with the controllers'
// logs; LATCHKEY_BENCH_PROFILE=<folder> saves a CPU profile of the API
// server during each BenchmarkNewAKVS run, and BenchmarkMemory's controller
// heap profiles (after the sync and after each restart).
package bench
