// Package devtools holds latchkey's development and test tooling: the Key
// Vault emulator, the local cluster, the dev environment, the image builder
// and the test kits. Nothing here is shipped: test/layout fails if a
// shipped command is built from it.
package devtools
