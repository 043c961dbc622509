package audit

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"iter"
	"strconv"
	"strings"
	"time"
)

// Record is one sealed event as stored by every sink. On the wire it is one
// line of JSON:
//
//	{"chain":"web-1","seq":42,"prev":"<hex>","hash":"<hex>","event":{...}}
//
// Hash is HMAC-SHA256 under the audit key of the chain, the sequence
// number, the previous record's hash and the event's exact bytes, so any
// change to a record, or to its place in the chain, shows.
type Record struct {
	Chain string          `json:"chain"`
	Seq   uint64          `json:"seq"`
	Prev  string          `json:"prev"`
	Hash  string          `json:"hash"`
	Event json.RawMessage `json:"event"`

	// Cursor is where the source holds the record, for reading on after
	// it: a stream id, or chain:seq in files. Pos locates it for people:
	// file:line or the stream id. Neither is part of the record.
	Cursor string `json:"-"`
	Pos    string `json:"-"`

	// raw is the line as read from a file, to catch edits outside the
	// hashed fields (an added field, changed spacing).
	raw []byte
}

// Checkpoint is the head of a chain at some moment. Kept outside the trail
// (a log pipeline, an operator's notes), it proves later that no record up
// to it was truncated away.
type Checkpoint struct {
	Chain string    `json:"chain"`
	Seq   uint64    `json:"seq"`
	Hash  string    `json:"hash"`
	Time  time.Time `json:"time"`
}

// Source reads stored records back: the file sink, the Redis stream.
type Source interface {
	// Records yields the records stored after the one at cursor after, or
	// all of them when after is "", oldest first. A record that cannot be
	// parsed is yielded as a *MalformedError and reading goes on; any
	// other error ends the sequence.
	Records(ctx context.Context, after string) iter.Seq2[Record, error]
	// Backward yields the stored records newest first, with the same errors.
	Backward(ctx context.Context) iter.Seq2[Record, error]
}

// MalformedError is a stored record that cannot be parsed: evidence of
// tampering or of a damaged store, which Verify reports and goes past.
type MalformedError struct {
	Pos string
	Err error
}

func (e *MalformedError) Error() string { return fmt.Sprintf("%s: malformed record: %v", e.Pos, e.Err) }
func (e *MalformedError) Unwrap() error { return e.Err }

// genesis is the prev of a chain's first record.
var genesis = strings.Repeat("0", 2*sha256.Size)

// domain separates this MAC from any other use of the key.
const domain = "airlock-audit-v1\x00"

// ValidChainID reports whether id may name a chain: 1 to 128 letters,
// digits, dots, underscores and hyphens, so it needs no escaping anywhere.
func ValidChainID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// MinKeyBytes is the shortest audit key accepted.
const MinKeyBytes = 16

// sealer computes record hashes; it is not safe for concurrent use.
type sealer struct {
	mac hash.Hash
	buf [8]byte
}

func newSealer(key []byte) (*sealer, error) {
	if len(key) < MinKeyBytes {
		return nil, fmt.Errorf("audit key is %d bytes, at least %d are needed", len(key), MinKeyBytes)
	}
	return &sealer{mac: hmac.New(sha256.New, key)}, nil
}

// sum returns the MAC of a record; prev is the raw previous hash.
func (s *sealer) sum(chain string, seq uint64, prev []byte, event []byte) []byte {
	s.mac.Reset()
	s.mac.Write([]byte(domain))
	s.mac.Write([]byte(chain))
	s.mac.Write([]byte{0})
	binary.BigEndian.PutUint64(s.buf[:], seq)
	s.mac.Write(s.buf[:])
	s.mac.Write(prev)
	s.mac.Write(event)
	return s.mac.Sum(nil)
}

// check reports whether r's hash is the MAC of its content.
func (s *sealer) check(r *Record) bool {
	prev, err1 := hex.DecodeString(r.Prev)
	got, err2 := hex.DecodeString(r.Hash)
	if err1 != nil || err2 != nil || len(prev) != sha256.Size || len(got) != sha256.Size {
		return false
	}
	return hmac.Equal(got, s.sum(r.Chain, r.Seq, prev, r.Event))
}

// AppendJSON appends the record's wire form, without a newline. The chain
// id needs no escaping (ValidChainID) and Event is already JSON.
func (r *Record) AppendJSON(b []byte) []byte {
	b = append(b, `{"chain":"`...)
	b = append(b, r.Chain...)
	b = append(b, `","seq":`...)
	b = strconv.AppendUint(b, r.Seq, 10)
	b = append(b, `,"prev":"`...)
	b = append(b, r.Prev...)
	b = append(b, `","hash":"`...)
	b = append(b, r.Hash...)
	b = append(b, `","event":`...)
	b = append(b, r.Event...)
	return append(b, '}')
}

// MarshalJSON writes the wire form.
func (r Record) MarshalJSON() ([]byte, error) {
	if !ValidChainID(r.Chain) {
		return nil, fmt.Errorf("record has an invalid chain id")
	}
	return r.AppendJSON(nil), nil
}

// Checkpoint returns the checkpoint that r is the head of.
func (r *Record) Checkpoint(t time.Time) Checkpoint {
	return Checkpoint{Chain: r.Chain, Seq: r.Seq, Hash: r.Hash, Time: t}
}

// ParseRecord parses one line of the wire form.
func ParseRecord(line []byte) (Record, error) {
	var w struct {
		Chain string          `json:"chain"`
		Seq   uint64          `json:"seq"`
		Prev  string          `json:"prev"`
		Hash  string          `json:"hash"`
		Event json.RawMessage `json:"event"`
	}
	if err := json.Unmarshal(line, &w); err != nil {
		return Record{}, err
	}
	r := Record{Chain: w.Chain, Seq: w.Seq, Prev: w.Prev, Hash: w.Hash, Event: w.Event, raw: bytes.Clone(line)}
	return r, r.validate()
}

func (r *Record) validate() error {
	switch {
	case !ValidChainID(r.Chain):
		return errors.New("invalid chain id")
	case r.Seq == 0:
		return errors.New("no sequence number")
	case !isHash(r.Prev) || !isHash(r.Hash):
		return errors.New("prev and hash must be 64 lower-case hex digits")
	case len(r.Event) == 0 || r.Event[0] != '{':
		return errors.New("event is not a JSON object")
	}
	return nil
}

func isHash(s string) bool {
	if len(s) != 2*sha256.Size {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// fileCursor is the cursor of a record in a file: chain:seq.
func fileCursor(chain string, seq uint64) string {
	return chain + ":" + strconv.FormatUint(seq, 10)
}

// ErrBadCursor is returned, wrapped, by a Source given a cursor it did
// not make.
var ErrBadCursor = errors.New("not a cursor of this audit trail")

func parseFileCursor(c string) (string, uint64, error) {
	i := strings.LastIndexByte(c, ':')
	if i < 0 {
		return "", 0, fmt.Errorf("%w: want chain:seq", ErrBadCursor)
	}
	seq, err := strconv.ParseUint(c[i+1:], 10, 64)
	if err != nil || !ValidChainID(c[:i]) {
		return "", 0, fmt.Errorf("%w: want chain:seq", ErrBadCursor)
	}
	return c[:i], seq, nil
}
