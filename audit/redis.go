package audit

import (
	"context"
	"fmt"
	"iter"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisOptions tune a RedisStream. The zero value works.
type RedisOptions struct {
	// MaxLen bounds the stream: XADD trims it to about this many entries
	// (MAXLEN ~), oldest first. Default 100000, about 150 MB of Redis
	// memory with events of 1.5 KB.
	MaxLen int64
}

// RedisStream is a sink appending records to a Redis stream, one entry per
// record with the fields chain, seq, prev, hash and event (the event's
// JSON), so consumer groups can read it as it grows. Replicas may share
// the stream: each writes its own chain. It is also a Source.
type RedisStream struct {
	c      redis.UniversalClient
	key    string
	maxLen int64
	resync bool
}

// NewRedisStream returns a sink writing to the stream at key through c,
// which the caller owns and closes.
func NewRedisStream(c redis.UniversalClient, key string, opts RedisOptions) *RedisStream {
	if opts.MaxLen <= 0 {
		opts.MaxLen = 100_000
	}
	return &RedisStream{c: c, key: key, maxLen: opts.MaxLen}
}

// Append implements Sink: one pipelined XADD per record, one round trip.
// After a failure, whose pipeline may have been applied in part, it first
// reads the stream's head of the chain and skips what is already there.
func (s *RedisStream) Append(ctx context.Context, recs []Record) error {
	if s.resync && len(recs) > 0 {
		head, err := since(ctx, s, recs[0].Chain, 0, 1)
		if err != nil {
			return fmt.Errorf("read audit stream %s: %w", s.key, err)
		}
		for len(head) == 1 && len(recs) > 0 && recs[0].Seq <= head[0].Seq {
			recs = recs[1:]
		}
		s.resync = false
	}
	if len(recs) == 0 {
		return nil
	}
	pipe := s.c.Pipeline()
	for i := range recs {
		r := &recs[i]
		pipe.XAdd(ctx, &redis.XAddArgs{
			Stream: s.key, MaxLen: s.maxLen, Approx: true,
			Values: []any{"chain", r.Chain, "seq", r.Seq, "prev", r.Prev, "hash", r.Hash, "event", []byte(r.Event)},
		})
	}
	if _, err := pipe.Exec(ctx); err != nil {
		s.resync = true
		return fmt.Errorf("append to audit stream %s: %w", s.key, err)
	}
	return nil
}

// Close implements Sink; the client is the caller's.
func (s *RedisStream) Close() error { return nil }

// Check implements broker.Checker.
func (s *RedisStream) Check(ctx context.Context) error { return s.c.Ping(ctx).Err() }

// Records implements Source: the cursor is the stream entry id.
func (s *RedisStream) Records(ctx context.Context, after string) iter.Seq2[Record, error] {
	start := "-"
	if after != "" {
		if !streamID(after) {
			return func(yield func(Record, error) bool) {
				yield(Record{}, fmt.Errorf("%w: want a stream entry id", ErrBadCursor))
			}
		}
		start = "(" + after
	}
	return s.scan(ctx, func(ctx context.Context, next string) ([]redis.XMessage, string, error) {
		if next == "" {
			next = start
		}
		msgs, err := s.c.XRangeN(ctx, s.key, next, "+", pageSize).Result()
		if len(msgs) > 0 {
			next = "(" + msgs[len(msgs)-1].ID
		}
		return msgs, next, err
	})
}

// Backward implements Source.
func (s *RedisStream) Backward(ctx context.Context) iter.Seq2[Record, error] {
	return s.scan(ctx, func(ctx context.Context, next string) ([]redis.XMessage, string, error) {
		if next == "" {
			next = "+"
		}
		msgs, err := s.c.XRevRangeN(ctx, s.key, next, "-", pageSize).Result()
		if len(msgs) > 0 {
			next = "(" + msgs[len(msgs)-1].ID
		}
		return msgs, next, err
	})
}

// CursorAt returns a cursor before every entry added at or after t:
// entry ids start with their time in milliseconds, and an event is always
// written after it happened, so reading from there misses none since t.
func (s *RedisStream) CursorAt(t time.Time) string {
	return strconv.FormatInt(t.UnixMilli()-1, 10) + "-" + strconv.FormatUint(math.MaxUint64, 10)
}

// streamID reports whether id looks like a stream entry id, ms-seq.
func streamID(id string) bool {
	ms, seq, ok := strings.Cut(id, "-")
	_, err1 := strconv.ParseUint(ms, 10, 64)
	_, err2 := strconv.ParseUint(seq, 10, 64)
	return ok && err1 == nil && err2 == nil
}

const pageSize = 512

type pageFunc func(ctx context.Context, next string) ([]redis.XMessage, string, error)

func (s *RedisStream) scan(ctx context.Context, page pageFunc) iter.Seq2[Record, error] {
	return func(yield func(Record, error) bool) {
		next := ""
		for {
			msgs, n, err := page(ctx, next)
			if err != nil {
				yield(Record{}, fmt.Errorf("read audit stream %s: %w", s.key, err))
				return
			}
			for _, m := range msgs {
				rec, err := parseEntry(m)
				if err != nil {
					err = &MalformedError{Pos: m.ID, Err: err}
				}
				if !yield(rec, err) {
					return
				}
			}
			if len(msgs) < pageSize {
				return
			}
			next = n
		}
	}
}

func parseEntry(m redis.XMessage) (Record, error) {
	field := func(k string) string {
		v, _ := m.Values[k].(string)
		return v
	}
	r := Record{Chain: field("chain"), Prev: field("prev"), Hash: field("hash"), Event: []byte(field("event")), Cursor: m.ID, Pos: m.ID}
	seq, err := strconv.ParseUint(field("seq"), 10, 64)
	if err != nil {
		return Record{Cursor: m.ID, Pos: m.ID}, fmt.Errorf("seq %q is not a number", field("seq"))
	}
	r.Seq = seq
	if len(m.Values) != 5 {
		return Record{Cursor: m.ID, Pos: m.ID}, fmt.Errorf("entry has %d fields, want chain, seq, prev, hash and event", len(m.Values))
	}
	return r, r.validate()
}
