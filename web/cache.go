package web

import (
	"container/list"
	"sync"
	"time"

	"github.com/stampede-load/stampede/pkg/report"
	"github.com/stampede-load/stampede/pkg/store"
)

// runCache keeps the most recently opened stored runs decoded, so opening or
// comparing a long run is fast the second time. Bounded in entries and age.
type runCache struct {
	db  *store.DB
	max int
	ttl time.Duration
	now func() time.Time

	mu    sync.Mutex
	order *list.List // front: most recently used; values are *cacheEntry
	items map[string]*list.Element
}

type cacheEntry struct {
	id   string
	view *report.RunView
	at   time.Time
}

func newRunCache(db *store.DB, max int, ttl time.Duration) *runCache {
	if max <= 0 {
		max = 16
	}
	if ttl <= 0 {
		ttl = 10 * time.Minute
	}
	return &runCache{db: db, max: max, ttl: ttl, now: time.Now, order: list.New(), items: map[string]*list.Element{}}
}

// get returns the decoded run, from the cache when fresh. A running run is never
// cached: it changes every second.
func (c *runCache) get(id string) (*report.RunView, error) {
	c.mu.Lock()
	if el, ok := c.items[id]; ok {
		e := el.Value.(*cacheEntry)
		if c.now().Sub(e.at) < c.ttl {
			c.order.MoveToFront(el)
			c.mu.Unlock()
			return e.view, nil
		}
		c.order.Remove(el)
		delete(c.items, id)
	}
	c.mu.Unlock()
	d, err := c.db.LoadRun(id)
	if err != nil {
		return nil, err
	}
	v, err := report.View(d)
	if err != nil {
		return nil, err
	}
	if v.Run.Status == string(store.StatusRunning) {
		return v, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[id]; ok {
		c.order.Remove(el)
	}
	c.items[id] = c.order.PushFront(&cacheEntry{id: id, view: v, at: c.now()})
	for c.order.Len() > c.max {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.items, last.Value.(*cacheEntry).id)
	}
	return v, nil
}

func (c *runCache) drop(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[id]; ok {
		c.order.Remove(el)
		delete(c.items, id)
	}
}
