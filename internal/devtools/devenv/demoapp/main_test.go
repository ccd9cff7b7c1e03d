package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestReportNeverPrintsTheValue checks the line's format and that the
// value itself is not in it: the demo's output is shown on a terminal.
func TestReportNeverPrintsTheValue(t *testing.T) {
	t.Setenv("DEMO_VALUE", "hello")
	var b bytes.Buffer
	report(&b, "DEMO_VALUE")
	report(&b, "DEMO_UNSET_VARIABLE")
	got := b.String()
	want := "DEMO_VALUE: 5 characters\nDEMO_UNSET_VARIABLE: not set\n"
	if got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	if strings.Contains(got, "hello") {
		t.Fatalf("the value leaked: %q", got)
	}
}
