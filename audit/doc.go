// Package audit keeps Airlock's tamper-evident audit trail of prompt flows,
// and the metrics computed from it.
//
// The broker records one broker.Event per request, whatever its outcome,
// through the broker.AuditSink interface. A Chain implements it: it
// serialises the event (which holds no prompt text, token or key, and
// findings only as keyed fingerprints), gives it the next sequence number
// of the chain, and seals it into a Record whose hash is
//
//	HMAC-SHA256(key, "airlock-audit-v1\x00" || chain || 0x00 || seq (8 bytes, big-endian) || prev || event)
//
// where prev is the previous record's hash (32 zero bytes for the first)
// and event is the event's JSON exactly as stored. The key is a secret held
// like the provider keys; without it, no record can be forged, and no
// record can be edited, removed, added or moved without Verify saying where.
// Truncating the tail of a chain is caught against a Checkpoint (a chain's
// seq and hash at some moment) kept elsewhere: a Chain logs one at an
// interval, and `airlock audit checkpoint` prints one.
//
// # Writing
//
// One writer at a time assigns the order and writes to every Sink: File
// (JSON Lines, rotated by size), RedisStream (XADD with a bounded length;
// consumer groups can read it) and Writer (standard output). A caller that
// finds the chain idle writes its own record, with no hand-off; callers
// arriving meanwhile share the next write (group commit). Callers wait
// until every synchronous sink holds their record, so with fail-closed
// auditing nothing is served unaudited. A sink marked Async (a Redis
// stream beside a local file) follows from a goroutine of its own, so its
// round trip is not added to requests; it catches up from the others
// after a restart, and Record fails once it lags too far. A sink that
// fails keeps the records it missed and is given them again first, so its
// trail has no gap when it recovers; meanwhile writes fail fast.
//
// Each broker replica writes its own chain, named by a chain id (for
// example its hostname); replicas may share a stream. On start a Chain
// resumes its chain from the newest record any of its sinks holds, so a
// restart does not show in the trail. Two live processes must never share
// a chain id: Verify reports the interleaving as forks.
//
// # Reading
//
// File, FileReader and RedisStream are also a Source. Verify checks a
// trail read from one; Query filters it by server, time, decision and
// reason, page by page, and Handler serves that to the admin API.
//
// # Metrics
//
// Metrics wraps the audit sink and counts every event in a Prometheus
// registry of its own: requests by server, decision and reason; tokens and
// cost by server and model; latency per pipeline stage; findings by type
// and rule; upstream statuses; and, read at scrape time, the budget left.
package audit
