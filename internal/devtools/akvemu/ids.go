package akvemu

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"regexp"
)

// newVersionID returns a Key Vault object version: 32 lowercase hex digits.
func newVersionID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+).
	return hex.EncodeToString(b[:])
}

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// objectNamePattern is Key Vault's rule for secret, key and certificate names.
var objectNamePattern = regexp.MustCompile(`^[0-9A-Za-z-]{1,127}$`)

// vaultNamePattern is Key Vault's rule for vault names (3–24 characters).
var vaultNamePattern = regexp.MustCompile(`^[A-Za-z][0-9A-Za-z-]{1,22}[0-9A-Za-z]$`)

// validObjectName reports whether name is a valid object name.
func validObjectName(name string) bool { return objectNamePattern.MatchString(name) }
