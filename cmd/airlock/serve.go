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

	"github.com/airlock-broker/airlock/broker"
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

	b, err := build(cfg, getenv, log)
	if err != nil {
		return fmt.Errorf("invalid configuration:\n%w", err)
	}
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
		Handler: b.Handler(broker.HTTPOptions{
			MaxInFlight:  cfg.Limits.MaxInFlight,
			AuthFailures: cfg.Limits.AuthFailuresPerMinute,
			AuthWindow:   time.Minute,
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
func build(cfg *Config, getenv func(string) string, log *slog.Logger) (*broker.Broker, error) {
	errs := []error{cfg.validate()}
	keys := providers.Keys{
		"env":  &providers.Env{LookupEnv: func(k string) (string, bool) { v := getenv(k); return v, v != "" }},
		"file": &providers.File{},
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
	limits := map[string]quota.Limit{}
	for _, s := range cfg.Servers {
		var l quota.Limit
		if s.Budget.USD != nil {
			l.MicroUSD = int64(*s.Budget.USD)
		}
		l.Tokens = s.Budget.Tokens
		limits[s.ID] = l
	}
	b, err := broker.New(cfg.servers(), cfg.models(), provs, broker.Options{
		Quota: quota.NewMemory(limits, quota.MemoryOptions{}),
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
		return nil, err
	}
	return b, nil
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
