package audit

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"
)

// TestRedisStreamConsumerGroup: the stream is an ordinary one; a consumer
// group reads the records with their fields.
func TestRedisStreamConsumerGroup(t *testing.T) {
	c := redisClient(t)
	key := testStream(t, c)
	s := NewRedisStream(c, key, RedisOptions{})
	writeEvents(t, "web-1", 3, s)
	ctx := context.Background()
	if err := c.XGroupCreate(ctx, key, "siem", "0").Err(); err != nil {
		t.Fatal(err)
	}
	res, err := c.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "siem", Consumer: "c1", Streams: []string{key, ">"}, Count: 10}).Result()
	if err != nil {
		t.Fatal(err)
	}
	var got []uint64
	for _, m := range res[0].Messages {
		r, err := parseEntry(m)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, r.Seq)
	}
	if diff := cmp.Diff([]uint64{1, 2, 3}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestRedisStreamSharedByReplicas: two chains in one stream verify apart,
// and each resumes its own.
func TestRedisStreamSharedByReplicas(t *testing.T) {
	c := redisClient(t)
	key := testStream(t, c)
	s := NewRedisStream(c, key, RedisOptions{})
	ctx := context.Background()
	a, err := NewChain(ctx, "web-1", testKey, []Sink{s}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewChain(ctx, "web-2", testKey, []Sink{NewRedisStream(c, key, RedisOptions{})}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		ch := a
		if i%3 == 0 {
			ch = b
		}
		if err := ch.Record(ctx, testEvent(i)); err != nil {
			t.Fatal(err)
		}
	}
	a.Close()
	b.Close()
	a, err = NewChain(ctx, "web-1", testKey, []Sink{s}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Record(ctx, testEvent(10)); err != nil {
		t.Fatal(err)
	}
	a.Close()
	rep := verify(t, s)
	if !rep.OK() {
		t.Fatalf("problems %v", rep.Problems)
	}
	got := map[string]uint64{}
	for _, ch := range rep.Chains {
		got[ch.Chain] = ch.Last
	}
	if diff := cmp.Diff(map[string]uint64{"web-1": 7, "web-2": 4}, got); diff != "" {
		t.Errorf("chain heads (-want +got):\n%s", diff)
	}
}

// TestRedisStreamResync: after a failed pipeline, whose records may have
// been stored in part, the records already there are not added again.
func TestRedisStreamResync(t *testing.T) {
	c := redisClient(t)
	key := testStream(t, c)
	s := NewRedisStream(c, key, RedisOptions{})
	var recs []Record
	f := &fakeSink{AppendFn: func(_ context.Context, r []Record) error { recs = append(recs, r...); return nil }}
	writeEvents(t, "web-1", 5, f)
	ctx := context.Background()
	if err := s.Append(ctx, recs[:3]); err != nil {
		t.Fatal(err)
	}
	s.resync = true // as after an error
	if err := s.Append(ctx, recs); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]uint64{1, 2, 3, 4, 5}, seqs(readAll(t, s))); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestRedisStreamMaxLen: the stream stays about MaxLen long; verify sees a
// chain whose oldest records were trimmed, and no problem.
func TestRedisStreamMaxLen(t *testing.T) {
	c := redisClient(t)
	key := testStream(t, c)
	s := NewRedisStream(c, key, RedisOptions{MaxLen: 100})
	writeEvents(t, "web-1", 600, s)
	n, err := c.XLen(context.Background(), key).Result()
	if err != nil {
		t.Fatal(err)
	}
	if n >= 600 || n < 100 {
		t.Errorf("stream length %d, want about 100", n)
	}
	rep := verify(t, s)
	if !rep.OK() || rep.Chains[0].First == 1 || rep.Chains[0].Last != 600 {
		t.Errorf("report %+v", rep.Chains)
	}
}

func TestRedisStreamBadCursor(t *testing.T) {
	c := redisClient(t)
	s := NewRedisStream(c, testStream(t, c), RedisOptions{})
	for _, err := range s.Records(context.Background(), "web-1:3") {
		if err == nil {
			t.Error("a file cursor was accepted")
		}
	}
}
