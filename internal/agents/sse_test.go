package agents

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

// chunkReader returns its input in chunks of the given sizes (cycled), to
// show that where reads split the stream does not matter.
type chunkReader struct {
	data  []byte
	sizes []int
	i     int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := len(r.data)
	if len(r.sizes) > 0 {
		n = min(n, r.sizes[r.i%len(r.sizes)])
		r.i++
	}
	n = copy(p, r.data[:n])
	r.data = r.data[n:]
	return n, nil
}

// piecesReader returns each piece in its own Read, as a server flushing
// after every write would deliver them.
type piecesReader struct{ pieces []string }

func (r *piecesReader) Read(p []byte) (int, error) {
	for len(r.pieces) > 0 && r.pieces[0] == "" {
		r.pieces = r.pieces[1:]
	}
	if len(r.pieces) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.pieces[0])
	r.pieces[0] = r.pieces[0][n:]
	return n, nil
}

// readAllSSE parses everything src holds.
func readAllSSE(src io.Reader, maxBytes int) (events []sseEvent, lastID string, err error) {
	r := newSSEReader(src, maxBytes)
	for {
		ev, err := r.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = nil
			}
			return events, r.LastEventID(), err
		}
		events = append(events, ev)
	}
}

func TestSSEReader(t *testing.T) {
	tests := []struct {
		name   string
		pieces []string
		want   []sseEvent
		lastID string
	}{
		{"one event", []string{"event: values\ndata: {\"a\":1}\nid: 1\n\n"},
			[]sseEvent{{"values", `{"a":1}`, "1"}}, "1"},
		{"multi-line data", []string{"data: a\ndata: b\ndata:\ndata: c\n\n"},
			[]sseEvent{{"message", "a\nb\n\nc", ""}}, ""},
		{"trailing empty data line", []string{"data: a\ndata:\n\n"},
			[]sseEvent{{"message", "a\n", ""}}, ""},
		{"comments and heartbeats", []string{": hello\n\n:\ndata: x\n: in between\n\n:heartbeat\n\n"},
			[]sseEvent{{"message", "x", ""}}, ""},
		{"CRLF", []string{"event: e\r\ndata: x\r\nid: 7\r\n\r\n"},
			[]sseEvent{{"e", "x", "7"}}, "7"},
		{"CR", []string{"event: e\rdata: x\rdata: y\r\rdata: z\r\r"},
			[]sseEvent{{"e", "x\ny", ""}, {"message", "z", ""}}, ""},
		{"mixed line ends", []string{"data: a\r\ndata: b\rdata: c\n\r\n"},
			[]sseEvent{{"message", "a\nb\nc", ""}}, ""},
		{"CRLF split across reads", []string{"data: a\r", "\ndata: b\r", "\n\r", "\n"},
			[]sseEvent{{"message", "a\nb", ""}}, ""},
		{"CR then LF in a later read is one line end", []string{"data: a\r", "", "\n", "\r\n"},
			[]sseEvent{{"message", "a", ""}}, ""},
		{"one leading space stripped", []string{"data:  two\ndata:none\n\n"},
			[]sseEvent{{"message", " two\nnone", ""}}, ""},
		{"colon in value", []string{"data: {\"k\":\"a:b\"}\n\n"},
			[]sseEvent{{"message", `{"k":"a:b"}`, ""}}, ""},
		{"field without colon", []string{"data\n\n"},
			[]sseEvent{{"message", "", ""}}, ""},
		{"BOM", []string{"\xEF\xBB\xBFdata: x\n\n"},
			[]sseEvent{{"message", "x", ""}}, ""},
		{"BOM split across reads", []string{"\xEF", "\xBB", "\xBFdata: x\n\n"},
			[]sseEvent{{"message", "x", ""}}, ""},
		{"only one BOM stripped", []string{"\xEF\xBB\xBF\xEF\xBB\xBFdata: x\n\ndata: y\n\n"},
			[]sseEvent{{"message", "y", ""}}, ""},
		{"BOM prefix that is not a BOM", []string{"\xEF", "data: x\n\ndata: y\n\n"},
			[]sseEvent{{"message", "y", ""}}, ""},
		{"no data is not dispatched and resets the type", []string{"event: lonely\n\ndata: x\n\n"},
			[]sseEvent{{"message", "x", ""}}, ""},
		{"id persists", []string{"id: 1\ndata: a\n\ndata: b\n\n"},
			[]sseEvent{{"message", "a", "1"}, {"message", "b", "1"}}, "1"},
		{"id with NUL ignored", []string{"id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n"},
			[]sseEvent{{"message", "a", "1"}, {"message", "b", "1"}}, "1"},
		{"id-only event moves the last id", []string{"id: 1\ndata: a\n\nid: 2\n\n"},
			[]sseEvent{{"message", "a", "1"}}, "2"},
		{"empty id resets", []string{"id: 1\ndata: a\n\nid\ndata: b\n\n"},
			[]sseEvent{{"message", "a", "1"}, {"message", "b", ""}}, ""},
		{"unknown fields ignored", []string{"foo: bar\nDATA: no\nretry: x\ndata: y\n\n"},
			[]sseEvent{{"message", "y", ""}}, ""},
		{"subgraph event name", []string{"event: messages|tools:call_abc|inner\ndata: [1]\n\n"},
			[]sseEvent{{"messages|tools:call_abc|inner", "[1]", ""}}, ""},
		{"incomplete last event dropped", []string{"data: a\n\ndata: b\n"},
			[]sseEvent{{"message", "a", ""}}, ""},
		{"unterminated last line dropped", []string{"data: a\n\nid: 9\ndata: b"},
			[]sseEvent{{"message", "a", ""}}, ""},
		{"agent server run", []string{
			"event: metadata\ndata: {\"run_id\":\"r1\",\"attempt\":1}\nid: 1\n\n",
			"event: messages|researcher:1\ndata: [{\"content\":\"hi\"},{}]\nid: 2\n\n",
			": heartbeat\n\n",
			"event: values\ndata: {\"messages\":[]}\nid: 3\n\n",
			"event: end\ndata: null\nid: 4\n\n",
		}, []sseEvent{
			{"metadata", `{"run_id":"r1","attempt":1}`, "1"},
			{"messages|researcher:1", `[{"content":"hi"},{}]`, "2"},
			{"values", `{"messages":[]}`, "3"},
			{"end", "null", "4"},
		}, "4"},
		{"empty stream", nil, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, lastID, err := readAllSSE(&piecesReader{pieces: append([]string(nil), tt.pieces...)}, 0)
			if err != nil {
				t.Fatalf("error: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("events = %q\nwant     %q", got, tt.want)
			}
			if lastID != tt.lastID {
				t.Errorf("LastEventID = %q, want %q", lastID, tt.lastID)
			}
			// The same bytes one at a time give the same events.
			one, _, _ := readAllSSE(iotest.OneByteReader(strings.NewReader(strings.Join(tt.pieces, ""))), 0)
			if !reflect.DeepEqual(one, tt.want) {
				t.Errorf("byte by byte: %q", one)
			}
		})
	}
}

func TestSSEReaderRetryField(t *testing.T) {
	r := newSSEReader(strings.NewReader("retry: 1500\n\nretry: 15x\n\nretry:\n\n"), 0)
	if _, err := r.Next(); !errors.Is(err, io.EOF) {
		t.Fatalf("err = %v", err)
	}
	if r.Retry() != 1500 {
		t.Errorf("Retry = %d, want 1500", r.Retry())
	}
}

func TestSSEReaderLimits(t *testing.T) {
	const limit = 32
	tests := []struct {
		name    string
		input   string
		wantErr bool
	}{
		{"line at the limit", "data: " + strings.Repeat("x", limit-6) + "\n\n", false},
		{"line over the limit", "data: " + strings.Repeat("x", limit) + "\n\n", true},
		{"unterminated long line", strings.Repeat("x", 10*limit), true},
		{"long comment", ":" + strings.Repeat("x", limit) + "\n", true},
		{"data over the limit across lines", strings.Repeat("data: 0123456789\n", 4) + "\n", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := readAllSSE(strings.NewReader(tt.input), limit)
			if tt.wantErr != errors.Is(err, ErrLineTooLong) {
				t.Errorf("err = %v, want ErrLineTooLong: %v", err, tt.wantErr)
			}
		})
	}
}

func TestSSEReaderReadErrors(t *testing.T) {
	boom := errors.New("connection reset")
	src := io.MultiReader(strings.NewReader("data: a\n\ndata: b\n"), iotest.ErrReader(boom))
	events, _, err := readAllSSE(src, 0)
	if !errors.Is(err, boom) || len(events) != 1 {
		t.Errorf("events = %q, err = %v; want one event then the read error", events, err)
	}

	_, _, err = readAllSSE(zeroReader{}, 0)
	if !errors.Is(err, io.ErrNoProgress) {
		t.Errorf("err = %v, want io.ErrNoProgress", err)
	}
}

type zeroReader struct{}

func (zeroReader) Read([]byte) (int, error) { return 0, nil }

// encodeSSE writes events so that parsing gives them back, ending lines with
// eol and adding a comment before each when comments is set.
func encodeSSE(events []sseEvent, eol string, comments bool) []byte {
	var b bytes.Buffer
	for _, ev := range events {
		if comments {
			b.WriteString(": keep-alive" + eol)
		}
		b.WriteString("event: " + ev.Type + eol)
		b.WriteString("id: " + ev.ID + eol)
		for line := range strings.SplitSeq(ev.Data, "\n") {
			b.WriteString("data: " + line + eol)
		}
		b.WriteString(eol)
	}
	return b.Bytes()
}

// sanitizeEvent turns arbitrary strings into an event the format can carry.
func sanitizeEvent(typ, data, id string) sseEvent {
	noEOL := strings.NewReplacer("\r", "", "\n", "")
	ev := sseEvent{
		Type: noEOL.Replace(typ),
		Data: strings.NewReplacer("\r\n", "\n", "\r", "\n").Replace(data),
		ID:   strings.ReplaceAll(noEOL.Replace(id), "\x00", ""),
	}
	if ev.Type == "" {
		ev.Type = "message"
	}
	return ev
}

func FuzzSSEReader(f *testing.F) {
	f.Add([]byte("event: values\ndata: {\"a\":1}\nid: 1\n\n"), []byte{1, 2, 3})
	f.Add([]byte("data: a\r\ndata: b\r\r\n: c\n\n"), []byte{8})
	f.Add([]byte("\xEF\xBB\xBFdata:x\rid:\x00\r\rdata\n\n"), []byte{0, 1})
	f.Add([]byte("event: messages|tools:abc\ndata: [1,2]\nretry: 10\n\nevent: end\ndata: null\n"), []byte{5, 250})
	f.Add([]byte("id: 1\n\nid: 2\ndata: \n\n"), []byte{})
	f.Fuzz(func(t *testing.T, input, splits []byte) {
		sizes := make([]int, len(splits))
		for i, s := range splits {
			sizes[i] = int(s)%64 + 1
		}
		for _, limit := range []int{0, 64} {
			whole, wholeID, wholeErr := readAllSSE(bytes.NewReader(input), limit)
			// Invariant: splitting the input anywhere gives the same events.
			split, splitID, splitErr := readAllSSE(&chunkReader{data: input, sizes: sizes}, limit)
			if !reflect.DeepEqual(whole, split) || wholeID != splitID || (wholeErr == nil) != (splitErr == nil) {
				t.Fatalf("limit %d: whole %q %q %v\nsplit %q %q %v", limit, whole, wholeID, wholeErr, split, splitID, splitErr)
			}
			one, oneID, oneErr := readAllSSE(iotest.OneByteReader(bytes.NewReader(input)), limit)
			if !reflect.DeepEqual(whole, one) || wholeID != oneID || (wholeErr == nil) != (oneErr == nil) {
				t.Fatalf("limit %d: whole %q %v\nbyte by byte %q %v", limit, whole, wholeErr, one, oneErr)
			}
			for _, ev := range whole {
				if ev.Type == "" || strings.ContainsAny(ev.Type, "\r\n") || strings.ContainsAny(ev.ID, "\r\n\x00") || strings.Contains(ev.Data, "\r") {
					t.Fatalf("event breaks the format's rules: %q", ev)
				}
			}
		}

		// Invariant: re-encoding what was parsed parses back to the same events.
		parsed, _, _ := readAllSSE(bytes.NewReader(input), 0)
		eols := []string{"\n", "\r\n", "\r"}
		eol := eols[len(splits)%3]
		again, _, err := readAllSSE(&chunkReader{data: encodeSSE(parsed, eol, len(input)%2 == 0), sizes: sizes}, 0)
		if err != nil || !reflect.DeepEqual(parsed, again) {
			t.Fatalf("round trip (eol %q): %q\nbecame %q (%v)", eol, parsed, again, err)
		}

		// Invariant: events built from the input survive encoding and parsing.
		var built []sseEvent
		parts := bytes.Split(input, []byte{0xFF})
		for i := 0; i+2 < len(parts); i += 3 {
			built = append(built, sanitizeEvent(string(parts[i]), string(parts[i+1]), string(parts[i+2])))
		}
		got, lastID, err := readAllSSE(&chunkReader{data: encodeSSE(built, eol, true), sizes: sizes}, 0)
		if err != nil || !reflect.DeepEqual(got, built) {
			t.Fatalf("built %q\nparsed %q (%v)", built, got, err)
		}
		if len(built) > 0 && lastID != built[len(built)-1].ID {
			t.Fatalf("LastEventID = %q, want %q", lastID, built[len(built)-1].ID)
		}
	})
}

func BenchmarkSSEReader(b *testing.B) {
	var stream bytes.Buffer
	stream.WriteString("event: metadata\ndata: {\"run_id\":\"1ef\",\"attempt\":1}\nid: 0\n\n")
	chunk := `[{"content":"some streamed tokens of the answer","type":"AIMessageChunk","id":"run-1"},{"langgraph_node":"model","langgraph_step":3}]`
	values := `{"messages":[` + strings.Repeat(`{"type":"ai","content":"`+strings.Repeat("lorem ipsum ", 80)+`"},`, 20) + `{}]}`
	for i := 1; i <= 2000; i++ {
		switch {
		case i%200 == 0:
			fmt.Fprintf(&stream, "event: values\r\ndata: %s\r\nid: %d\r\n\r\n", values, i)
		case i%50 == 0:
			stream.WriteString(": heartbeat\n\n")
		default:
			fmt.Fprintf(&stream, "event: messages|task:%d\ndata: %s\nid: %d\n\n", i%3, chunk, i)
		}
	}
	input := stream.Bytes()
	b.SetBytes(int64(len(input)))
	b.ReportAllocs()
	for b.Loop() {
		r := newSSEReader(&chunkReader{data: input, sizes: []int{32 << 10}}, 0)
		for {
			if _, err := r.Next(); err != nil {
				if !errors.Is(err, io.EOF) {
					b.Fatal(err)
				}
				break
			}
		}
	}
}

// A stream that read one large event and then waits does not keep the
// large buffer: thousands of waiting streams would each hold theirs.
func TestSSEReaderReleasesALargeBufferWhenDrained(t *testing.T) {
	big := strings.Repeat("x", 200<<10)
	r := newSSEReader(strings.NewReader("data: "+big+"\n\n: heartbeat\n\ndata: small\n\n"), 0)
	for _, want := range []string{big, "small"} {
		ev, err := r.Next()
		if err != nil || ev.Data != want {
			t.Fatalf("Next = %d bytes, %v; want %d bytes", len(ev.Data), err, len(want))
		}
	}
	// The next read is where a live stream waits.
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("Next = %v; want io.EOF", err)
	}
	if len(r.buf) > sseKeepBuffer {
		t.Errorf("buffer of %d bytes kept while waiting after the large event; want at most %d", len(r.buf), sseKeepBuffer)
	}
}
