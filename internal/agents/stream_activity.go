package agents

import (
	"io"
	"sync/atomic"
)

// BytesRead counts the bytes received on the stream so far, keep-alive
// comments included. It is safe to call from another goroutine, so a
// watchdog can tell a quiet but live run (the runtime still sends
// keep-alives) from a stalled connection.
func (s *Stream) BytesRead() int64 { return s.read.n.Load() }

// countingReader counts what passes through it.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}
