package agents

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// ErrLineTooLong is returned when a server-sent event stream has a line, or
// an event's data, larger than the reader's limit.
var ErrLineTooLong = errors.New("agents: event stream line too long")

// DefaultMaxEventBytes bounds one line and one event's data of a run stream.
// A `values` event carries the whole thread state on one line, so this is
// generous; it exists so that a broken stream cannot exhaust memory.
const DefaultMaxEventBytes = 16 << 20

// sseEvent is one dispatched server-sent event.
type sseEvent struct {
	Type string // "message" when the stream named none
	Data string // data lines joined with "\n"
	ID   string // the stream's last event ID when the event was dispatched
}

// sseReader parses a text/event-stream body as the WHATWG HTML standard
// ("Server-sent events", parsing an event stream) describes, without the
// reconnection part, which belongs to the caller.
type sseReader struct {
	src      io.Reader
	maxBytes int

	buf     []byte // buf[r:w] is read but not yet consumed
	r, w    int
	scanned int   // bytes of buf[r:w] already searched for a line end
	readErr error // sticky error of src

	started bool // the optional BOM has been handled
	skipLF  bool // the previous line ended in \r: a \n right after it belongs to it

	// The spec's buffers.
	eventType   []byte
	lastType    string // the previous event's type, reused when it repeats
	data        []byte
	idBuffer    string
	lastEventID string
	retry       int // reconnection time in ms from the last valid retry field; -1 if none
}

// sseInitialBuffer is where a stream's buffer starts; it doubles for
// longer lines. Small, because a followed run mostly waits: heartbeats and
// token events fit, and thousands of idle streams each keep theirs.
// sseKeepBuffer is the largest buffer kept once everything in it was
// consumed: one large `values` event must not cost a waiting stream its
// size for the rest of the run.
const (
	sseInitialBuffer = 512
	sseKeepBuffer    = 16 << 10
)

func newSSEReader(src io.Reader, maxBytes int) *sseReader {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxEventBytes
	}
	return &sseReader{src: src, maxBytes: maxBytes, retry: -1}
}

// LastEventID is the stream's last event ID string: the id of the most
// recently dispatched (or id-only) event, persisting across events.
func (s *sseReader) LastEventID() string { return s.lastEventID }

// Retry is the reconnection time the server asked for in milliseconds, or -1.
func (s *sseReader) Retry() int { return s.retry }

// Next returns the next dispatched event. At the end of the stream it returns
// io.EOF; an event cut off by the end of the stream is not dispatched.
func (s *sseReader) Next() (sseEvent, error) {
	for {
		line, err := s.readLine()
		if err != nil {
			return sseEvent{}, err
		}
		if len(line) == 0 {
			if ev, ok := s.dispatch(); ok {
				return ev, nil
			}
			continue
		}
		if err := s.processLine(line); err != nil {
			return sseEvent{}, err
		}
	}
}

// processLine interprets one non-empty line.
func (s *sseReader) processLine(line []byte) error {
	if line[0] == ':' {
		return nil // comment, e.g. a heartbeat
	}
	field, value := line, []byte(nil)
	if i := bytes.IndexByte(line, ':'); i >= 0 {
		field, value = line[:i], line[i+1:]
		if len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
	}
	switch string(field) {
	case "event":
		s.eventType = append(s.eventType[:0], value...)
	case "data":
		if len(s.data)+len(value)+1 > s.maxBytes {
			return fmt.Errorf("%w: event data exceeds %d bytes", ErrLineTooLong, s.maxBytes)
		}
		s.data = append(s.data, value...)
		s.data = append(s.data, '\n')
	case "id":
		if bytes.IndexByte(value, 0) < 0 && string(value) != s.idBuffer {
			s.idBuffer = string(value)
		}
	case "retry":
		if n, ok := asciiDigits(value); ok {
			s.retry = n
		}
	}
	return nil
}

// dispatch runs the spec's dispatch step at a blank line.
func (s *sseReader) dispatch() (sseEvent, bool) {
	s.lastEventID = s.idBuffer
	if len(s.data) == 0 {
		s.eventType = s.eventType[:0]
		return sseEvent{}, false
	}
	ev := sseEvent{
		Type: "message",
		Data: string(s.data[:len(s.data)-1]),
		ID:   s.lastEventID,
	}
	if len(s.eventType) > 0 {
		if string(s.eventType) != s.lastType {
			s.lastType = string(s.eventType) // runs repeat a few names: allocate once per change
		}
		ev.Type = s.lastType
	}
	s.data = s.data[:0]
	s.eventType = s.eventType[:0]
	return ev, true
}

// readLine returns the next line without its terminator (\r\n, \n or \r).
// The slice is valid until the next call.
func (s *sseReader) readLine() ([]byte, error) {
	if !s.started {
		s.skipBOM()
	}
	for {
		if s.skipLF && s.r < s.w {
			if s.buf[s.r] == '\n' {
				s.r++
			}
			s.skipLF = false
		}
		if i := indexLineEnd(s.buf[s.r+s.scanned : s.w]); i >= 0 {
			end := s.r + s.scanned + i
			line := s.buf[s.r:end]
			s.skipLF = s.buf[end] == '\r'
			s.r, s.scanned = end+1, 0
			return line, nil
		}
		s.scanned = s.w - s.r
		if s.scanned > s.maxBytes {
			return nil, fmt.Errorf("%w: more than %d bytes", ErrLineTooLong, s.maxBytes)
		}
		if s.readErr != nil {
			// Whatever is left is an unterminated line: pending data is
			// discarded at the end of the stream.
			s.r, s.w, s.scanned = 0, 0, 0
			return nil, s.readErr
		}
		s.fill()
	}
}

// fill reads more of src into buf, compacting and growing it as needed.
func (s *sseReader) fill() {
	if s.r > 0 {
		n := copy(s.buf, s.buf[s.r:s.w])
		s.r, s.w = 0, n
	}
	if s.w == 0 && len(s.buf) > sseKeepBuffer {
		s.buf = nil // start small again; see sseKeepBuffer
	}
	if s.w == len(s.buf) {
		size := max(2*len(s.buf), sseInitialBuffer)
		size = min(size, s.maxBytes+1) // one byte over the limit is enough to tell
		if size <= len(s.buf) {
			size = len(s.buf) + 1 // not reached: readLine fails before the buffer is full
		}
		grown := make([]byte, size)
		copy(grown, s.buf[:s.w])
		s.buf = grown
	}
	// A reader may return 0, nil; io.Reader asks callers to treat that as
	// nothing happened, so loop a bounded number of times.
	for range 100 {
		n, err := s.src.Read(s.buf[s.w:])
		s.w += n
		if err != nil {
			s.readErr = err
			return
		}
		if n > 0 {
			return
		}
	}
	s.readErr = io.ErrNoProgress
}

// skipBOM drops a UTF-8 byte order mark at the very start of the stream. It
// reads only while what arrived so far could still be a BOM, so it never
// waits for bytes a short stream will not send.
func (s *sseReader) skipBOM() {
	bom := []byte{0xEF, 0xBB, 0xBF}
	for s.w-s.r < len(bom) && bytes.HasPrefix(bom, s.buf[s.r:s.w]) && s.readErr == nil {
		s.fill()
	}
	if bytes.HasPrefix(s.buf[s.r:s.w], bom) {
		s.r += len(bom)
	}
	s.started = true
}

// indexLineEnd returns the index of the first \r or \n in b, or -1. Two
// IndexByte scans are much faster than a byte loop on long data lines; the
// window keeps a stream that ends its lines with \r alone from rescanning a
// large buffer for \n on every line.
func indexLineEnd(b []byte) int {
	const window = 4 << 10
	for off := 0; off < len(b); off += window {
		chunk := b[off:min(off+window, len(b))]
		lf := bytes.IndexByte(chunk, '\n')
		head := chunk
		if lf >= 0 {
			head = chunk[:lf]
		}
		if cr := bytes.IndexByte(head, '\r'); cr >= 0 {
			return off + cr
		}
		if lf >= 0 {
			return off + lf
		}
	}
	return -1
}

// asciiDigits parses a retry field value: only ASCII digits are valid.
func asciiDigits(b []byte) (int, bool) {
	if len(b) == 0 {
		return 0, false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(string(b))
	return n, err == nil
}
