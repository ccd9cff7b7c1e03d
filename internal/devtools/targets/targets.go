// Package targets holds the product brief's targets (product.md §6) that a test and a benchmark both check, each defined once.
package targets

// EnvBinaryMaxBytes is the in-container binary's size limit, "≤ 12 MB":
// decimal megabytes, as the benchmark reports the size. It applies to
// cmd/latchkey-env built as its image ships it (static, stripped).
const EnvBinaryMaxBytes = 12_000_000
