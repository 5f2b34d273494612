//go:build linux

package cache

import (
	"archive/tar"
	"bufio"
	"context"
	"fmt"
	"io"
)

// Extraction runs in two goroutines: a reader parses the tar stream and
// reads entry contents ahead into pooled chunks, while the extractor applies
// the entries strictly in order. Parsing (archive/tar is a quarter of the
// CPU time) overlaps with the file system calls, and since one goroutine
// applies every entry, the order-dependent rules (replacement, hardlinks,
// symlink checks) are exactly those of a sequential extraction.

// readAheadChunks bounds the chunks in flight (each copyBufSize bytes).
const readAheadChunks = 16

// chunk is a piece of the stream: the start of an entry (hdr set) and/or a
// piece of its content. last marks the entry's final chunk; err ends the
// stream with a read error.
type chunk struct {
	hdr  *tar.Header
	buf  *[]byte // from copyBufs; nil when there is no content
	n    int
	last bool
	err  error
}

// readAhead parses r and sends its chunks until the end, an error, or stop.
// It closes out when it returns, and never touches r afterwards.
func readAhead(r io.Reader, out chan<- chunk, stop <-chan struct{}) {
	defer close(out)
	tr := tar.NewReader(bufio.NewReaderSize(r, 64<<10))
	send := func(c chunk) bool {
		select {
		case out <- c:
			return true
		case <-stop:
			if c.buf != nil {
				copyBufs.Put(c.buf)
			}
			return false
		}
	}
	for entries := 0; ; entries++ {
		hdr, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			send(chunk{err: fmt.Errorf("read the layer tar after %d entries: %w", entries, err)})
			return
		}
		if !sendContent(tr, hdr, send) {
			return
		}
	}
}

// sendContent sends hdr with the first chunk of its content, then the rest.
func sendContent(tr io.Reader, hdr *tar.Header, send func(chunk) bool) bool {
	first := hdr
	for {
		buf := copyBufs.Get().(*[]byte)
		n, err := fill(tr, *buf)
		c := chunk{hdr: first, buf: buf, n: n, last: err != nil}
		if n == 0 {
			copyBufs.Put(buf)
			c.buf = nil
		}
		if err != nil && err != io.EOF {
			c.err = err // a truncated body: reported for this entry
		}
		if !send(c) {
			return false
		}
		if c.last {
			return c.err == nil
		}
		first = nil
	}
}

// chunkReader is one entry's content in the chunk stream.
type chunkReader struct {
	in   <-chan chunk
	cur  chunk
	off  int
	done bool // the entry's last chunk has been received
}

// next moves to the following chunk of the entry.
func (c *chunkReader) next() bool {
	c.release()
	nc, ok := <-c.in
	if !ok {
		return false
	}
	c.set(nc)
	return true
}

// set makes nc the current chunk.
func (c *chunkReader) set(nc chunk) {
	c.cur, c.off, c.done = nc, 0, nc.last
	if c.done && c.cur.err == nil {
		c.cur.err = io.EOF
	}
}

// release gives the current chunk's buffer back.
func (c *chunkReader) release() {
	if c.cur.buf != nil {
		copyBufs.Put(c.cur.buf)
		c.cur.buf = nil
	}
	c.cur.n, c.off = 0, 0
}

// skipRest drops what the entry's handler did not read of its content.
func (c *chunkReader) skipRest() error {
	for !c.done {
		if !c.next() {
			return io.ErrUnexpectedEOF
		}
	}
	c.release()
	if c.cur.err != io.EOF {
		return c.cur.err
	}
	return nil
}

// writeTo writes the rest of the entry's content to fd, straight from the
// chunks, checking ctx between them.
func (c *chunkReader) writeTo(ctx context.Context, fd int) (int64, error) {
	var n int64
	for {
		if c.off < c.cur.n {
			if err := writeAll(fd, (*c.cur.buf)[c.off:c.cur.n]); err != nil {
				return n, err
			}
			n += int64(c.cur.n - c.off)
			c.off = c.cur.n
		}
		if c.done {
			if c.cur.err == io.EOF {
				return n, nil
			}
			return n, c.cur.err
		}
		if err := ctx.Err(); err != nil {
			return n, err
		}
		if !c.next() {
			return n, io.ErrUnexpectedEOF
		}
	}
}

// run extracts the tar stream r: a readAhead goroutine parses it while this
// one applies the entries, then sets the dirs' modes and times. It returns
// only once the reader goroutine is done with r.
func (x *extractor) run(ctx context.Context, r io.Reader) error {
	ch := make(chan chunk, readAheadChunks)
	stop := make(chan struct{})
	go readAhead(r, ch, stop)
	err := x.consume(ctx, ch)
	close(stop)
	for c := range ch {
		if c.buf != nil {
			copyBufs.Put(c.buf)
		}
	}
	if err != nil {
		return err
	}
	return x.finishDirs(ctx)
}

// consume applies the entries in the order of the stream.
func (x *extractor) consume(ctx context.Context, ch <-chan chunk) error {
	cr := &chunkReader{in: ch}
	for {
		if err := ctx.Err(); err != nil {
			return x.fail("", err)
		}
		c, ok := <-ch
		if !ok {
			return nil
		}
		if c.hdr == nil { // between entries, only a read error comes alone
			return x.fail("", c.err)
		}
		cr.set(c)
		handle := x.entry
		if x.handle != nil {
			handle = x.handle
		}
		err := handle(ctx, c.hdr, cr)
		if err == nil {
			err = cr.skipRest()
		}
		if err != nil {
			cr.release()
			return x.fail(c.hdr.Name, err)
		}
	}
}
