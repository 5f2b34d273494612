// Package watch is the event stream of a Kubernetes watch request
// (k8s.io/apimachinery/pkg/watch) as package kube consumes it.
package watch

import "sync"

// EventType is the type of a watch event.
type EventType string

const (
	Added    EventType = "ADDED"
	Modified EventType = "MODIFIED"
	Deleted  EventType = "DELETED"
	Bookmark EventType = "BOOKMARK"
	Error    EventType = "ERROR"
)

// Event is one change: Object is the watched type's pointer (*corev1.Pod,
// *corev1.Event, ...), or a *metav1.Status for Error.
type Event struct {
	Type   EventType
	Object any
}

// Interface is a running watch. ResultChan is closed when the stream ends
// (the server closed it, it broke, its context ended, or Stop). Stop may
// be called any number of times, from any goroutine.
type Interface interface {
	Stop()
	ResultChan() <-chan Event
}

// FakeWatcher is an Interface that a test feeds by hand.
type FakeWatcher struct {
	result  chan Event
	once    sync.Once
	mu      sync.Mutex
	stopped bool
}

// NewFake is a FakeWatcher with an unbuffered channel.
func NewFake() *FakeWatcher { return NewFakeWithChanSize(0) }

// NewFakeWithChanSize is a FakeWatcher whose channel holds size events.
func NewFakeWithChanSize(size int) *FakeWatcher {
	return &FakeWatcher{result: make(chan Event, size)}
}

// Stop closes the result channel.
func (f *FakeWatcher) Stop() {
	f.once.Do(func() {
		f.mu.Lock()
		f.stopped = true
		close(f.result)
		f.mu.Unlock()
	})
}

// ResultChan is the events' channel.
func (f *FakeWatcher) ResultChan() <-chan Event { return f.result }

// Add sends an Added event (blocking on a full channel).
func (f *FakeWatcher) Add(obj any) { f.Action(Added, obj) }

// Modify sends a Modified event.
func (f *FakeWatcher) Modify(obj any) { f.Action(Modified, obj) }

// Delete sends a Deleted event.
func (f *FakeWatcher) Delete(obj any) { f.Action(Deleted, obj) }

// Error sends an Error event.
func (f *FakeWatcher) Error(obj any) { f.Action(Error, obj) }

// Action sends an event of type t.
func (f *FakeWatcher) Action(t EventType, obj any) { f.result <- Event{Type: t, Object: obj} }
