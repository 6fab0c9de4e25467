package cluster

import (
	"context"
	"fmt"
	"sync"
)

// Member is one source of workers: the gRPC Server, or another protocol's.
type Member interface {
	Events() <-chan Event
	Send(workerID string, cmd Command) error
}

// Merged puts several Members behind one Events/Send pair: events of all come
// on one channel (each member's in its own order) and Send goes to the member
// whose worker it is.
type Merged struct {
	members []Member
	events  chan Event
	wg      sync.WaitGroup

	mu    sync.Mutex
	owner map[string]int // worker id -> member index, from EventJoined to EventLeft
}

// Merge forwards the members' events until ctx ends; Wait waits for that.
func Merge(ctx context.Context, members ...Member) *Merged {
	m := &Merged{members: members, events: make(chan Event, 1024), owner: map[string]int{}}
	for i, mem := range members {
		m.wg.Add(1)
		go m.forward(ctx, i, mem)
	}
	return m
}

func (m *Merged) forward(ctx context.Context, i int, mem Member) {
	defer m.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case e := <-mem.Events():
			// Ownership changes before the event is seen, so a Send that
			// answers a join finds its worker.
			m.mu.Lock()
			switch e.Kind {
			case EventJoined:
				m.owner[e.Worker.ID] = i
			case EventLeft:
				if m.owner[e.Worker.ID] == i {
					delete(m.owner, e.Worker.ID)
				}
			}
			m.mu.Unlock()
			select {
			case m.events <- e:
			case <-ctx.Done():
				return
			}
		}
	}
}

// Events delivers every member's events.
func (m *Merged) Events() <-chan Event { return m.events }

// Send routes cmd to the member that owns the worker.
func (m *Merged) Send(workerID string, cmd Command) error {
	m.mu.Lock()
	i, ok := m.owner[workerID]
	m.mu.Unlock()
	if !ok {
		return fmt.Errorf("%w: %s", ErrUnknownWorker, workerID)
	}
	return m.members[i].Send(workerID, cmd)
}

// Wait waits for the forwarding goroutines, after ctx ended.
func (m *Merged) Wait() { m.wg.Wait() }
