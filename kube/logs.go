package kube

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"time"

	apierrors "github.com/pipe-run/pipe/kube/internal/k8s/apierrors"
	corev1 "github.com/pipe-run/pipe/kube/internal/k8s/corev1"
	metav1 "github.com/pipe-run/pipe/kube/internal/k8s/metav1"
)

// logCursor remembers how far into a container's log the writer got, by
// the kubelet's per-line timestamps, so that a stream reopened after a
// break (sinceTime has whole seconds only) writes no line twice.
type logCursor struct {
	out     io.Writer
	last    time.Time // timestamp of the last line written, whole or in part
	atLast  int       // whole lines written with timestamp last
	partial int       // bytes written of the line after those, when it was cut off

	// Of the stream being read: the timestamp of its current line and how
	// many lines before it had the same one.
	curTS  time.Time
	curIdx int
}

// since is where a reopened stream must start.
func (c *logCursor) since() *metav1.Time {
	if c.last.IsZero() {
		return nil
	}
	return &metav1.Time{Time: c.last}
}

// read copies one stream, skipping what was written already.
func (c *logCursor) read(r io.Reader) error {
	c.curTS, c.curIdx = time.Time{}, 0
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			c.line(line)
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

// line handles "<RFC3339Nano> <text>", with or without its newline.
func (c *logCursor) line(raw []byte) {
	tsText, text, ok := bytes.Cut(raw, []byte(" "))
	ts, err := time.Parse(time.RFC3339Nano, string(tsText))
	whole := bytes.HasSuffix(raw, []byte("\n"))
	if !ok || err != nil {
		// Not the kubelet's format: no way to tell duplicates. A whole
		// line is written; a piece is a stream cut inside the timestamp,
		// and the reopened stream brings the line again.
		if whole {
			_, _ = c.out.Write(raw)
		}
		return
	}
	if !ts.Equal(c.curTS) {
		c.curTS, c.curIdx = ts, 0
	} else {
		c.curIdx++
	}
	switch {
	case ts.Before(c.last):
		return
	case ts.After(c.last):
		c.last, c.atLast, c.partial = ts, 0, 0
	case c.curIdx < c.atLast:
		return
	case c.curIdx > c.atLast:
		// A line at the same instant that this cursor never saw.
		c.partial = 0
	}
	if c.partial > 0 {
		text = text[min(c.partial, len(text)):]
	}
	_, _ = c.out.Write(text)
	if whole {
		c.atLast++
		c.partial = 0
	} else {
		c.partial += len(text)
	}
}

// streamLogs follows the step container's log into out until the
// container has ended (done reports that) and one last read found nothing
// new, or until ctx ends. A broken stream is reopened after b.logRetry.
// When the API server refuses the log (RBAC), no retry can help: it
// returns that error at once.
func (b *Backend) streamLogs(ctx context.Context, pod string, out io.Writer, done func() bool) error {
	c := &logCursor{out: out}
	for ctx.Err() == nil {
		ended := done()
		err := b.readLog(ctx, pod, c, !ended)
		if apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err) {
			return err
		}
		if ended {
			return nil
		}
		if done() {
			continue // one last read without follow, for lines a break lost
		}
		sleep(ctx, b.logRetry)
	}
	return nil
}

// readLog reads the log once, following it when follow is set.
func (b *Backend) readLog(ctx context.Context, pod string, c *logCursor, follow bool) error {
	opts := &corev1.PodLogOptions{Container: ContainerStep, Follow: follow, Timestamps: true, SinceTime: c.since()}
	rc, err := b.client.podLogs(ctx, b.ns, pod, opts)
	if err != nil {
		return err
	}
	defer rc.Close()
	return c.read(rc)
}

// logTail is the last lines of a container's log, for error details.
func (b *Backend) logTail(ctx context.Context, pod, container string, lines int64) string {
	opts := &corev1.PodLogOptions{Container: container, TailLines: &lines}
	rc, err := b.client.podLogs(ctx, b.ns, pod, opts)
	if err != nil {
		return ""
	}
	defer rc.Close()
	raw, err := io.ReadAll(rc)
	if err != nil {
		return ""
	}
	const max = 4 << 10
	if len(raw) > max {
		raw = raw[len(raw)-max:]
	}
	return string(bytes.TrimRight(raw, "\n"))
}
