// Package quota implements broker.Quota and broker.QuotaAdmin: per-server
// and global budgets, in integer micro-dollars and tokens, that concurrent
// requests and replicas can never overspend, and per-server rate limits.
//
// # Reserve, then settle
//
// Before the provider is called, Reserve holds the request's worst-case
// cost atomically against every budget that applies (day, week, month and
// lifetime, calendar periods in a configurable zone) and the server's
// requests-per-minute and tokens-per-minute limits (GCRA). A budget that
// does not fit refuses with broker.ReasonBudgetExceeded, a rate limit with
// broker.ReasonRateLimited and a Retry-After. After the call, Settle
// replaces the hold by the real charge, once per request id however often
// it is replayed, and Release drops the hold of a request refused later.
// A hold never settled (the broker died, perhaps after paying the provider)
// is charged in full after Options.HoldTTL; a late Settle corrects it. Settle
// and Release name the reservation's server, so any replica may settle any
// request and no store keeps per-request state in process. Usage is counted in every period, with
// or without a budget, so a budget set mid-period is exact at once.
//
// # Stores
//
// NewMemory keeps the books in process, the embedded default. NewRedis
// keeps them in Redis (single node, Sentinel or Cluster), shared by
// replicas: each step is one Lua script on the keys of one server, which
// all carry the hash tag {server-id}; the global budget has its own tag and
// is held first, then released if the server refuses. Both stores are the
// same Store driving a different ledger, and one test suite runs on both.
// Times come from the Go clock (Options.Now), so replicas' clocks are
// assumed NTP-synced. When Redis cannot be reached, Reserve fails closed
// with an error that is not a *broker.Error (the broker answers
// unavailable), unless Options.FailOpen lets requests through, logged and
// counted.
//
// Limits set through QuotaAdmin are stored with the books (in Redis, read
// by the reserve script itself) and override the configuration on every
// replica from the next request on.
package quota
