package rest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/pipe-run/pipe/kube/internal/k8s/metav1"
	"github.com/pipe-run/pipe/kube/internal/k8s/watch"
)

// Watch makes r (a request with watch=true) and decodes its stream of
// {"type": ..., "object": ...} values: objects into newObject()'s values,
// an ERROR's object into a *metav1.Status. The result channel closes when
// the stream ends, breaks, ctx ends or Stop is called; a value that does
// not decode is sent as an ERROR event first.
func (c *Client) Watch(ctx context.Context, r Request, newObject func() any) (watch.Interface, error) {
	var cancel context.CancelFunc
	if r.Timeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, r.Timeout)
	} else {
		ctx, cancel = context.WithCancel(ctx)
	}
	body, err := c.Stream(ctx, r)
	if err != nil {
		cancel()
		return nil, err
	}
	w := &streamWatcher{result: make(chan watch.Event), done: make(chan struct{}), cancel: cancel, body: body}
	go w.run(newObject)
	return w, nil
}

// streamWatcher is a watch.Interface over a response body.
type streamWatcher struct {
	result chan watch.Event
	done   chan struct{}
	once   sync.Once
	cancel context.CancelFunc
	body   io.ReadCloser
}

// Stop ends the watch; safe to call more than once, from any goroutine.
func (w *streamWatcher) Stop() {
	w.once.Do(func() {
		close(w.done)
		w.cancel()
	})
}

// ResultChan is the events' channel.
func (w *streamWatcher) ResultChan() <-chan watch.Event { return w.result }

// wireEvent is one value of a watch stream.
type wireEvent struct {
	Type   watch.EventType `json:"type"`
	Object json.RawMessage `json:"object"`
}

func (w *streamWatcher) run(newObject func() any) {
	defer close(w.result)
	defer w.body.Close()
	defer w.Stop()
	dec := json.NewDecoder(w.body)
	for {
		var we wireEvent
		if err := dec.Decode(&we); err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !w.stopped() {
				w.send(decodeError(err))
			}
			return
		}
		ev, err := decodeEvent(we, newObject)
		if err != nil {
			ev = decodeError(err)
		}
		if !w.send(ev) {
			return
		}
	}
}

// decodeEvent decodes one event's object.
func decodeEvent(we wireEvent, newObject func() any) (watch.Event, error) {
	switch we.Type {
	case watch.Added, watch.Modified, watch.Deleted, watch.Bookmark:
		obj := newObject()
		if err := json.Unmarshal(we.Object, obj); err != nil {
			return watch.Event{}, fmt.Errorf("decode a %s event's object: %w", we.Type, err)
		}
		return watch.Event{Type: we.Type, Object: obj}, nil
	case watch.Error:
		st := &metav1.Status{}
		if err := json.Unmarshal(we.Object, st); err != nil {
			return watch.Event{}, fmt.Errorf("decode an ERROR event's status: %w", err)
		}
		return watch.Event{Type: watch.Error, Object: st}, nil
	}
	return watch.Event{}, fmt.Errorf("a watch event of unknown type %q", we.Type)
}

// decodeError is the ERROR event of a stream that cannot be read.
func decodeError(err error) watch.Event {
	return watch.Event{Type: watch.Error, Object: &metav1.Status{
		Status: metav1.StatusFailure, Reason: metav1.StatusReasonInternalError, Code: 500,
		Message: fmt.Sprintf("unable to decode an event from the watch stream: %v", err),
	}}
}

func (w *streamWatcher) send(ev watch.Event) bool {
	select {
	case w.result <- ev:
		return true
	case <-w.done:
		return false
	}
}

func (w *streamWatcher) stopped() bool {
	select {
	case <-w.done:
		return true
	default:
		return false
	}
}
