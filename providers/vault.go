package providers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/airlock-broker/airlock/broker"
	"github.com/hashicorp/vault/api"
)

// VaultConfig configures a Vault key source. Address and Auth are required;
// every other field has a working default. The suggested YAML names are in
// the comments.
type VaultConfig struct {
	// Address is Vault's URL (address), e.g. https://vault.internal:8200.
	// Plain http is accepted only for a loopback host, such as an agent.
	Address string
	// Namespace is the Vault Enterprise namespace (namespace).
	Namespace string
	// CACert is a PEM file of the CAs that sign Vault's certificate
	// (ca_cert); default the system pool. There is deliberately no way to
	// skip verification.
	CACert string
	// TLSServerName overrides the name checked in Vault's certificate
	// (tls_server_name).
	TLSServerName string
	// Auth is how Airlock logs in (auth).
	Auth VaultAuth
	// UseEnvironment lets the Vault library apply the VAULT_* variables
	// (use_environment): VAULT_ADDR, VAULT_CACERT, VAULT_NAMESPACE, and
	// VAULT_TOKEN for the token method when Auth.Token is empty. Fields set
	// here still win. Off, the client is built from this config alone.
	UseEnvironment bool
	// KVVersion is the KV engine version of every mount (kv_version): 0
	// detects each mount's version through sys/internal/ui/mounts, 1 or 2
	// skips detection and takes the first path segment as the mount.
	KVVersion int
	// CacheTTL is how long a key is served without asking Vault
	// (cache_ttl); keys are re-read in the background before it ends.
	// Default 5m.
	CacheTTL time.Duration
	// MaxStale is how old a cached key may get while Vault cannot be read
	// (max_stale); past it, Key fails closed. Default 1h, at least CacheTTL.
	MaxStale time.Duration
	// RequestTimeout bounds each call to Vault (request_timeout). Default 10s.
	RequestTimeout time.Duration
	// Logger receives token and key lifecycle events, never a secret.
	// Default: discard.
	Logger *slog.Logger
	// Now returns the current time, for the cache; tests inject one.
	// Default time.Now.
	Now func() time.Time

	// wrapTransport lets tests count the requests sent to Vault.
	wrapTransport func(http.RoundTripper) http.RoundTripper
}

// VaultAuth is a Vault auth method and its credentials. Credentials are
// read from files or the environment, never written in the config.
type VaultAuth struct {
	// Method is "token", "approle" or "kubernetes" (method).
	Method string
	// Mount is the auth method's mount path (mount); default "approle" or
	// "kubernetes". The token method has none.
	Mount string
	// Token is a reference to a Vault token (token): "env:NAME" or
	// "file:/path", re-read at every login so that an agent can rotate it.
	Token string
	// RoleID is the AppRole role ID (role_id).
	RoleID string
	// SecretIDFile holds the AppRole secret ID (secret_id_file), re-read at
	// every login.
	SecretIDFile string
	// SecretIDWrapped says SecretIDFile holds a response-wrapping token for
	// the secret ID (secret_id_wrapped). Its creation path is checked before
	// it is unwrapped; the secret ID is then kept in memory for later logins
	// until the file holds a new wrapping token.
	SecretIDWrapped bool
	// Role is the Kubernetes auth role (role).
	Role string
	// JWTFile is the service-account token (jwt_file), re-read at every
	// login. Default /var/run/secrets/kubernetes.io/serviceaccount/token.
	JWTFile string
}

// Vault is a broker.KeySource for keys held in Vault's KV engine, v1 or
// v2. It is safe for concurrent use; Close stops its goroutines.
//
// A reference is "vault:PATH#FIELD", or "vault:PATH#FIELD@VERSION" to pin
// a KV v2 version: PATH is the secret's path including its mount, as the
// vault CLI takes it (vault:secret/llm/openai#api_key reads the field
// api_key of secret/data/llm/openai on a KV v2 mount at secret/).
//
// Key answers from an in-memory cache and never waits on Vault while the
// cached key is younger than CacheTTL. A background loop re-reads keys
// before then; if Vault cannot be reached, the cached key is served until
// it is MaxStale old, and Key then fails closed. Refresh always reads Vault,
// from a read that starts after it was called, so that a key rotated in
// Vault is found by the first request the upstream refuses; concurrent
// reads of a reference are coalesced into one.
type Vault struct {
	cfg    VaultConfig
	client *api.Client
	log    *slog.Logger

	mu    sync.RWMutex
	cache map[string]*vaultEntry // by reference; entries are replaced, not mutated

	fmu     sync.Mutex
	flights map[string]*vaultFlights
	mounts  map[string]kvMount // by secret path

	auth vaultAuthState

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

var _ broker.KeySource = (*Vault)(nil)

// vaultRetry is how long after a failed read of a reference Key does not
// try Vault again for it, so that an outage is not a storm.
const vaultRetry = 5 * time.Second

type vaultEntry struct {
	key     string
	version int       // KV v2 version, 0 for v1
	fetched time.Time // when Vault last returned key; zero if it never did
	err     error     // of the last failed read since then
	errAt   time.Time
}

// vaultFlight is one read of a reference in progress.
type vaultFlight struct {
	done chan struct{}
	e    vaultEntry
	err  error
}

// vaultFlights are the read in progress for a reference and the one queued
// behind it for callers that need a read started after they asked.
type vaultFlights struct{ cur, next *vaultFlight }

// NewVault builds a client from cfg, logs in, and starts renewing the token
// and refreshing cached keys. It fails if cfg is invalid (every problem is
// reported) or the first login fails.
func NewVault(ctx context.Context, cfg VaultConfig) (*Vault, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	client, envToken, err := newVaultClient(cfg)
	if err != nil {
		return nil, err
	}
	v := &Vault{
		cfg: cfg, client: client, log: cfg.Logger,
		cache: make(map[string]*vaultEntry), flights: make(map[string]*vaultFlights),
		mounts: make(map[string]kvMount),
	}
	v.auth.envToken = envToken
	v.auth.relogged = make(chan struct{}, 1)
	if err := v.reauth(ctx, 0, false); err != nil {
		return nil, err
	}
	v.ctx, v.cancel = context.WithCancel(context.Background())
	v.wg.Add(2)
	go v.authLoop()
	go v.refreshLoop()
	return v, nil
}

func (c VaultConfig) withDefaults() (VaultConfig, error) {
	var errs []error
	c.CacheTTL = orDefault(c.CacheTTL, 5*time.Minute)
	c.MaxStale = orDefault(c.MaxStale, time.Hour)
	c.RequestTimeout = orDefault(c.RequestTimeout, 10*time.Second)
	if c.CacheTTL < 0 || c.MaxStale < 0 || c.RequestTimeout < 0 {
		errs = append(errs, errors.New("vault durations must not be negative"))
	}
	if c.MaxStale < c.CacheTTL {
		errs = append(errs, fmt.Errorf("vault max_stale %s is shorter than cache_ttl %s", c.MaxStale, c.CacheTTL))
	}
	if c.KVVersion < 0 || c.KVVersion > 2 {
		errs = append(errs, fmt.Errorf("vault kv_version %d is not 0 (detect), 1 or 2", c.KVVersion))
	}
	if c.Address == "" && !c.UseEnvironment {
		errs = append(errs, errors.New("vault address is required"))
	}
	if err := c.Auth.check(c.UseEnvironment); err != nil {
		errs = append(errs, err)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c, errors.Join(errs...)
}

// Key implements broker.KeySource. It returns a *broker.Error with
// ReasonUnavailable, naming ref, when the reference is not a valid vault:
// reference, Vault refuses it, or Vault cannot be read and the cached key
// is missing or older than MaxStale.
func (v *Vault) Key(ctx context.Context, ref string) (string, error) {
	v.mu.RLock()
	e := v.cache[ref]
	v.mu.RUnlock()
	now := v.cfg.Now()
	if e != nil && !e.fetched.IsZero() {
		age := now.Sub(e.fetched)
		if age < v.cfg.CacheTTL {
			return e.key, nil
		}
		if age < v.cfg.MaxStale {
			if now.Sub(e.errAt) >= vaultRetry {
				v.fetch(ref, false) // in the background; this request does not wait
			}
			return e.key, nil
		}
	}
	if e != nil && e.err != nil && now.Sub(e.errAt) < vaultRetry {
		return "", v.unavailable(ref, e.err, e.fetched)
	}
	return v.wait(ctx, ref, v.fetch(ref, false))
}

// Refresh implements broker.KeySource. It reads ref from Vault, bypassing
// the cache, and returns the errors Key does; a stale cached key is never
// an answer.
func (v *Vault) Refresh(ctx context.Context, ref string) (string, error) {
	return v.wait(ctx, ref, v.fetch(ref, true))
}

// Check reports whether Vault is reachable and Airlock's token is valid,
// for /readyz. It returns a *broker.Error with ReasonUnavailable otherwise,
// and starts a new login when Vault refused the token.
func (v *Vault) Check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, v.cfg.RequestTimeout)
	defer cancel()
	gen := v.auth.gen.Load()
	_, err := v.client.Auth().Token().LookupSelfWithContext(ctx)
	if err == nil {
		return nil
	}
	err = newVaultError("look up own token", err)
	var ve *vaultError
	if errors.As(err, &ve) && ve.Status == http.StatusForbidden {
		v.goTracked(func() {
			if err := v.reauth(v.ctx, gen, true); err != nil {
				v.log.Warn("vault login failed", "err", err)
			}
		})
		return broker.Wrap(broker.ReasonUnavailable, err, "vault refused airlock's token; logging in again")
	}
	if ve != nil && ve.Status != 0 {
		return broker.Wrap(broker.ReasonUnavailable, err, fmt.Sprintf("vault is not ready (status %d)", ve.Status))
	}
	return broker.Wrap(broker.ReasonUnavailable, err, "vault is unreachable")
}

// Close stops renewing the token and refreshing keys, and waits for reads
// in progress. Key and Refresh fail after Close.
func (v *Vault) Close() {
	v.fmu.Lock() // no goroutine starts after this
	v.cancel()
	v.fmu.Unlock()
	v.wg.Wait()
}

// goTracked runs f in a goroutine that Close waits for, unless Close has
// been called.
func (v *Vault) goTracked(f func()) {
	v.fmu.Lock()
	defer v.fmu.Unlock()
	if v.ctx.Err() != nil {
		return
	}
	v.wg.Add(1)
	go func() {
		defer v.wg.Done()
		f()
	}()
}

// unavailable is the error for ref when Vault cannot give its key: err is
// the last read's failure, fetched when Vault last gave the key (or zero).
func (v *Vault) unavailable(ref string, err error, fetched time.Time) error {
	msg := fmt.Sprintf("key %s is unavailable", ref)
	if !fetched.IsZero() && v.cfg.Now().Sub(fetched) >= v.cfg.MaxStale {
		msg = fmt.Sprintf("key %s is unavailable: vault cannot be read and the cached key is older than %s", ref, v.cfg.MaxStale)
	}
	return broker.Wrap(broker.ReasonUnavailable, err, msg)
}

// wait waits for f, a read of ref.
func (v *Vault) wait(ctx context.Context, ref string, f *vaultFlight) (string, error) {
	select {
	case <-f.done:
	case <-ctx.Done():
		return "", fmt.Errorf("read key %s: %w", ref, ctx.Err())
	}
	if f.err == nil {
		return f.e.key, nil
	}
	var fetched time.Time
	v.mu.RLock()
	if e := v.cache[ref]; e != nil {
		fetched = e.fetched
	}
	v.mu.RUnlock()
	return "", v.unavailable(ref, f.err, fetched)
}

// fetch returns a read of ref to wait for, starting one if none is in
// progress. With fresh, the read is one that starts after this call.
func (v *Vault) fetch(ref string, fresh bool) *vaultFlight {
	v.fmu.Lock()
	defer v.fmu.Unlock()
	if v.ctx.Err() != nil {
		f := &vaultFlight{done: make(chan struct{}), err: errors.New("vault key source is closed")}
		close(f.done)
		return f
	}
	fl := v.flights[ref]
	if fl == nil {
		fl = &vaultFlights{}
		v.flights[ref] = fl
	}
	switch {
	case fl.cur == nil:
		fl.cur = &vaultFlight{done: make(chan struct{})}
		v.wg.Add(1)
		go v.run(ref, fl.cur)
		return fl.cur
	case !fresh:
		return fl.cur
	case fl.next == nil:
		fl.next = &vaultFlight{done: make(chan struct{})}
	}
	return fl.next
}

// run performs f, then the read queued behind it, if any.
func (v *Vault) run(ref string, f *vaultFlight) {
	defer v.wg.Done()
	for f != nil {
		ctx, cancel := context.WithTimeout(v.ctx, v.cfg.RequestTimeout)
		f.e, f.err = v.read(ctx, ref)
		cancel()
		v.store(ref, f)
		close(f.done)

		v.fmu.Lock()
		fl := v.flights[ref]
		fl.cur, fl.next = fl.next, nil
		f = fl.cur
		if f == nil {
			delete(v.flights, ref)
		}
		v.fmu.Unlock()
	}
}

// store saves what f read, or its failure next to the cached key.
func (v *Vault) store(ref string, f *vaultFlight) {
	now := v.cfg.Now()
	v.mu.Lock()
	old := v.cache[ref]
	e := f.e
	if f.err != nil {
		e = vaultEntry{err: f.err, errAt: now}
		if old != nil {
			e.key, e.version, e.fetched = old.key, old.version, old.fetched
		}
	} else {
		e.fetched = now
	}
	v.cache[ref] = &e
	v.mu.Unlock()

	switch {
	case f.err != nil && old != nil && !old.fetched.IsZero():
		v.log.Warn("vault key read failed; serving the cached key", "ref", ref,
			"age", now.Sub(old.fetched).Round(time.Second).String(), "max_stale", v.cfg.MaxStale.String(), "err", f.err)
	case f.err != nil:
		v.log.Warn("vault key read failed", "ref", ref, "err", f.err)
	case old != nil && !old.fetched.IsZero() && old.key != e.key:
		v.log.Info("vault key changed", "ref", ref, "version", e.version)
	}
}

// refreshLoop re-reads cached keys before their TTL ends.
func (v *Vault) refreshLoop() {
	defer v.wg.Done()
	t := time.NewTicker(min(max(v.cfg.CacheTTL/8, time.Second), time.Minute))
	defer t.Stop()
	for {
		select {
		case <-v.ctx.Done():
			return
		case <-t.C:
			v.refreshDue()
		}
	}
}

// refreshDue starts a read of every key past three quarters of its TTL.
func (v *Vault) refreshDue() {
	now := v.cfg.Now()
	var due []string
	v.mu.RLock()
	for ref, e := range v.cache {
		if !e.fetched.IsZero() && now.Sub(e.fetched) >= v.cfg.CacheTTL*3/4 && now.Sub(e.errAt) >= vaultRetry {
			due = append(due, ref)
		}
	}
	v.mu.RUnlock()
	for _, ref := range due {
		v.fetch(ref, false)
	}
}

// vaultError is a failed Vault call described by what was being done,
// Vault's status and its error messages: never a response body, which can
// hold secrets, nor a credential sent in the request.
type vaultError struct {
	Op     string
	Status int // 0 when Vault did not answer
	Detail string
	err    error // the transport error, for errors.Is
}

func (e *vaultError) Error() string {
	switch {
	case e.Status == 0:
		return fmt.Sprintf("%s: %s", e.Op, e.Detail)
	case e.Detail == "":
		return fmt.Sprintf("%s: vault answered %d", e.Op, e.Status)
	}
	return fmt.Sprintf("%s: vault answered %d (%s)", e.Op, e.Status, e.Detail)
}

func (e *vaultError) Unwrap() error { return e.err }

// maxVaultDetail caps the part of a Vault error kept in a vaultError.
const maxVaultDetail = 200

// newVaultError describes err from a Vault call made for op, with every
// credential in secrets blanked out.
func newVaultError(op string, err error, secrets ...string) error {
	ve := &vaultError{Op: op}
	var re *api.ResponseError
	if errors.As(err, &re) {
		ve.Status = re.StatusCode
		if !re.RawError { // a raw error is a body Vault did not write
			ve.Detail = strings.Join(strings.Fields(strings.Join(re.Errors, "; ")), " ")
		}
	} else {
		ve.Detail, ve.err = err.Error(), err
	}
	for _, s := range secrets {
		if s != "" {
			ve.Detail = strings.ReplaceAll(ve.Detail, s, "[redacted]")
		}
	}
	if len(ve.Detail) > maxVaultDetail {
		ve.Detail = ve.Detail[:maxVaultDetail] + "..."
	}
	return ve
}
