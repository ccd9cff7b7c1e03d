package leakcheck

import "strings"

// index finds many needles in one pass over a haystack: needles are at
// least MinLength (8) bytes long, so each is filed under its first 8 bytes,
// and a bitmap of those prefixes rules most haystack positions out at the
// cost of one hash. Looking for each form with strings.Index would read a
// large log once per form, thousands of times for a private key.
type index struct {
	bits    []uint64
	byStart map[uint64][]entry
}

// ref is a needle of a secret of a Set.
type ref struct{ secret, needle int }

type entry struct {
	text string
	ref  ref
}

// bitmapLog is the bitmap's size: 2^20 bits, 128 KiB.
const bitmapLog = 20

func (x *index) add(text string, r ref) {
	if x.byStart == nil {
		x.bits = make([]uint64, (1<<bitmapLog)/64)
		x.byStart = map[uint64][]entry{}
	}
	k := prefix(text, 0)
	h := hash(k)
	x.bits[h/64] |= 1 << (h % 64)
	x.byStart[k] = append(x.byStart[k], entry{text, r})
}

// scan calls found for each needle at each offset of haystack where it
// starts, in offset order.
func (x *index) scan(haystack string, found func(offset int, r ref)) {
	if x.byStart == nil {
		return
	}
	for i := 0; i+MinLength <= len(haystack); i++ {
		k := prefix(haystack, i)
		if h := hash(k); x.bits[h/64]&(1<<(h%64)) == 0 {
			continue
		}
		for _, e := range x.byStart[k] {
			if strings.HasPrefix(haystack[i:], e.text) {
				found(i, e.ref)
			}
		}
	}
}

// prefix is the 8 bytes of s at i as a number.
func prefix(s string, i int) uint64 {
	_ = s[i+7]
	return uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
		uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
}

// hash is Fibonacci hashing of k to a bitmap position.
func hash(k uint64) uint64 { return (k * 0x9E3779B97F4A7C15) >> (64 - bitmapLog) }
