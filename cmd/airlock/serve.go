package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/airlock-broker/airlock/broker"
	"github.com/airlock-broker/airlock/filters"
	"github.com/airlock-broker/airlock/providers"
	"github.com/airlock-broker/airlock/quota"
)

func serve(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", getenv("AIRLOCK_CONFIG"), "YAML config file (env AIRLOCK_CONFIG); none runs the embedded defaults")
	listen := fs.String("listen", "", "listen address, overriding the config and AIRLOCK_LISTEN")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("serve: unexpected arguments %q", fs.Args())
	}

	var (
		cfg      *Config
		devToken string
		err      error
	)
	if *configPath == "" {
		cfg, devToken, err = defaultConfig(getenv)
	} else {
		cfg, err = loadConfig(*configPath)
	}
	if err != nil {
		return err
	}
	cfg.applyEnv(getenv)
	if *listen != "" {
		cfg.Listen = *listen
	}
	log := newLogger(stderr, cfg.Log)

	a, err := build(ctx, cfg, getenv, log)
	if err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
	defer a.Close()
	tlsConf, err := serverTLS(cfg)
	if err != nil {
		return err
	}
	if tlsConf == nil && !cfg.AllowInsecureListen && !loopback(cfg.Listen) {
		return fmt.Errorf("refusing to listen on %s without TLS: configure tls or set allow_insecure_listen: true", cfg.Listen)
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	if tlsConf != nil {
		ln = tls.NewListener(ln, tlsConf)
	}

	t := cfg.Timeouts
	srv := &http.Server{
		Handler: a.broker.Handler(broker.HTTPOptions{
			MaxInFlight:  cfg.Limits.MaxInFlight,
			AuthFailures: cfg.Limits.AuthFailuresPerMinute,
			AuthWindow:   time.Minute,
			Admin:        broker.AdminOptions{TokenHashes: hashes(cfg.Admin.TokenSHA256), Quota: a.quota, Audit: a.audit.Handler},
			Metrics:      inlineMetrics(cfg, a.audit),
		}),
		ReadHeaderTimeout: orDefault(t.ReadHeader, 5*time.Second),
		ReadTimeout:       orDefault(t.Read, 30*time.Second),
		// Long enough for a slow LLM answer with retries.
		WriteTimeout:   orDefault(t.Write, 5*time.Minute),
		IdleTimeout:    orDefault(t.Idle, 2*time.Minute),
		MaxHeaderBytes: 64 << 10,
		ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	scheme := "http"
	if tlsConf != nil {
		scheme = "https"
	}
	addr := ln.Addr().String()
	log.Info("airlock listening", "addr", addr, "tls", tlsConf != nil, "mtls", cfg.TLS.ClientCAFile != "", "version", version)
	banner(stdout, scheme, addr, devToken, cfg)

	if !cfg.Metrics.Disabled && cfg.Metrics.Listen != "" {
		_, stopMetrics, err := serveMetrics(cfg.Metrics.Listen, a.audit.Metrics.Handler(), log)
		if err != nil {
			return err
		}
		defer stopMetrics(context.Background())
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	// A fresh context: in-flight LLM calls get time to finish.
	sctx, cancel := context.WithTimeout(context.Background(), orDefault(t.Shutdown, 30*time.Second))
	defer cancel()
	log.Info("shutting down")
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// build wires the broker from cfg, reporting every configuration problem.
// app is the wired program: the broker and the stores it was built with.
type app struct {
	log    *slog.Logger
	broker *broker.Broker
	quota  *quota.Store
	vault  *providers.Vault // nil without a vault section
	audit  *auditApp
}

// Close applies the settlements still queued, writes the audit records
// still queued and stops the background work of the stores.
func (a *app) Close() {
	if a.broker != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := a.broker.Close(ctx); err != nil {
			a.log.Error("settlements left unapplied at exit; their holds are charged in full when they expire", "err", err)
		}
		cancel()
	}
	if a.audit != nil {
		a.audit.Close() // the chain logs what it could not write
	}
	if a.vault != nil {
		a.vault.Close()
	}
}

// inlineMetrics is the /metrics handler of the main listener, unless
// metrics are off or have a listener of their own.
func inlineMetrics(cfg *Config, a *auditApp) http.Handler {
	if cfg.Metrics.Disabled || cfg.Metrics.Listen != "" {
		return nil
	}
	return a.Metrics.Handler()
}

func build(ctx context.Context, cfg *Config, getenv func(string) string, log *slog.Logger) (*app, error) {
	// Every problem is reported at once: the file's own, then those the
	// providers and the broker find. Services are not dialled with a
	// configuration known to be wrong.
	invalid := cfg.validate()
	errs := []error{invalid}
	keys := providers.Keys{
		"env":  &providers.Env{LookupEnv: func(k string) (string, bool) { v := getenv(k); return v, v != "" }},
		"file": &providers.File{},
	}
	a := &app{log: log}
	if vc := cfg.Vault; vc != nil && invalid == nil {
		v, err := providers.NewVault(ctx, vaultConfig(vc, log))
		if err != nil {
			return nil, fmt.Errorf("vault: %w", err)
		}
		keys["vault"] = v
		a.vault = v
	}
	provs := map[string]broker.Provider{}
	for _, p := range cfg.Providers {
		switch p.Kind {
		case "echo":
			provs[p.Name] = providers.Echo{}
		case "openai", "azure":
			oc := providers.OpenAIConfig{
				Name: p.Name, Kind: p.Kind, BaseURL: p.BaseURL, KeyRef: p.Key,
				APIVersion: p.APIVersion, Timeout: time.Duration(p.Timeout),
				MaxTokensField: p.MaxTokensField, MaxRetries: -1,
			}
			if p.MaxRetries != nil {
				oc.MaxRetries = *p.MaxRetries
			}
			op, err := providers.NewOpenAI(oc, keys)
			if err != nil {
				errs = append(errs, fmt.Errorf("provider %s: %w", p.Name, err))
				continue
			}
			provs[p.Name] = op
		}
	}
	store, checkers, err := buildQuota(ctx, cfg, keys, log)
	if err != nil {
		errs = append(errs, err)
	}
	if a.vault != nil {
		checkers["vault"] = a.vault
	}
	fo := cfg.filterOptions()
	fo.Logger = log
	if ref := cfg.Filters.FingerprintKey; ref != "" && invalid == nil {
		kctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		key, err := keys.Key(kctx, ref)
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("filters.fingerprint_key: %w", err))
		}
		fo.FingerprintKey = []byte(key)
	}
	aud := &auditApp{}
	if invalid == nil {
		var qa broker.QuotaAdmin
		if store != nil {
			qa = store
		}
		ids := make([]string, 0, len(cfg.Servers))
		for _, s := range cfg.Servers {
			ids = append(ids, s.ID)
		}
		built, err := buildAudit(ctx, cfg.Audit, cfg.Quota.Redis, keys, qa, ids, os.Stdout, log)
		if err != nil {
			errs = append(errs, err)
		} else {
			aud = built
			a.audit = built
			if built.Chain != nil && checkers != nil {
				checkers["audit"] = built.Chain
			}
		}
	}
	tok, err := providers.NewTokenizer(providers.TokenizerOptions{Preload: providers.EncodingsOf(cfg.models())})
	if err != nil {
		errs = append(errs, err)
	}
	b, err := broker.New(cfg.servers(), cfg.models(), provs, broker.Options{
		Quota:         store,
		Counter:       tok,
		Scanner:       filters.New(fo),
		Checkers:      checkers,
		Audit:         aud.Sink,
		AuditFailOpen: aud.FailOpen,
		Limits: broker.Limits{
			MaxBodyBytes: cfg.Limits.MaxBodyBytes,
			MaxDepth:     cfg.Limits.MaxDepth,
			MaxMessages:  cfg.Limits.MaxMessages,
			MaxParts:     cfg.Limits.MaxParts,
			MaxTools:     cfg.Limits.MaxTools,
		},
		Logger: log,
	})
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		a.Close()
		return nil, err
	}
	a.broker, a.quota = b, store
	a.audit.Metrics.Registry().MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "airlock_settle_failures_total",
		Help: "Settlements the budget store did not take after retries; each request is charged its worst case when its hold expires.",
	}, func() float64 { return float64(b.SettleFailures()) }))
	return a, nil
}

// buildQuota returns the budget store: Redis when addresses are configured,
// else process memory.
func buildQuota(ctx context.Context, cfg *Config, keys broker.KeySource, log *slog.Logger) (*quota.Store, map[string]broker.Checker, error) {
	q := cfg.Quota
	opts := quota.Options{
		Global:   cfg.globalBudgets(),
		HoldTTL:  time.Duration(q.HoldTTL),
		Logger:   log,
		FailOpen: q.FailOpen,
	}
	if q.Zone != "" {
		loc, err := time.LoadLocation(q.Zone)
		if err != nil {
			return nil, nil, fmt.Errorf("quota.zone: %w", err)
		}
		opts.Location = loc
	}
	if len(q.Redis.Addrs) == 0 {
		return quota.NewMemory(cfg.limits(), opts), map[string]broker.Checker{}, nil
	}
	client, err := openRedis(ctx, q.Redis, keys)
	if err != nil {
		return nil, nil, fmt.Errorf("quota.redis: %w", err)
	}
	store := quota.NewRedis(client, cfg.limits(), quota.RedisOptions{Options: opts, Prefix: q.Redis.Prefix})
	return store, map[string]broker.Checker{"redis": store}, nil
}

func serverTLS(cfg *Config) (*tls.Config, error) {
	if cfg.TLS.CertFile == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(cfg.TLS.CertFile, cfg.TLS.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("tls: load certificate: %w", err)
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	if cfg.TLS.ClientCAFile != "" {
		pem, err := os.ReadFile(cfg.TLS.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("tls: read client CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, errors.New("tls: client_ca_file holds no PEM certificate")
		}
		c.ClientCAs = pool
		c.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return c, nil
}

// loopback reports whether addr only listens on a loopback interface.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func orDefault(d Duration, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return time.Duration(d)
}

func banner(w io.Writer, scheme, addr, devToken string, cfg *Config) {
	fmt.Fprintf(w, "Airlock %s listening on %s://%s\n", version, scheme, addr)
	if devToken == "" {
		return
	}
	model := cfg.Models[0].Name
	fmt.Fprintf(w, `
Running with embedded defaults (no config file): in-memory budgets, keys from the environment,
model %q. Development token for server "default" (valid until this process exits):

  %s

Try it:

  curl -s %s://%s/v1/sampling \
    -H 'Authorization: Bearer %s' \
    -H 'Content-Type: application/json' \
    -d '{"jsonrpc":"2.0","id":1,"method":"sampling/createMessage","params":{"messages":[{"role":"user","content":{"type":"text","text":"Hello, my e-mail is jane@example.com"}}],"maxTokens":100}}'

`, model, devToken, scheme, addr, devToken)
}
