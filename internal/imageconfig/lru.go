package imageconfig

import (
	"container/list"
	"time"
)

// lru is a map bounded in entries (and, withCost, in bytes) whose entries
// also expire. It is not safe for concurrent use; the Resolver's mutex
// guards it.
type lru[K comparable, V any] struct {
	max   int
	order *list.List // front: most recently used
	items map[K]*list.Element
	// maxCost, when positive, bounds the sum of cost over the entries.
	maxCost int
	cost    func(V) int
	total   int
}

type lruItem[K comparable, V any] struct {
	key     K
	value   V
	expires time.Time
	cost    int
}

func newLRU[K comparable, V any](maxEntries int) *lru[K, V] {
	return &lru[K, V]{max: maxEntries, order: list.New(), items: map[K]*list.Element{}}
}

// withCost bounds l by the sum of cost(value) too.
func (l *lru[K, V]) withCost(maxCost int, cost func(V) int) *lru[K, V] {
	l.maxCost, l.cost = maxCost, cost
	return l
}

// get returns k's value unless it is missing or expired at now.
func (l *lru[K, V]) get(k K, now time.Time) (V, bool) {
	var zero V
	el, ok := l.items[k]
	if !ok {
		return zero, false
	}
	it := el.Value.(*lruItem[K, V])
	if !now.Before(it.expires) {
		l.remove(el)
		return zero, false
	}
	l.order.MoveToFront(el)
	return it.value, true
}

// add stores v under k until expires, evicting the least recently used
// entries while over a bound. A value costlier than the whole budget is
// not stored.
func (l *lru[K, V]) add(k K, v V, expires time.Time) {
	c := 0
	if l.cost != nil {
		c = l.cost(v)
		if c > l.maxCost {
			return
		}
	}
	if el, ok := l.items[k]; ok {
		l.remove(el)
	}
	l.items[k] = l.order.PushFront(&lruItem[K, V]{key: k, value: v, expires: expires, cost: c})
	l.total += c
	for l.order.Len() > l.max || (l.maxCost > 0 && l.total > l.maxCost) {
		l.remove(l.order.Back())
	}
}

func (l *lru[K, V]) remove(el *list.Element) {
	it := el.Value.(*lruItem[K, V])
	l.order.Remove(el)
	delete(l.items, it.key)
	l.total -= it.cost
}

func (l *lru[K, V]) len() int { return l.order.Len() }
