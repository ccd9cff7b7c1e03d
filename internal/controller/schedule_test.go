package controller

import (
	"fmt"
	"testing"
	"time"

	"github.com/latchkey-dev/latchkey/internal/backend"
)

func ref(vault, name string) backend.Ref {
	return backend.Ref{Backend: "keyvault", Store: vault, Kind: backend.KindSecret, Name: name}
}

// TestScheduleDueTimes: due times are a fixed grid of the interval; a pass
// at any time finds the latest one at or before it and the next after it,
// and asks for reads made since the latest.
func TestScheduleDueTimes(t *testing.T) {
	const interval = 30 * time.Second
	s := scheduleOf(ref("kv", "db-password"), interval, 1)
	if s.phase < 0 || s.phase >= interval {
		t.Fatalf("phase %v outside [0, %v)", s.phase, interval)
	}
	base := time.Unix(1_800_000_000, 0) // a multiple of 30 s
	grid := base.Add(s.phase)
	for _, c := range []struct {
		at        time.Duration // after the grid point
		due, next time.Duration
	}{
		{0, 0, interval},
		{time.Nanosecond, 0, interval},
		{interval - time.Nanosecond, 0, interval},
		{interval, interval, 2 * interval},
		{-time.Nanosecond, -interval, 0},
		{95 * time.Second, 90 * time.Second, 120 * time.Second},
	} {
		now := grid.Add(c.at)
		if got := s.due(now); !got.Equal(grid.Add(c.due)) {
			t.Errorf("due(grid%+v) = grid%+v, want grid%+v", c.at, got.Sub(grid), c.due)
		}
		if got := s.next(now); !got.Equal(grid.Add(c.next)) {
			t.Errorf("next(grid%+v) = grid%+v, want grid%+v", c.at, got.Sub(grid), c.next)
		}
		if got := s.maxAge(now); got != c.at-c.due {
			t.Errorf("maxAge(grid%+v) = %v, want %v", c.at, got, c.at-c.due)
		}
	}
}

// TestScheduleMeanPeriodIsTheInterval: a controller that reads each object
// when woken and asks to be woken at next() reads it exactly once per
// interval on average, however late each pass runs (queueing, reconcile
// time) — the lateness delays one read, never the ones after it. The old
// rule (an interval plus up to 10% jitter from the end of each pass) read
// about 0.9 times per interval.
func TestScheduleMeanPeriodIsTheInterval(t *testing.T) {
	const (
		interval = 30 * time.Second
		periods  = 1000
	)
	s := scheduleOf(ref("kv", "api-key"), interval, 1)
	now := time.Unix(1_800_000_017, 0)
	first := now
	reads := 0
	for i := range periods {
		// Each pass runs late by a varying 0-900 ms and takes 50 ms.
		late := time.Duration(i*7919%900) * time.Millisecond
		now = now.Add(late)
		reads++
		now = now.Add(50 * time.Millisecond)
		wake := s.next(now)
		if wake.Sub(now) > interval {
			t.Fatalf("asked to sleep %v, more than the interval", wake.Sub(now))
		}
		now = wake
	}
	perInterval := float64(reads) / (float64(now.Sub(first)) / float64(interval))
	if perInterval < 0.999 || perInterval > 1.001 {
		t.Errorf("%.4f reads per interval, want 1 (mean period %v)", perInterval, now.Sub(first)/time.Duration(reads))
	}
}

// TestSchedulePhaseSpread: objects' due times spread over jitter·interval,
// every spelling of one object shares them, and no jitter puts them all at
// the grid's origin.
func TestSchedulePhaseSpread(t *testing.T) {
	const interval = time.Minute
	var buckets [10]int
	for i := range 1000 {
		p := scheduleOf(ref("kv", fmt.Sprintf("s-%d", i)), interval, 1).phase
		buckets[p*10/interval]++
	}
	for i, n := range buckets {
		// 100 expected in each tenth; a fair hash stays well inside 60-140.
		if n < 60 || n > 140 {
			t.Errorf("tenth %d of the interval holds %d of 1000 objects' due times: not spread (%v)", i, n, buckets)
		}
	}
	for i := range 100 {
		if p := scheduleOf(ref("kv", fmt.Sprintf("s-%d", i)), interval, 0.1).phase; p >= interval/10 {
			t.Errorf("jitter 0.1 gave phase %v, beyond a tenth of %v", p, interval)
		}
		if p := scheduleOf(ref("kv", fmt.Sprintf("s-%d", i)), interval, 0).phase; p != 0 {
			t.Errorf("no jitter gave phase %v", p)
		}
	}
	if a, b := scheduleOf(ref("KV", "Name"), interval, 1), scheduleOf(ref("kv", "name"), interval, 1); a != b {
		t.Errorf("two spellings of one object have different due times: %v, %v", a.phase, b.phase)
	}
	// Intervals that are multiples share due times: a 60 s object's due
	// times are among the 30 s one's, so one read serves both.
	r := ref("kv", "shared")
	long, short := scheduleOf(r, 2*interval, 1), scheduleOf(r, interval, 1)
	now := time.Unix(1_800_000_000, 0)
	if d := long.next(now); !short.due(d).Equal(d) {
		t.Errorf("the 2-minute schedule's due time %v is not one of the 1-minute schedule's", d)
	}
}
