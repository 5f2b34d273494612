package kube

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "github.com/pipe-run/pipe/kube/internal/k8s/corev1"
	"github.com/pipe-run/pipe/kube/internal/k8s/types"
)

// Event types.
const (
	EventPhase   = "Phase"   // the pod's phase changed: Reason is the new phase
	EventWarning = "Warning" // a Kubernetes Warning event of the pod, or an API warning
)

// Event is something a Run saw happen to its pod, for the executor's log.
type Event struct {
	Time    time.Time
	Step    string // Step.Name; "" for events of the run as a whole
	StepID  string // Step.ID, the attempt it is about
	Pod     string
	Type    string // EventPhase or EventWarning
	Reason  string // the phase, or the Kubernetes reason (FailedScheduling, BackOff ...)
	Message string
}

// podEvents collects the Kubernetes events of one pod as the event watch
// sees them, for Result.Detail, and passes new warnings on.
type podEvents struct {
	mu   sync.Mutex
	seen map[types.UID]int32 // event UID -> the count already reported
	all  map[types.UID]*corev1.Event
}

func newPodEvents() *podEvents {
	return &podEvents{seen: map[types.UID]int32{}, all: map[types.UID]*corev1.Event{}}
}

// add records e and reports whether it is a warning not reported yet (a
// repeated event is reported again when its count grows).
func (p *podEvents) add(e *corev1.Event) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.all[e.UID] = e.DeepCopy()
	n := eventCount(e)
	if e.Type != corev1.EventTypeWarning || p.seen[e.UID] >= n {
		return false
	}
	p.seen[e.UID] = n
	return true
}

// eventCount is how often e happened (at least once).
func eventCount(e *corev1.Event) int32 {
	if e.Series != nil && e.Series.Count > e.Count {
		return e.Series.Count
	}
	if e.Count < 1 {
		return 1
	}
	return e.Count
}

// describe lists the events, oldest first, one per line, for Detail.
func (p *podEvents) describe() string {
	p.mu.Lock()
	list := make([]*corev1.Event, 0, len(p.all))
	for _, e := range p.all {
		list = append(list, e)
	}
	p.mu.Unlock()
	sort.SliceStable(list, func(i, j int) bool { return eventTime(list[i]).Before(eventTime(list[j])) })
	var b strings.Builder
	for _, e := range list {
		fmt.Fprintf(&b, "  %s %s: %s", e.Type, e.Reason, strings.TrimSpace(e.Message))
		if n := eventCount(e); n > 1 {
			fmt.Fprintf(&b, " (x%d)", n)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// eventTime is when e last happened, by whichever field its reporter set.
func eventTime(e *corev1.Event) time.Time {
	switch {
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	case e.Series != nil && !e.Series.LastObservedTime.IsZero():
		return e.Series.LastObservedTime.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	}
	return e.CreationTimestamp.Time
}
