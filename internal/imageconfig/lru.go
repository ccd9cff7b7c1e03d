package imageconfig

import (
	"container/list"
	"time"
)

// lru is a size-bounded map whose entries also expire. It is not safe for
// concurrent use; the Resolver's mutex guards it.
type lru[K comparable, V any] struct {
	max   int
	order *list.List // front: most recently used
	items map[K]*list.Element
}

type lruItem[K comparable, V any] struct {
	key     K
	value   V
	expires time.Time
}

func newLRU[K comparable, V any](maxEntries int) *lru[K, V] {
	return &lru[K, V]{max: maxEntries, order: list.New(), items: map[K]*list.Element{}}
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
		l.order.Remove(el)
		delete(l.items, k)
		return zero, false
	}
	l.order.MoveToFront(el)
	return it.value, true
}

// add stores v under k until expires, evicting the least recently used
// entry when full.
func (l *lru[K, V]) add(k K, v V, expires time.Time) {
	if el, ok := l.items[k]; ok {
		it := el.Value.(*lruItem[K, V])
		it.value, it.expires = v, expires
		l.order.MoveToFront(el)
		return
	}
	l.items[k] = l.order.PushFront(&lruItem[K, V]{key: k, value: v, expires: expires})
	for l.order.Len() > l.max {
		oldest := l.order.Back()
		l.order.Remove(oldest)
		delete(l.items, oldest.Value.(*lruItem[K, V]).key)
	}
}

func (l *lru[K, V]) len() int { return l.order.Len() }
