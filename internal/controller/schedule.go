package controller

import (
	"hash/fnv"
	"strings"
	"time"

	"github.com/latchkey-dev/latchkey/internal/backend"
)

// Refresh schedule.
//
// The refresh interval is a promise: an object with a 30 s interval is read
// every 30 s on average, not later. Counting the interval from the end of
// each pass (as the controller once did, plus up to 10% jitter) makes every
// period longer than the interval: the time queued and reconciling is added
// each time, the jitter only ever lengthens, and an AzureKeyVaultSecret
// served from the shared cache a value read almost an interval earlier by
// another one waits a whole interval more, so objects shared by several
// resources were read about every 1.2 intervals.
//
// Instead, each object has fixed due times: a grid phase + k·interval on
// the wall clock, its phase drawn from a hash of the object's reference
// within the first jitter·interval. A pass reads the object unless it was
// read since the latest due time (a value read since then is served from
// the cache, whoever read it), and asks to be woken at the next due time.
// So:
//   - the mean period is exactly the interval: due times do not drift with
//     queueing or reconcile time, which only delay one read, not the next;
//   - jitter spreads objects inside the interval (objects created together
//     are not refreshed together) and never lengthens it;
//   - every resource pointing at one object shares its due times, so one
//     read a due time serves them all;
//   - the schedule needs no state: a restarted controller, or a new leader,
//     knows every object's next due time without reading anything.
//
// A new object is read at once; its first refresh is at its next due time,
// which may be sooner than an interval after that first read.
type schedule struct {
	interval time.Duration
	phase    time.Duration
}

// scheduleOf is ref's refresh schedule for interval, its phase spread over
// jitter (0..1) of it.
func scheduleOf(ref backend.Ref, interval time.Duration, jitter float64) schedule {
	s := schedule{interval: interval}
	spread := time.Duration(min(max(jitter, 0), 1) * float64(interval))
	if spread <= 0 {
		return s
	}
	h := fnv.New64a()
	// Key Vault names are not case-sensitive: the cache shares one entry
	// between spellings, so they share their due times too.
	_, _ = h.Write([]byte(ref.Backend + "\x00" + strings.ToLower(ref.Store) + "\x00" + string(ref.Kind) + "\x00" + strings.ToLower(ref.Name)))
	s.phase = time.Duration(h.Sum64() % uint64(spread)) //nolint:gosec // below spread, a positive Duration: no overflow
	return s
}

// due returns the latest due time at or before now: a read since then is
// fresh; one before it is not.
func (s schedule) due(now time.Time) time.Time {
	if s.interval <= 0 {
		return now
	}
	ns := now.UnixNano() - int64(s.phase)
	off := ns % int64(s.interval)
	if off < 0 {
		off += int64(s.interval)
	}
	return now.Add(-time.Duration(off))
}

// next returns the first due time after now.
func (s schedule) next(now time.Time) time.Time {
	return s.due(now).Add(s.interval)
}

// maxAge is how old a stored read may be at now to serve a pass: read since
// the latest due time. At a due time itself it is zero: a stored read is not
// used, but one in flight is joined.
func (s schedule) maxAge(now time.Time) time.Duration {
	return now.Sub(s.due(now))
}

// NextRefresh returns when an unpinned object ref, refreshed every interval
// with jitter, is next due after now. Benchmarks and tests predict the reads
// of a controller with it.
func NextRefresh(ref backend.Ref, interval time.Duration, jitter float64, now time.Time) time.Time {
	return scheduleOf(ref, interval, jitter).next(now)
}
