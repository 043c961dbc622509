package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"go.yaml.in/yaml/v3"

	"github.com/airlock-broker/airlock/audit"
	"github.com/airlock-broker/airlock/broker"
	"github.com/airlock-broker/airlock/providers"
)

// AuditConf is the audit: section: the tamper-evident trail of every
// request. Without sinks there is no trail.
type AuditConf struct {
	// Key is a reference (vault:, env:, file:) to the secret, at least 16
	// bytes, that keys the chain's hashes. Required with sinks.
	Key string `yaml:"key"`
	// Chain names this replica's chain; default the host name. Two live
	// processes must not share one.
	Chain string          `yaml:"chain"`
	Sinks []AuditSinkConf `yaml:"sinks"`
	// FailOpen serves a request whose audit write failed; off by default:
	// nothing is served unaudited.
	FailOpen bool `yaml:"fail_open"`
	// CheckpointEvery logs the chain's head this often, so the log
	// pipeline holds checkpoints outside the trail. Default 1m.
	CheckpointEvery Duration `yaml:"checkpoint_every"`
	// MaxLag is how many records an async sink may lag before requests
	// fail. Default 10000.
	MaxLag int `yaml:"max_lag"`
}

// AuditSinkConf is one place the trail is written.
type AuditSinkConf struct {
	Kind string `yaml:"kind"` // file, redis, stdout
	// file: JSON Lines at Path, rotated at MaxBytes (default 64 MiB) into
	// Path.1 ... Path.Keep (default 10); Sync flushes to disk per batch.
	Path     string `yaml:"path"`
	MaxBytes int64  `yaml:"max_bytes"`
	Keep     int    `yaml:"keep"`
	Sync     bool   `yaml:"sync"`
	// redis: a stream at Stream (default airlock:audit), trimmed to about
	// MaxLen entries (default 100000), on Redis (default quota.redis).
	Stream string     `yaml:"stream"`
	MaxLen int64      `yaml:"maxlen"`
	Redis  *RedisConf `yaml:"redis"`
	// Async: requests do not wait for this sink, which follows the others
	// and catches up from them after a restart (a stream beside a file).
	Async bool `yaml:"async"`
}

// MetricsConf serves Prometheus metrics.
type MetricsConf struct {
	// Listen serves /metrics on an address of its own; empty serves it at
	// /metrics on the main listener.
	Listen   string `yaml:"listen"`
	Disabled bool   `yaml:"disabled"`
}

const defaultAuditStream = "airlock:audit"

// validate reports every problem of the audit section; checkRef checks a
// key reference as Config.checkRef does.
func (ac *AuditConf) validate(checkRef func(string) error) error {
	var errs []error
	if len(ac.Sinks) > 0 {
		if ac.Key == "" {
			errs = append(errs, errors.New("audit.key: a key reference is required with sinks (vault:PATH#FIELD, env:NAME or file:/path)"))
		} else if err := checkRef(ac.Key); err != nil {
			errs = append(errs, fmt.Errorf("audit.key: %w", err))
		}
	}
	if ac.Chain != "" && !audit.ValidChainID(ac.Chain) {
		errs = append(errs, errors.New("audit.chain: use 1 to 128 letters, digits, '.', '_' or '-'"))
	}
	nsync := 0
	for i, s := range ac.Sinks {
		at := fmt.Sprintf("audit.sinks[%d]", i)
		switch s.Kind {
		case "file":
			if s.Path == "" {
				errs = append(errs, fmt.Errorf("%s: path is required", at))
			}
		case "redis":
			if s.Redis != nil && s.Redis.Password != "" && !strings.HasPrefix(s.Redis.Password, "env:") && !strings.HasPrefix(s.Redis.Password, "file:") {
				errs = append(errs, fmt.Errorf("%s: redis.password must be a reference (env:NAME or file:/path)", at))
			}
		case "stdout":
		default:
			errs = append(errs, fmt.Errorf("%s: kind %q is not file, redis or stdout", at, s.Kind))
		}
		if s.MaxBytes < 0 || s.Keep < 0 || s.MaxLen < 0 {
			errs = append(errs, fmt.Errorf("%s: sizes must not be negative", at))
		}
		if !s.Async {
			nsync++
		}
	}
	if len(ac.Sinks) > 0 && nsync == 0 {
		errs = append(errs, errors.New("audit.sinks: at least one sink must not be async"))
	}
	return errors.Join(errs...)
}

// auditApp is the wired audit trail and metrics.
type auditApp struct {
	// Sink is the broker's audit sink: the metrics, and the chain if any.
	Sink     broker.AuditSink
	FailOpen bool
	Chain    *audit.Chain // nil without sinks
	// Handler serves GET /admin/v1/audit (nil without a readable sink).
	Handler http.Handler
	Metrics *audit.Metrics
	clients []redis.UniversalClient
}

// Close writes what is queued and closes the sinks.
func (a *auditApp) Close() error {
	var errs []error
	if a.Chain != nil {
		errs = append(errs, a.Chain.Close())
	}
	for _, c := range a.clients {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

// buildAudit wires the trail of ac: the sinks, the chain resumed from
// them, the admin handler and the metrics (budgets read from q for
// servers). quotaRedis is the default Redis of redis sinks; stdout sinks
// write to stdout.
func buildAudit(ctx context.Context, ac AuditConf, quotaRedis RedisConf, keys broker.KeySource, q broker.QuotaAdmin, servers []string, stdout io.Writer, log *slog.Logger) (*auditApp, error) {
	a := &auditApp{FailOpen: ac.FailOpen}
	a.Metrics = audit.NewMetrics(audit.MetricsOptions{Quota: q, Servers: servers, Logger: log})
	if len(ac.Sinks) == 0 {
		log.Warn("audit trail disabled: no audit.sinks configured")
		a.Sink = a.Metrics.Wrap(nil)
		return a, nil
	}
	key, err := auditKey(ctx, keys, ac.Key)
	if err != nil {
		return nil, fmt.Errorf("audit.key: %w", err)
	}
	var (
		sinks    []audit.Sink
		readable []audit.Source // redis first: it holds every replica's chain
	)
	fail := func(err error) (*auditApp, error) {
		for _, s := range sinks {
			s.Close()
		}
		a.Close()
		return nil, err
	}
	for i, sc := range ac.Sinks {
		var s audit.Sink
		switch sc.Kind {
		case "file":
			f, err := audit.OpenFile(sc.Path, audit.FileOptions{MaxBytes: sc.MaxBytes, Keep: sc.Keep, Sync: sc.Sync, Logger: log})
			if err != nil {
				return fail(fmt.Errorf("audit.sinks[%d]: %w", i, err))
			}
			s, readable = f, append(readable, f)
		case "redis":
			rc := quotaRedis
			if sc.Redis != nil {
				rc = *sc.Redis
			}
			c, err := openRedis(ctx, rc, keys)
			if err != nil {
				return fail(fmt.Errorf("audit.sinks[%d]: %w", i, err))
			}
			a.clients = append(a.clients, c)
			rs := audit.NewRedisStream(c, or(sc.Stream, defaultAuditStream), audit.RedisOptions{MaxLen: sc.MaxLen})
			s, readable = rs, slices.Insert(readable, 0, audit.Source(rs))
		case "stdout":
			s = audit.NewWriter(stdout)
		}
		if sc.Async {
			s = audit.Async(s)
		}
		sinks = append(sinks, s)
	}
	id := ac.Chain
	if id == "" {
		// A chain no sink can read back restarts at seq 1: a new id each
		// time keeps it from looking like a reset.
		id = defaultChainID(len(readable) == 0)
	}
	a.Chain, err = audit.NewChain(ctx, id, key, sinks, audit.Options{
		MaxLag:          ac.MaxLag,
		CheckpointEvery: orDefault(ac.CheckpointEvery, time.Minute),
		Logger:          log,
	})
	if err != nil {
		return fail(err)
	}
	if len(readable) > 0 {
		a.Handler = audit.Handler(readable[0], audit.HandlerOptions{Checkpoint: a.Chain.Checkpoint, Logger: log})
	}
	a.Sink = a.Metrics.Wrap(a.Chain)
	log.Info("audit trail", "chain", id, "sinks", len(sinks), "fail_open", ac.FailOpen)
	return a, nil
}

// auditKey resolves the chain's key.
func auditKey(ctx context.Context, keys broker.KeySource, ref string) ([]byte, error) {
	kctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	k, err := keys.Key(kctx, ref)
	if err != nil {
		return nil, err
	}
	if len(k) < audit.MinKeyBytes {
		return nil, fmt.Errorf("the secret is %d bytes, at least %d are needed (openssl rand -hex 32)", len(k), audit.MinKeyBytes)
	}
	return []byte(k), nil
}

// defaultChainID is the host name, made a valid chain id; with unique it
// also gets a random suffix, for chains no sink can resume.
func defaultChainID(unique bool) string {
	host, _ := os.Hostname()
	b := []byte(host)
	for i, c := range b {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			b[i] = '-'
		}
	}
	id := string(b[:min(len(b), 100)])
	if id == "" {
		id = "airlock"
	}
	if unique {
		var r [4]byte
		rand.Read(r[:])
		id += "-" + hex.EncodeToString(r[:])
	}
	return id
}

// openRedis connects to rc, resolving its password reference.
func openRedis(ctx context.Context, rc RedisConf, keys broker.KeySource) (redis.UniversalClient, error) {
	if len(rc.Addrs) == 0 {
		return nil, errors.New("no redis addresses: set the sink's redis.addrs, or quota.redis.addrs")
	}
	ro := &redis.UniversalOptions{Addrs: rc.Addrs, MasterName: rc.MasterName, Username: rc.Username, DB: rc.DB}
	if rc.Password != "" {
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		pw, err := keys.Key(pctx, rc.Password)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("redis password: %w", err)
		}
		ro.Password = pw
	}
	if rc.TLS {
		ro.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	return redis.NewUniversalClient(ro), nil
}

// serveMetrics serves GET /metrics from h on addr, a listener of its own
// (plain HTTP: bind it to a private address). It returns once listening,
// with the address listened on; shutdown stops it.
func serveMetrics(addr string, h http.Handler, log *slog.Logger) (listening string, shutdown func(context.Context) error, err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("metrics.listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", h)
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics listener failed", "err", err)
		}
	}()
	log.Info("metrics listening", "addr", ln.Addr().String())
	return ln.Addr().String(), srv.Shutdown, nil
}

const auditUsage = `usage:
  airlock audit verify     SOURCE [-key-ref REF] [-checkpoint FILE] [-json]
  airlock audit checkpoint SOURCE [-key-ref REF]
  airlock audit tail       SOURCE [-n 20] [-f]
  airlock audit query      SOURCE [-server ID] [-decision D] [-reason R] [-chain ID] [-since T] [-until T] [-limit N]
  airlock audit export     SOURCE [-since T] [-until T]

SOURCE is -file PATH (with its rotated files PATH.1, PATH.2, ...), -redis ADDR -stream KEY
[-redis-password-ref REF], or -config airlock.yaml (env AIRLOCK_CONFIG): the first file or
redis sink of its audit section, or sink number -sink N. T is an RFC 3339 time or a duration
back from now (24h). The key is read from a reference, -key-ref env:NAME or file:/path (or
audit.key of -config, which may be vault:), never from a flag. Records print as JSON Lines in
the wire form, which verify -file accepts again. verify -checkpoint reads checkpoints as JSON
Lines, such as checkpoint's output or the "audit checkpoint" lines of the broker's log.
`

// auditCmd reads, verifies and exports the audit trail.
func auditCmd(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fmt.Fprint(stderr, auditUsage)
		return flag.ErrHelp
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("audit "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, auditUsage) }
	var o auditOpts
	fs.StringVar(&o.config, "config", getenv("AIRLOCK_CONFIG"), "YAML config whose audit section names the trail")
	fs.IntVar(&o.sink, "sink", -1, "index of the sink in the config's audit.sinks")
	fs.StringVar(&o.file, "file", "", "JSON Lines file of a file sink")
	fs.StringVar(&o.redis, "redis", "", "Redis address of a stream sink")
	fs.StringVar(&o.stream, "stream", defaultAuditStream, "stream key")
	fs.StringVar(&o.redisPassword, "redis-password-ref", "", "reference to the Redis password (env:NAME, file:/path)")
	fs.StringVar(&o.keyRef, "key-ref", "", "reference to the audit key (env:NAME, file:/path)")
	fs.StringVar(&o.checkpoints, "checkpoint", "", "file of checkpoints to verify against (verify)")
	fs.BoolVar(&o.json, "json", false, "print the report as JSON (verify)")
	fs.IntVar(&o.n, "n", 20, "records to print (tail)")
	fs.BoolVar(&o.follow, "f", false, "keep printing new records (tail)")
	fs.DurationVar(&o.interval, "interval", time.Second, "how often -f looks for new records")
	fs.StringVar(&o.filter.Server, "server", "", "server id (query)")
	fs.StringVar(&o.filter.Decision, "decision", "", "served, blocked, refused or failed (query)")
	fs.StringVar(&o.filter.Reason, "reason", "", "reason, e.g. injection_detected (query)")
	fs.StringVar(&o.filter.Chain, "chain", "", "chain id (query)")
	since := fs.String("since", "", "from this time (query, export)")
	until := fs.String("until", "", "before this time (query, export)")
	fs.IntVar(&o.limit, "limit", 100, "most records to print, 0 for all (query)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("audit %s: unexpected arguments %q", sub, fs.Args())
	}
	var errs []error
	var err error
	now := time.Now()
	if o.filter.Since, err = parseWhen(*since, now); err != nil {
		errs = append(errs, fmt.Errorf("-since: %w", err))
	}
	if o.filter.Until, err = parseWhen(*until, now); err != nil {
		errs = append(errs, fmt.Errorf("-until: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	t, err := openTrail(ctx, &o, getenv)
	if err != nil {
		return err
	}
	defer t.close()
	out := bufio.NewWriter(stdout)
	defer out.Flush()
	switch sub {
	case "verify":
		return auditVerify(ctx, t, &o, out)
	case "checkpoint":
		return auditCheckpoint(ctx, t, out, now)
	case "tail":
		return auditTail(ctx, t, &o, out)
	case "query":
		return auditQuery(ctx, t, o.filter, o.limit, out)
	case "export":
		return auditQuery(ctx, t, audit.Filter{Since: o.filter.Since, Until: o.filter.Until}, 0, out)
	default:
		fmt.Fprint(stderr, auditUsage)
		return fmt.Errorf("unknown audit command %q", sub)
	}
}

type auditOpts struct {
	config, file, redis, stream, redisPassword, keyRef, checkpoints string
	sink, n, limit                                                  int
	json, follow                                                    bool
	interval                                                        time.Duration
	filter                                                          audit.Filter
}

// trail is an opened audit source and how to get its key.
type trail struct {
	src   audit.Source
	name  string
	key   func(ctx context.Context) ([]byte, error)
	close func()
}

// openTrail opens the source named by the flags or the config.
func openTrail(ctx context.Context, o *auditOpts, getenv func(string) string) (*trail, error) {
	var cf struct {
		Audit AuditConf  `yaml:"audit"`
		Vault *VaultConf `yaml:"vault"`
		Quota QuotaConf  `yaml:"quota"`
	}
	if o.config != "" && o.file == "" && o.redis == "" {
		data, err := os.ReadFile(o.config)
		if err != nil {
			return nil, fmt.Errorf("read config: %w", err)
		}
		// Only the sections read here: other commands check the rest.
		if err := yaml.Unmarshal(data, &cf); err != nil {
			return nil, fmt.Errorf("parse config: %w", err)
		}
		c := &Config{Vault: cf.Vault, Quota: cf.Quota}
		c.applyEnv(getenv)
		cf.Vault, cf.Quota = c.Vault, c.Quota
	}
	keys := providers.Keys{
		"env":  &providers.Env{LookupEnv: func(k string) (string, bool) { v := getenv(k); return v, v != "" }},
		"file": &providers.File{},
	}
	t := &trail{close: func() {}}
	var vault *providers.Vault
	keyRef := or(o.keyRef, cf.Audit.Key)
	t.key = func(ctx context.Context) ([]byte, error) {
		if keyRef == "" {
			return nil, errors.New("no audit key: give -key-ref env:NAME or file:/path")
		}
		if strings.HasPrefix(keyRef, "vault:") && cf.Vault != nil && vault == nil {
			v, err := providers.NewVault(ctx, vaultConfig(cf.Vault, slog.New(slog.DiscardHandler)))
			if err != nil {
				return nil, fmt.Errorf("vault: %w", err)
			}
			vault, keys["vault"] = v, v
		}
		return auditKey(ctx, keys, keyRef)
	}
	closeVault := func() {
		if vault != nil {
			vault.Close()
		}
	}
	switch {
	case o.file != "":
		t.src, t.name = audit.NewFileReader(o.file), o.file
	case o.redis != "":
		rc := RedisConf{Addrs: []string{o.redis}, Password: or(o.redisPassword, getenv("AIRLOCK_REDIS_PASSWORD"))}
		c, err := openRedis(ctx, rc, keys)
		if err != nil {
			return nil, err
		}
		t.src, t.name = audit.NewRedisStream(c, o.stream, audit.RedisOptions{}), o.redis+"/"+o.stream
		t.close = func() { c.Close() }
	case o.config != "":
		sc, err := pickSink(cf.Audit.Sinks, o.sink)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", o.config, err)
		}
		if sc.Kind == "file" {
			t.src, t.name = audit.NewFileReader(sc.Path), sc.Path
			break
		}
		rc := cf.Quota.Redis
		if sc.Redis != nil {
			rc = *sc.Redis
		}
		c, err := openRedis(ctx, rc, keys)
		if err != nil {
			return nil, err
		}
		stream := or(sc.Stream, defaultAuditStream)
		t.src, t.name = audit.NewRedisStream(c, stream, audit.RedisOptions{}), strings.Join(rc.Addrs, ",")+"/"+stream
		t.close = func() { c.Close() }
	default:
		return nil, errors.New("no audit trail: give -file PATH, -redis ADDR -stream KEY or -config airlock.yaml")
	}
	closeSrc := t.close
	t.close = func() { closeSrc(); closeVault() }
	return t, nil
}

// pickSink returns sink i, or the first file or redis sink when i < 0.
func pickSink(sinks []AuditSinkConf, i int) (AuditSinkConf, error) {
	if i >= 0 {
		if i >= len(sinks) || sinks[i].Kind == "stdout" {
			return AuditSinkConf{}, fmt.Errorf("audit.sinks[%d] is not a file or redis sink", i)
		}
		return sinks[i], nil
	}
	for _, s := range sinks {
		if s.Kind == "file" || s.Kind == "redis" {
			return s, nil
		}
	}
	return AuditSinkConf{}, errors.New("no file or redis sink in audit.sinks")
}

// vaultConfig converts the vault section.
func vaultConfig(vc *VaultConf, log *slog.Logger) providers.VaultConfig {
	return providers.VaultConfig{
		Address: vc.Address, Namespace: vc.Namespace, CACert: vc.CACert, TLSServerName: vc.TLSServerName,
		UseEnvironment: vc.UseEnvironment, KVVersion: vc.KVVersion,
		CacheTTL: time.Duration(vc.CacheTTL), MaxStale: time.Duration(vc.MaxStale), RequestTimeout: time.Duration(vc.RequestTimeout),
		Auth: providers.VaultAuth{
			Method: vc.Auth.Method, Mount: vc.Auth.Mount, Token: vc.Auth.Token,
			RoleID: vc.Auth.RoleID, SecretIDFile: vc.Auth.SecretIDFile, SecretIDWrapped: vc.Auth.SecretIDWrapped,
			Role: vc.Auth.Role, JWTFile: vc.Auth.JWTFile,
		},
		Logger: log,
	}
}

// parseWhen reads an RFC 3339 time, or a duration back from now.
func parseWhen(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time nor a duration like 24h", s)
}

func auditVerify(ctx context.Context, t *trail, o *auditOpts, out *bufio.Writer) error {
	key, err := t.key(ctx)
	if err != nil {
		return err
	}
	var cps []audit.Checkpoint
	if o.checkpoints != "" {
		f, err := os.Open(o.checkpoints)
		if err != nil {
			return fmt.Errorf("read checkpoints: %w", err)
		}
		cps, err = audit.ReadCheckpoints(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", o.checkpoints, err)
		}
	}
	rep, err := audit.Verify(ctx, key, t.src.Records(ctx, ""), cps)
	if err != nil {
		return fmt.Errorf("read %s: %w", t.name, err)
	}
	if o.json {
		b, _ := json.MarshalIndent(rep, "", "  ")
		out.Write(append(b, '\n'))
	} else {
		rep.WriteText(out, t.name)
	}
	if !rep.OK() {
		return fmt.Errorf("audit trail %s fails verification: %d problems", t.name, len(rep.Problems)+rep.More)
	}
	return nil
}

// auditCheckpoint verifies the trail, then prints the head of each chain.
func auditCheckpoint(ctx context.Context, t *trail, out *bufio.Writer, now time.Time) error {
	key, err := t.key(ctx)
	if err != nil {
		return err
	}
	rep, err := audit.Verify(ctx, key, t.src.Records(ctx, ""), nil)
	if err != nil {
		return fmt.Errorf("read %s: %w", t.name, err)
	}
	if !rep.OK() {
		rep.WriteText(out, t.name)
		return fmt.Errorf("audit trail %s fails verification: no checkpoint taken", t.name)
	}
	for _, c := range rep.Chains {
		cp := c.Head
		cp.Time = now.UTC()
		b, _ := json.Marshal(cp)
		out.Write(append(b, '\n'))
	}
	return nil
}

func auditTail(ctx context.Context, t *trail, o *auditOpts, out *bufio.Writer) error {
	var last []audit.Record
	for r, err := range t.src.Backward(ctx) {
		var me *audit.MalformedError
		if errors.As(err, &me) {
			continue
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", t.name, err)
		}
		if len(last) == o.n {
			break
		}
		last = append(last, r)
	}
	slices.Reverse(last)
	cursor := ""
	for i := range last {
		printRecord(out, &last[i])
		cursor = last[i].Cursor
	}
	if !o.follow {
		return nil
	}
	for {
		if err := out.Flush(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(o.interval):
		}
		for r, err := range t.src.Records(ctx, cursor) {
			var me *audit.MalformedError
			if errors.As(err, &me) {
				continue
			}
			if ctx.Err() != nil {
				return nil
			}
			if err != nil {
				return fmt.Errorf("read %s: %w", t.name, err)
			}
			printRecord(out, &r)
			cursor = r.Cursor
		}
	}
}

// auditQuery prints the records matching f, at most limit (0: all).
func auditQuery(ctx context.Context, t *trail, f audit.Filter, limit int, out *bufio.Writer) error {
	after, n := "", 0
	for {
		page, err := audit.Query(ctx, t.src, f, after, audit.MaxLimit)
		if err != nil {
			return fmt.Errorf("read %s: %w", t.name, err)
		}
		for i := range page.Records {
			if limit > 0 && n == limit {
				return nil
			}
			printRecord(out, &page.Records[i])
			n++
		}
		if after = page.Next; after == "" {
			return nil
		}
	}
}

func printRecord(out *bufio.Writer, r *audit.Record) {
	out.Write(r.AppendJSON(out.AvailableBuffer()))
	out.WriteByte('\n')
}
