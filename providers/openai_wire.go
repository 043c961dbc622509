package providers

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"strconv"
)

// This file holds the byte-level plumbing of the chat-completions hot path:
// numbers and raw values appended the way encoding/json writes them (strings:
// broker.AppendJSONString), the pooled request
// body the attempts share, and the capped read of the answer.

// appendJSONFloat32 appends f as encoding/json writes a float32. It fails,
// as Marshal does, for NaN and infinities.
func appendJSONFloat32(dst []byte, f float32) ([]byte, error) {
	v := float64(f)
	if math.IsInf(v, 0) || math.IsNaN(v) {
		return dst, &json.UnsupportedValueError{Str: strconv.FormatFloat(v, 'g', -1, 32)}
	}
	format := byte('f')
	if abs := float32(math.Abs(v)); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	dst = strconv.AppendFloat(dst, v, format, -1, 32)
	if n := len(dst); format == 'e' && n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
		dst[n-2] = dst[n-1] // e-09 to e-9
		dst = dst[:n-1]
	}
	return dst, nil
}

// appendRawJSON appends raw as encoding/json writes a json.RawMessage:
// checked, compacted and HTML-escaped.
func appendRawJSON(dst []byte, raw json.RawMessage) ([]byte, error) {
	if raw == nil {
		return append(dst, "null"...), nil
	}
	start := len(dst)
	buf := bytes.NewBuffer(dst)
	if err := json.Compact(buf, raw); err != nil {
		return dst, err
	}
	out := buf.Bytes()
	if bytes.ContainsAny(out[start:], "<>&\u2028\u2029") {
		tail := bytes.Clone(out[start:])
		buf.Truncate(start)
		json.HTMLEscape(buf, tail)
		out = buf.Bytes()
	}
	return out, nil
}

// maxPooled is the largest buffer put back in a pool: a rare huge prompt or
// answer should not stay in memory for the next small one.
const maxPooled = 1 << 20

// reqBody is an encoded request body, shared by the attempts that send it.
// It is never recycled for another call: a transport may still read or
// close a request's body after RoundTrip has returned (see
// http.RoundTripper), and a recycled buffer could then carry another
// call's prompt.
type reqBody struct{ b []byte }

func (rb *reqBody) reader() io.ReadCloser { return io.NopCloser(bytes.NewReader(rb.b)) }

// errOverLimit reports a body longer than the limit readCapped was given.
var errOverLimit = errors.New("body over limit")

// readCapped reads r to its end into buf, reusing buf's memory, and returns
// errOverLimit, with limit+1 bytes read, when r has more than limit bytes.
// size is the length announced, or -1.
func readCapped(buf []byte, r io.Reader, limit, size int64) ([]byte, error) {
	want := 512
	if size >= 0 && size <= limit {
		want = int(size) + 1 // room to read the EOF without growing
	}
	if cap(buf) < want {
		buf = make([]byte, 0, want)
	}
	buf = buf[:0]
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		end := min(int64(cap(buf)), limit+1)
		n, err := r.Read(buf[len(buf):end])
		buf = buf[:len(buf)+n]
		switch {
		case int64(len(buf)) > limit:
			return buf, errOverLimit
		case err == io.EOF:
			return buf, nil
		case err != nil:
			return buf, err
		}
	}
}
