package quota

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/airlock-broker/airlock/broker"
)

func redisAddr() string {
	if a := os.Getenv("AIRLOCK_TEST_REDIS"); a != "" {
		return a
	}
	return "127.0.0.1:6379"
}

// redisClient connects to the test Redis, or skips the test.
func redisClient(t testing.TB) *redis.Client {
	t.Helper()
	addr := redisAddr()
	c := redis.NewClient(&redis.Options{Addr: addr})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		t.Skipf("redis not reachable at %s: run scripts/test.sh, which starts it (%v)", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// testPrefix returns a key prefix of the test's own and deletes its keys
// when the test ends.
func testPrefix(t testing.TB, c redis.UniversalClient) string {
	t.Helper()
	var b [6]byte
	rand.Read(b[:])
	name := strings.NewReplacer("{", "(", "}", ")", " ", "_").Replace(t.Name())
	prefix := "airlock-test:" + name + ":" + hex.EncodeToString(b[:]) + ":"
	t.Cleanup(func() {
		ctx := context.Background()
		del := func(ctx context.Context, c *redis.Client) error {
			iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
			for iter.Next(ctx) {
				if err := c.Del(ctx, iter.Val()).Err(); err != nil {
					return err
				}
			}
			return iter.Err()
		}
		var err error
		switch c := c.(type) {
		case *redis.ClusterClient:
			err = c.ForEachMaster(ctx, del)
		case *redis.Client:
			err = del(ctx, c)
		}
		if err != nil {
			t.Errorf("delete the test's keys: %v", err)
		}
	})
	return prefix
}

func TestRedis(t *testing.T) {
	c := redisClient(t)
	testStore(t, func(t *testing.T, cfg map[string]broker.ServerLimits, opts Options) *Store {
		return NewRedis(c, cfg, RedisOptions{Options: opts, Prefix: testPrefix(t, c)})
	})
}

// TestRedisReplicas: three brokers, each with its own connection pool,
// share one Redis; a budget that fits k admits exactly k of n concurrent
// reservations spread over them, and an override set on one applies on
// all at once.
func TestRedisReplicas(t *testing.T) {
	prefix := testPrefix(t, redisClient(t))
	cfg := map[string]broker.ServerLimits{"s": day(k*cost, 0)}
	var stores []*Store
	for range 3 {
		c := redis.NewClient(&redis.Options{Addr: redisAddr()})
		t.Cleanup(func() { c.Close() })
		stores = append(stores, NewRedis(c, cfg, RedisOptions{Prefix: prefix}))
	}
	exactlyK(t, stores, "s")

	ctx := context.Background()
	must(t, stores[0].SetLimits(ctx, "t", day(10, 0)))
	wantReason(t, stores[1].Reserve(ctx, resv("t1", "t", usd(11))), broker.ReasonBudgetExceeded)
	must(t, stores[2].Reserve(ctx, resv("t2", "t", usd(10))))
	if got := current(t, stores[1], "t", "day"); got.Reserved != usd(10) {
		t.Errorf("replica 1 sees %+v", got)
	}
}

// TestRedisUnreachable: with Redis down, Reserve fails closed with an error
// that is not a *broker.Error (the broker answers unavailable), or, when
// failing open, lets the request through and counts it.
func TestRedisUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialerRetries: 1, DialTimeout: 200 * time.Millisecond})
	defer c.Close()
	ctx := context.Background()
	cfg := map[string]broker.ServerLimits{"s": day(100, 0)}

	closed := NewRedis(c, cfg, RedisOptions{})
	err = closed.Reserve(ctx, resv("a", "s", usd(1)))
	var e *broker.Error
	if err == nil || errors.As(err, &e) {
		t.Fatalf("Reserve with Redis down: %v, want a plain error", err)
	}
	if closed.Check(ctx) == nil {
		t.Error("Check passed with Redis down")
	}
	if _, _, err := closed.Limits(ctx, "s"); err == nil {
		t.Error("Limits with Redis down")
	}
	if _, err := closed.Usage(ctx, "s", 0); err == nil {
		t.Error("Usage with Redis down")
	}

	open := NewRedis(c, cfg, RedisOptions{Options: Options{FailOpen: true, Global: []broker.Budget{{Period: broker.PeriodDay, MicroUSD: 1}}}})
	for _, id := range []string{"a", "b"} {
		if err := open.Reserve(ctx, resv(id, "s", usd(1000))); err != nil {
			t.Fatalf("fail-open Reserve: %v", err)
		}
	}
	must(t, open.Settle(ctx, held("a", "s"), usd(1000)))
	must(t, open.Release(ctx, held("b", "s")))
	if got := open.FailOpenCount(); got != 3 {
		t.Errorf("FailOpenCount %d, want 3 (two reservations, one settlement)", got)
	}
}

// TestRedisDownBeforeSettle: the provider answered but the charge cannot be
// recorded. Failing closed, Settle says so; failing open, it counts it.
func TestRedisDownBeforeSettle(t *testing.T) {
	prefix := testPrefix(t, redisClient(t))
	ctx := context.Background()
	for _, failOpen := range []bool{false, true} {
		c := redis.NewClient(&redis.Options{Addr: redisAddr()})
		s := NewRedis(c, nil, RedisOptions{Prefix: prefix, Options: Options{FailOpen: failOpen}})
		id := fmt.Sprint("open-", failOpen)
		must(t, s.Reserve(ctx, resv(id, "s", usd(1))))
		c.Close()
		err := s.Settle(ctx, held(id, "s"), usd(1))
		if failOpen && (err != nil || s.FailOpenCount() != 1) {
			t.Errorf("failing open: Settle %v, FailOpenCount %d", err, s.FailOpenCount())
		}
		var e *broker.Error
		if !failOpen && (err == nil || errors.As(err, &e)) {
			t.Errorf("failing closed: Settle %v, want a plain error", err)
		}
	}
}

// TestRedisCluster runs the concurrency test and the three replicas on a
// Redis Cluster: every script touches the keys of one hash tag only.
func TestRedisCluster(t *testing.T) {
	seeds := os.Getenv("AIRLOCK_TEST_REDIS_CLUSTER")
	if seeds == "" {
		t.Skip("AIRLOCK_TEST_REDIS_CLUSTER is not set: scripts/test.sh starts a cluster (quota/testdata/redis-cluster.sh) and sets it")
	}
	newClient := func() *redis.ClusterClient {
		c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: strings.Split(seeds, ",")})
		t.Cleanup(func() { c.Close() })
		return c
	}
	c := newClient()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("redis cluster at %s: %v", seeds, err)
	}
	prefix := testPrefix(t, c)
	cfg := map[string]broker.ServerLimits{"s": day(k*cost, 0)}
	var stores []*Store
	for i := range 3 {
		cc := c
		if i > 0 {
			cc = newClient()
		}
		stores = append(stores, NewRedis(cc, cfg, RedisOptions{Prefix: prefix}))
	}
	exactlyK(t, stores, "s")

	global := NewRedis(c, nil, RedisOptions{Prefix: prefix + "g:", Options: Options{
		Global: []broker.Budget{{Period: broker.PeriodMonth, MicroUSD: k * cost}},
	}})
	exactlyK(t, []*Store{global}, "a", "b", "c", "d", "e", "f")
	t.Run("Suite", func(t *testing.T) {
		testStore(t, func(t *testing.T, cfg map[string]broker.ServerLimits, opts Options) *Store {
			return NewRedis(c, cfg, RedisOptions{Options: opts, Prefix: testPrefix(t, c)})
		})
	})
}

func TestRedisKeys(t *testing.T) {
	c := redisClient(t)
	prefix := testPrefix(t, c)
	s := NewRedis(c, map[string]broker.ServerLimits{"s": day(100, 0)}, RedisOptions{Prefix: prefix})
	ctx := context.Background()
	must(t, s.Reserve(ctx, resv("a", "s", usd(1))))
	must(t, s.Reserve(ctx, resv("b", "{odd}", usd(1))))
	keys, err := c.Keys(ctx, prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		tag := k[len(prefix):]
		if !strings.HasPrefix(tag, "{s}:") && !strings.HasPrefix(tag, "{#") {
			t.Errorf("key %q lacks the server's hash tag", k)
		}
		if strings.Count(k, "{") != 1 || strings.Count(k, "}") != 1 {
			t.Errorf("key %q has more than one hash tag", k)
		}
	}
	if len(keys) == 0 {
		t.Error("no keys written")
	}
}

func TestNewRedisRefusesBracesInPrefix(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("a prefix with a brace was accepted")
		}
	}()
	NewRedis(redis.NewClient(&redis.Options{}), nil, RedisOptions{Prefix: "a{b}:"})
}

// TestRedisSettleBatchNoScript: a Redis that lost its script cache (a
// restart, a failover) still takes a batch.
func TestRedisSettleBatchNoScript(t *testing.T) {
	c := redisClient(t)
	ctx := context.Background()
	s := NewRedis(c, nil, RedisOptions{Prefix: testPrefix(t, c)})
	must(t, s.Reserve(ctx, resv("a", "s", usd(10))))
	must(t, s.Reserve(ctx, resv("b", "s", usd(10))))
	must(t, c.ScriptFlush(ctx).Err())
	errs := s.SettleBatch(ctx, []broker.Settlement{{Reservation: held("a", "s"), Actual: usd(1)}, {Reservation: held("b", "s"), Actual: usd(2)}})
	if errs[0] != nil || errs[1] != nil {
		t.Fatalf("errors %v", errs)
	}
	if got := current(t, s, "s", "day"); got.Spent != usd(3) || got.Reserved != usd(0) {
		t.Errorf("after the batch: %+v", got)
	}
}

// TestRedisExpiry: a period's counters expire after the period and its
// retention, the lifetime's never; nothing stays held once settled.
func TestRedisExpiry(t *testing.T) {
	c := redisClient(t)
	prefix := testPrefix(t, c)
	clk := newClock()
	s := NewRedis(c, nil, RedisOptions{Prefix: prefix, Options: Options{Now: clk.Now, Retention: 48 * time.Hour}})
	ctx := context.Background()
	must(t, s.Reserve(ctx, resv("a", "s", usd(5))))
	must(t, s.Settle(ctx, held("a", "s"), usd(3)))
	keys, err := c.Keys(ctx, prefix+"{s}:p:*").Result()
	must(t, err)
	if len(keys) != 4 {
		t.Fatalf("period keys %v, want 4", keys)
	}
	for _, k := range keys {
		ttl, err := c.PTTL(ctx, k).Result()
		must(t, err)
		if strings.Contains(k, "lifetime") {
			if ttl != -1 {
				t.Errorf("%s expires in %v", k, ttl)
			}
			continue
		}
		// Whatever the period, it ends within 31 days of now.
		if ttl <= 48*time.Hour || ttl > (48+32*24)*time.Hour {
			t.Errorf("%s expires in %v, want after the period's end plus 48h", k, ttl)
		}
	}
	if n, err := c.HLen(ctx, prefix+"{s}:held").Result(); err != nil || n != 0 {
		t.Errorf("%d fields held after settling (%v)", n, err)
	}
}

// TestRedisPreviousLayout: a request held by the previous version (holds in
// :holds and :hold, held amounts in the period hashes) and settled by this
// one is charged its actual cost, and the old held amounts no longer count.
func TestRedisPreviousLayout(t *testing.T) {
	c := redisClient(t)
	prefix := testPrefix(t, c)
	clk := newClock()
	s := NewRedis(c, map[string]broker.ServerLimits{"s": day(100, 0)}, RedisOptions{Prefix: prefix, Options: Options{Now: clk.Now}})
	ctx := context.Background()
	o := s.op(clk.Now(), "old", usd(90))
	base := prefix + "{s}"
	must(t, c.ZAdd(ctx, base+":holds", redis.Z{Score: float64(o.now + o.ttl), Member: "old"}).Err())
	rec := fmt.Sprintf("90 0 0 %s %s %s %s", o.periods[0].id, o.periods[1].id, o.periods[2].id, o.periods[3].id)
	must(t, c.HSet(ctx, base+":hold", "old", rec).Err())
	for _, p := range o.periods {
		must(t, c.HSet(ctx, base+":p:"+p.id, "hu", 90, "ht", 0).Err())
	}
	must(t, s.Settle(ctx, held("old", "s"), usd(30)))
	if got := current(t, s, "s", "day"); got.Spent != usd(30) || got.Reserved != usd(0) || got.Requests != 1 {
		t.Errorf("after settling a request of the previous version: %+v", got)
	}
	must(t, s.Reserve(ctx, resv("new", "s", usd(70))))
}
