package isolation

import (
	"io"
	"os"
	"sync"
	"time"
)

// streams connects a Process's Stdin, Stdout and Stderr to the fds its
// container process gets. An *os.File is passed as it is; any other reader
// or writer gets a pipe and a copying goroutine; nil is /dev/null.
type streams struct {
	child  []*os.File // the container's ends, in fd order; sent to init, then closed here
	owned  []*os.File // child ends this side opened (closed after sending)
	reads  []*os.File // this side's ends of output pipes
	stdinW *os.File   // this side's end of the stdin pipe
	copies sync.WaitGroup
}

// newStreams sets up the three streams of p (not for a TTY process).
func newStreams(p *Process) (*streams, error) {
	s := &streams{}
	in, err := s.input(p.Stdin)
	if err != nil {
		return nil, s.abort(err)
	}
	out, err := s.output(p.Stdout)
	if err != nil {
		return nil, s.abort(err)
	}
	errf := out
	if !sameWriter(p.Stdout, p.Stderr) {
		if errf, err = s.output(p.Stderr); err != nil {
			return nil, s.abort(err)
		}
	}
	s.child = []*os.File{in, out, errf}
	return s, nil
}

func (s *streams) input(r io.Reader) (*os.File, error) {
	if f, ok := r.(*os.File); ok {
		return f, nil
	}
	if r == nil {
		return s.devNull(os.O_RDONLY)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	s.owned = append(s.owned, pr)
	s.stdinW = pw
	go func() {
		_, _ = io.Copy(pw, r)
		pw.Close()
	}()
	return pr, nil
}

func (s *streams) output(w io.Writer) (*os.File, error) {
	if f, ok := w.(*os.File); ok {
		return f, nil
	}
	if w == nil {
		return s.devNull(os.O_WRONLY)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	s.owned = append(s.owned, pw)
	s.reads = append(s.reads, pr)
	s.copies.Add(1)
	go func() {
		defer s.copies.Done()
		_, _ = io.Copy(w, pr)
	}()
	return pw, nil
}

func (s *streams) devNull(flag int) (*os.File, error) {
	f, err := os.OpenFile(os.DevNull, flag, 0)
	if err != nil {
		return nil, err
	}
	s.owned = append(s.owned, f)
	return f, nil
}

// fds lists the child ends' fds, in order.
func (s *streams) fds() []int {
	out := make([]int, len(s.child))
	for i, f := range s.child {
		out[i] = int(f.Fd())
	}
	return out
}

// sent closes the child ends this side opened, once init has its copies.
func (s *streams) sent() {
	for _, f := range s.owned {
		f.Close()
	}
	s.owned = nil
}

// finish waits (up to grace) until the output is copied, then closes
// everything; a background process that still holds the pipes (possible
// only with KeepAlive or Exec) loses the rest of its output.
func (s *streams) finish(grace time.Duration) {
	done := make(chan struct{})
	go func() { s.copies.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(grace):
	}
	for _, f := range s.reads {
		f.Close()
	}
	if s.stdinW != nil {
		s.stdinW.Close()
	}
	<-done
}

// abort closes what was opened and returns err.
func (s *streams) abort(err error) error {
	s.sent()
	for _, f := range s.reads {
		f.Close()
	}
	return err
}

// sameWriter says whether a and b are the same writer (as os/exec does,
// careful with writers that cannot be compared).
func sameWriter(a, b io.Writer) (same bool) {
	defer func() {
		if recover() != nil {
			same = false
		}
	}()
	return a != nil && a == b
}

// abortIfAny closes the streams of a process that did not start.
func (s *streams) abortIfAny() {
	if s != nil {
		_ = s.abort(nil)
	}
}
