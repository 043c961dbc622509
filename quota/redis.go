package quota

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/airlock-broker/airlock/broker"
)

// RedisOptions configure a Redis store. The zero value works.
type RedisOptions struct {
	Options
	// Prefix starts every key, default "airlock:". It must not contain
	// braces: the hash tag that follows it keeps a server's keys in one
	// Cluster slot.
	Prefix string
}

// NewRedis returns a store that keeps its books in Redis, shared by every
// replica using the same Redis and prefix: budgets stay exact across
// replicas. client may be a single node, Sentinel (failover) or Cluster
// client. config holds each server's limits; servers without an entry are
// unlimited but metered. When Redis cannot be reached, Reserve fails
// closed with a plain error unless opts.FailOpen is set.
//
// It panics if the prefix contains a brace.
func NewRedis(client redis.UniversalClient, config map[string]broker.ServerLimits, opts RedisOptions) *Store {
	if opts.Prefix == "" {
		opts.Prefix = "airlock:"
	}
	if strings.ContainsAny(opts.Prefix, "{}") {
		panic(fmt.Sprintf("quota: Redis key prefix %q contains a brace", opts.Prefix))
	}
	return newStore(&redisLedger{rdb: client, prefix: opts.Prefix}, config, opts.Options)
}

var (
	//go:embed common.lua
	commonLua string
	//go:embed reserve.lua
	reserveLua string
	//go:embed settle.lua
	settleLua string
	//go:embed release.lua
	releaseLua string
	//go:embed usage.lua
	usageLua string

	reserveScript = redis.NewScript(commonLua + reserveLua)
	settleScript  = redis.NewScript(commonLua + settleLua)
	releaseScript = redis.NewScript(commonLua + releaseLua)
	usageScript   = redis.NewScript(commonLua + usageLua)
)

// redisLedger runs each ledger step as one Lua script on the keys of one
// hash tag (see common.lua for the layout).
type redisLedger struct {
	rdb    redis.UniversalClient
	prefix string
}

var _ ledger = (*redisLedger)(nil)

// base is the start of every key of tag's book: "<prefix>{<tag>}".
func (r *redisLedger) base(tag string) string { return r.prefix + "{" + tag + "}" }

func (r *redisLedger) run(ctx context.Context, s *redis.Script, tag string, o *op) (any, error) {
	return s.Run(ctx, r.rdb, []string{r.base(tag)}, r.args(o)...).Result()
}

// args are a step's ARGV (see the scripts).
func (r *redisLedger) args(o *op) []any {
	args := make([]any, 0, 6+2*len(o.periods))
	args = append(args, o.now, o.ttl, o.id, o.amount.MicroUSD, o.amount.Tokens)
	for _, p := range o.periods {
		args = append(args, p.id, p.keep)
	}
	if o.limits != nil {
		args = append(args, o.limits.json)
	}
	return args
}

func (r *redisLedger) reserve(ctx context.Context, tag string, o *op) (verdict, error) {
	res, err := r.run(ctx, reserveScript, tag, o)
	if err != nil {
		return verdict{}, err
	}
	a, ok := res.([]any)
	if !ok || len(a) == 0 {
		return verdict{}, fmt.Errorf("reserve script answered %v", res)
	}
	code, _ := a[0].(int64)
	v := verdict{code: int(code)}
	switch v.code {
	case overBudget:
		if len(a) > 1 {
			v.period, _ = a[1].(string)
		}
	case rateLimited:
		if len(a) > 2 {
			n, _ := a[1].(int64)
			v.retry = int(n)
			v.what, _ = a[2].(string)
		}
	}
	return v, nil
}

// settle sends the settle steps in one pipeline. A Redis that has
// not cached the script yet (NOSCRIPT) gets the steps one by one, which
// loads it.
func (r *redisLedger) settle(ctx context.Context, tags []string, ops []*op) ([]int, []error) {
	cmds := make([]*redis.Cmd, len(ops))
	_, _ = r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, o := range ops {
			cmds[i] = settleScript.EvalSha(ctx, p, []string{r.base(tags[i])}, r.args(o)...)
		}
		return nil
	})
	res, errs := make([]int, len(ops)), make([]error, len(ops))
	for i, c := range cmds {
		v, err := c.Result()
		if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
			v, err = r.run(ctx, settleScript, tags[i], ops[i])
		}
		n, _ := v.(int64)
		res[i], errs[i] = int(n), err
	}
	return res, errs
}

func (r *redisLedger) release(ctx context.Context, tag string, o *op) (int, error) {
	res, err := r.run(ctx, releaseScript, tag, o)
	n, _ := res.(int64)
	return int(n), err
}

func (r *redisLedger) usage(ctx context.Context, tag string, now, ttl int64, ids []string) ([]counters, error) {
	args := make([]any, 0, 2+len(ids))
	args = append(args, now, ttl)
	for _, id := range ids {
		args = append(args, id)
	}
	res, err := usageScript.Run(ctx, r.rdb, []string{r.base(tag)}, args...).Slice()
	if err != nil {
		return nil, err
	}
	if len(res) != len(ids) {
		return nil, fmt.Errorf("usage script answered %d periods for %d", len(res), len(ids))
	}
	out := make([]counters, len(ids))
	for i, row := range res {
		f, _ := row.([]any)
		if len(f) != 5 {
			return nil, fmt.Errorf("usage script answered %v", row)
		}
		n := make([]int64, 5)
		for j, v := range f {
			if s, ok := v.(string); ok {
				if n[j], err = strconv.ParseInt(s, 10, 64); err != nil {
					return nil, fmt.Errorf("usage of %s: %w", ids[i], err)
				}
			}
		}
		out[i] = counters{
			spent:    broker.Charge{MicroUSD: n[0], Tokens: n[1]},
			held:     broker.Charge{MicroUSD: n[2], Tokens: n[3]},
			requests: n[4],
		}
	}
	return out, nil
}

func (r *redisLedger) override(ctx context.Context, tag string) (broker.ServerLimits, bool, error) {
	var l broker.ServerLimits
	b, err := r.rdb.Get(ctx, r.base(tag)+":limits").Bytes()
	if errors.Is(err, redis.Nil) {
		return l, false, nil
	}
	if err != nil {
		return l, false, err
	}
	if err := json.Unmarshal(b, &l); err != nil {
		return l, false, fmt.Errorf("decode limits override: %w", err)
	}
	return l, true, nil
}

func (r *redisLedger) setOverride(ctx context.Context, tag string, d *limitsDoc) error {
	return r.rdb.Set(ctx, r.base(tag)+":limits", d.json, 0).Err()
}

func (r *redisLedger) deleteOverride(ctx context.Context, tag string) error {
	return r.rdb.Del(ctx, r.base(tag)+":limits").Err()
}

func (r *redisLedger) check(ctx context.Context) error { return r.rdb.Ping(ctx).Err() }
