package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/airlock-broker/airlock/broker"
	"github.com/airlock-broker/airlock/filters"
)

// Config is the YAML configuration file. Field names are the YAML keys.
type Config struct {
	Listen              string         `yaml:"listen"`
	AllowInsecureListen bool           `yaml:"allow_insecure_listen"`
	TLS                 TLSConfig      `yaml:"tls"`
	Log                 LogConfig      `yaml:"log"`
	Limits              LimitsConfig   `yaml:"limits"`
	Timeouts            TimeoutsConfig `yaml:"timeouts"`
	Providers           []ProviderConf `yaml:"providers"`
	Models              []ModelConf    `yaml:"models"`
	Servers             []ServerConf   `yaml:"servers"`
	Quota               QuotaConf      `yaml:"quota"`
	Admin               AdminConf      `yaml:"admin"`
	Vault               *VaultConf     `yaml:"vault"`
	Filters             FiltersConf    `yaml:"filters"`
	Audit               AuditConf      `yaml:"audit"`
	Metrics             MetricsConf    `yaml:"metrics"`
}

// FiltersConf configures the scanners: the policy of servers that have
// none of their own, and the key of findings' fingerprints.
type FiltersConf struct {
	DefaultPolicy filters.Policy `yaml:"default_policy"`
	// FingerprintKey is a reference (vault:, env:, file:) to a secret that
	// keys the HMAC of findings' fingerprints, so that equal values stay
	// correlatable across restarts and replicas. Default: random per process.
	FingerprintKey string `yaml:"fingerprint_key"`
}

// filterOptions returns the scanner options of the config.
func (c *Config) filterOptions() filters.Options {
	o := filters.Options{Default: c.Filters.DefaultPolicy, Policies: map[string]filters.Policy{}}
	for _, s := range c.Servers {
		if s.Filters != nil {
			o.Policies[s.ID] = *s.Filters
		}
	}
	return o
}

// VaultConf connects to HashiCorp Vault, which then serves vault: key
// references. See providers.VaultConfig for each field.
type VaultConf struct {
	Address        string        `yaml:"address"` // env AIRLOCK_VAULT_ADDR
	Namespace      string        `yaml:"namespace"`
	CACert         string        `yaml:"ca_cert"`
	TLSServerName  string        `yaml:"tls_server_name"`
	UseEnvironment bool          `yaml:"use_environment"`
	KVVersion      int           `yaml:"kv_version"`
	CacheTTL       Duration      `yaml:"cache_ttl"`
	MaxStale       Duration      `yaml:"max_stale"`
	RequestTimeout Duration      `yaml:"request_timeout"`
	Auth           VaultAuthConf `yaml:"auth"`
}

// VaultAuthConf is how Airlock logs in to Vault.
type VaultAuthConf struct {
	Method          string `yaml:"method"` // token, approle, kubernetes
	Mount           string `yaml:"mount"`
	Token           string `yaml:"token"` // a reference: env:NAME or file:/path
	RoleID          string `yaml:"role_id"`
	SecretIDFile    string `yaml:"secret_id_file"`
	SecretIDWrapped bool   `yaml:"secret_id_wrapped"`
	Role            string `yaml:"role"`
	JWTFile         string `yaml:"jwt_file"`
}

// QuotaConf selects the budget store. Without redis addresses budgets live
// in process memory (exact, but per process and lost at exit).
type QuotaConf struct {
	Redis RedisConf `yaml:"redis"`
	// Zone is the IANA time zone calendar periods start in; default UTC.
	Zone string `yaml:"zone"`
	// HoldTTL is how long an unsettled reservation holds its amount before
	// it is charged in full; it must outlast the slowest request. Default 10m.
	HoldTTL Duration `yaml:"hold_ttl"`
	// Global budgets cap all servers together.
	Global []BudgetConf `yaml:"global_budgets"`
	// FailOpen serves requests unmetered when Redis is down, logging each;
	// off by default: Airlock fails closed.
	FailOpen bool `yaml:"fail_open"`
}

// RedisConf connects to Redis: one address for a single node, several for
// a cluster, or sentinels with master_name.
type RedisConf struct {
	Addrs      []string `yaml:"addrs"` // env AIRLOCK_REDIS_ADDRS, comma-separated
	MasterName string   `yaml:"master_name"`
	Username   string   `yaml:"username"`
	Password   string   `yaml:"password"` // a reference: env:NAME or file:/path
	DB         int      `yaml:"db"`
	TLS        bool     `yaml:"tls"`
	Prefix     string   `yaml:"prefix"`
}

// AdminConf enables the admin API under /admin/v1/.
type AdminConf struct {
	TokenSHA256 []string `yaml:"token_sha256"`
}

// TLSConfig enables HTTPS, and mTLS when ClientCAFile is set.
type TLSConfig struct {
	CertFile     string `yaml:"cert_file"`
	KeyFile      string `yaml:"key_file"`
	ClientCAFile string `yaml:"client_ca_file"`
}

// LogConfig selects the log format ("json" or "text") and level.
type LogConfig struct {
	Format string `yaml:"format"`
	Level  string `yaml:"level"`
}

// LimitsConfig caps request sizes and concurrency.
type LimitsConfig struct {
	MaxBodyBytes          int64 `yaml:"max_body_bytes"`
	MaxDepth              int   `yaml:"max_depth"`
	MaxMessages           int   `yaml:"max_messages"`
	MaxParts              int   `yaml:"max_parts"`
	MaxTools              int   `yaml:"max_tools"`
	MaxInFlight           int   `yaml:"max_in_flight"`
	AuthFailuresPerMinute int   `yaml:"auth_failures_per_minute"`
}

// TimeoutsConfig sets the HTTP server's timeouts.
type TimeoutsConfig struct {
	ReadHeader Duration `yaml:"read_header"`
	Read       Duration `yaml:"read"`
	Write      Duration `yaml:"write"`
	Idle       Duration `yaml:"idle"`
	Shutdown   Duration `yaml:"shutdown"`
}

// ProviderConf declares an LLM upstream.
type ProviderConf struct {
	Name           string   `yaml:"name"`
	Kind           string   `yaml:"kind"` // openai, azure, echo
	BaseURL        string   `yaml:"base_url"`
	Key            string   `yaml:"key"` // a key reference: env:NAME or file:/path
	APIVersion     string   `yaml:"api_version"`
	Timeout        Duration `yaml:"timeout"`
	MaxRetries     *int     `yaml:"max_retries"`
	MaxTokensField string   `yaml:"max_tokens_field"`
}

// ModelConf declares a model. Prices are USD per million tokens, written as
// decimals ("0.15") and held as integer micro-dollars.
type ModelConf struct {
	Name             string  `yaml:"name"`
	Provider         string  `yaml:"provider"`
	Upstream         string  `yaml:"upstream"`
	InputPrice       *Price  `yaml:"input_price"`
	CachedInputPrice *Price  `yaml:"cached_input_price"`
	OutputPrice      *Price  `yaml:"output_price"`
	Speed            float64 `yaml:"speed"`
	Intelligence     float64 `yaml:"intelligence"`
	Encoding         string  `yaml:"encoding"`
	MaxOutputTokens  int64   `yaml:"max_output_tokens"`
}

// ServerConf declares an MCP server that may sample, and its policy.
type ServerConf struct {
	ID               string          `yaml:"id"`
	TokenSHA256      []string        `yaml:"token_sha256"`
	Models           []string        `yaml:"models"`
	DefaultModel     string          `yaml:"default_model"`
	RequireHintMatch bool            `yaml:"require_hint_match"`
	MaxTokens        int64           `yaml:"max_tokens"`
	IncludeContext   []string        `yaml:"include_context"`
	AllowImages      bool            `yaml:"allow_images"`
	AllowAudio       bool            `yaml:"allow_audio"`
	AllowTools       bool            `yaml:"allow_tools"`
	SystemPrompt     SystemPrompt    `yaml:"system_prompt"`
	MaxInFlight      int             `yaml:"max_in_flight"`
	Key              string          `yaml:"key"`
	Filters          *filters.Policy `yaml:"filters"` // default: filters.default_policy
	Budgets          []BudgetConf    `yaml:"budgets"`
	RequestsPerMin   int64           `yaml:"requests_per_minute"`
	TokensPerMin     int64           `yaml:"tokens_per_minute"`
	// AuditText records the sanitized prompt and response in the audit
	// trail; off by default.
	AuditText bool `yaml:"audit_text"`
}

// SystemPrompt is the operator's system prompt policy.
type SystemPrompt struct {
	Mode string `yaml:"mode"` // keep, replace, prepend
	Text string `yaml:"text"`
}

// BudgetConf is a budget for one period; absent amounts are unlimited.
type BudgetConf struct {
	Period string `yaml:"period"` // day, week, month, lifetime
	USD    *Price `yaml:"usd"`
	Tokens int64  `yaml:"tokens"`
}

func (b BudgetConf) budget() broker.Budget {
	out := broker.Budget{Period: b.Period, Tokens: b.Tokens}
	if b.USD != nil {
		out.MicroUSD = int64(*b.USD)
	}
	return out
}

// limits returns the configured limits of every server.
func (c *Config) limits() map[string]broker.ServerLimits {
	out := make(map[string]broker.ServerLimits, len(c.Servers))
	for _, s := range c.Servers {
		l := broker.ServerLimits{RequestsPerMinute: s.RequestsPerMin, TokensPerMinute: s.TokensPerMin}
		for _, b := range s.Budgets {
			l.Budgets = append(l.Budgets, b.budget())
		}
		out[s.ID] = l
	}
	return out
}

func (c *Config) globalBudgets() []broker.Budget {
	var out []broker.Budget
	for _, b := range c.Quota.Global {
		out = append(out, b.budget())
	}
	return out
}

// Duration is a time.Duration written as "30s" in YAML.
type Duration time.Duration

// UnmarshalYAML parses a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration like 30s", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// Price is an amount of US dollars held as integer micro-dollars. It is
// parsed from the YAML literal text, so "0.15" is exactly 150000.
type Price int64

// UnmarshalYAML parses a non-negative decimal with at most 6 decimals.
func (p *Price) UnmarshalYAML(n *yaml.Node) error {
	v, err := parseMicro(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*p = Price(v)
	return nil
}

func parseMicro(s string) (int64, error) {
	r, ok := new(big.Rat).SetString(strings.TrimSpace(s))
	if !ok || r.Sign() < 0 {
		return 0, fmt.Errorf("%q is not a non-negative decimal amount", s)
	}
	r.Mul(r, big.NewRat(1_000_000, 1))
	if !r.IsInt() || !r.Num().IsInt64() {
		return 0, fmt.Errorf("%q has more than 6 decimals or is too large", s)
	}
	return r.Num().Int64(), nil
}

// loadConfig reads path strictly: unknown keys are errors, so a typo in a
// policy cannot silently loosen it.
func loadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return parseConfig(data)
}

func parseConfig(data []byte) (*Config, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var c Config
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("parse config: %w", err)
	}
	return &c, nil
}

// applyEnv overrides addresses and secret references from the environment:
// AIRLOCK_LISTEN, and AIRLOCK_PROVIDER_<NAME>_BASE_URL / _KEY where NAME is
// the provider name upper-cased with non-alphanumerics as underscores.
func (c *Config) applyEnv(getenv func(string) string) {
	if v := getenv("AIRLOCK_LISTEN"); v != "" {
		c.Listen = v
	}
	if v := getenv("AIRLOCK_VAULT_ADDR"); v != "" && c.Vault != nil {
		c.Vault.Address = v
	}
	if v := getenv("AIRLOCK_REDIS_ADDRS"); v != "" {
		c.Quota.Redis.Addrs = strings.Split(v, ",")
	}
	if v := getenv("AIRLOCK_REDIS_PASSWORD"); v != "" {
		c.Quota.Redis.Password = v
	}
	for i := range c.Providers {
		p := &c.Providers[i]
		prefix := "AIRLOCK_PROVIDER_" + envName(p.Name) + "_"
		if v := getenv(prefix + "BASE_URL"); v != "" {
			p.BaseURL = v
		}
		if v := getenv(prefix + "KEY"); v != "" {
			p.Key = v
		}
	}
}

func envName(s string) string {
	b := []byte(strings.ToUpper(s))
	for i, c := range b {
		if !('A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			b[i] = '_'
		}
	}
	return string(b)
}

// validate reports every problem of the file-level settings; the broker
// reports those of models, servers and policies.
func (c *Config) validate() error {
	var errs []error
	if c.Listen == "" {
		errs = append(errs, errors.New("listen: address is required"))
	} else if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		errs = append(errs, fmt.Errorf("listen: %q is not host:port", c.Listen))
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		errs = append(errs, errors.New("tls: cert_file and key_file go together"))
	}
	if c.TLS.ClientCAFile != "" && c.TLS.CertFile == "" {
		errs = append(errs, errors.New("tls: client_ca_file (mTLS) needs cert_file and key_file"))
	}
	switch c.Log.Format {
	case "", "json", "text":
	default:
		errs = append(errs, fmt.Errorf("log.format: %q is not json or text", c.Log.Format))
	}
	switch strings.ToLower(c.Log.Level) {
	case "", "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log.level: %q is not debug, info, warn or error", c.Log.Level))
	}
	names := map[string]bool{}
	for i, p := range c.Providers {
		at := fmt.Sprintf("providers[%d] %s", i, p.Name)
		switch {
		case p.Name == "":
			errs = append(errs, fmt.Errorf("providers[%d]: name is required", i))
		case names[p.Name]:
			errs = append(errs, fmt.Errorf("%s: defined twice", at))
		}
		names[p.Name] = true
		switch p.Kind {
		case "echo":
		case "openai", "azure":
			if p.Key == "" {
				errs = append(errs, fmt.Errorf("%s: key reference is required (vault:PATH#FIELD, env:NAME or file:/path)", at))
			} else if err := c.checkRef(p.Key); err != nil {
				errs = append(errs, fmt.Errorf("%s: key: %w", at, err))
			}
			if p.Kind == "azure" && (p.BaseURL == "" || p.APIVersion == "") {
				errs = append(errs, fmt.Errorf("%s: azure needs base_url and api_version", at))
			}
		default:
			errs = append(errs, fmt.Errorf("%s: kind %q is not openai, azure or echo", at, p.Kind))
		}
		switch p.MaxTokensField {
		case "", "max_tokens", "max_completion_tokens":
		default:
			errs = append(errs, fmt.Errorf("%s: max_tokens_field must be max_tokens or max_completion_tokens", at))
		}
	}
	for i, m := range c.Models {
		at := fmt.Sprintf("models[%d] %s", i, m.Name)
		if m.InputPrice == nil || m.OutputPrice == nil {
			// A model without a price could not be metered: refuse it.
			errs = append(errs, fmt.Errorf("%s: input_price and output_price are required", at))
		}
		if m.Speed < 0 || m.Speed > 1 || m.Intelligence < 0 || m.Intelligence > 1 {
			errs = append(errs, fmt.Errorf("%s: speed and intelligence must be between 0 and 1", at))
		}
	}
	for i, s := range c.Servers {
		for j, h := range s.TokenSHA256 {
			if b, err := hex.DecodeString(h); err != nil || len(b) != sha256.Size {
				errs = append(errs, fmt.Errorf("servers[%d] %s: token_sha256[%d] is not a hex SHA-256", i, s.ID, j))
			}
		}
		if s.Key != "" {
			if err := c.checkRef(s.Key); err != nil {
				errs = append(errs, fmt.Errorf("servers[%d] %s: key: %w", i, s.ID, err))
			}
		}
		if err := broker.ValidateLimits(c.limits()[s.ID]); err != nil {
			errs = append(errs, fmt.Errorf("servers[%d] %s: %w", i, s.ID, err))
		}
	}
	if err := broker.ValidateLimits(broker.ServerLimits{Budgets: c.globalBudgets()}); err != nil {
		errs = append(errs, fmt.Errorf("quota.global_budgets: %w", err))
	}
	fo := c.filterOptions()
	if err := fo.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("filters: %w", err))
	}
	if k := c.Filters.FingerprintKey; k != "" {
		if err := c.checkRef(k); err != nil {
			errs = append(errs, fmt.Errorf("filters.fingerprint_key: %w", err))
		}
	}
	if c.Quota.Zone != "" {
		if _, err := time.LoadLocation(c.Quota.Zone); err != nil {
			errs = append(errs, fmt.Errorf("quota.zone: unknown time zone %q", c.Quota.Zone))
		}
	}
	if p := c.Quota.Redis.Password; p != "" && !strings.HasPrefix(p, "env:") && !strings.HasPrefix(p, "file:") {
		errs = append(errs, errors.New("quota.redis.password must be a reference (env:NAME or file:/path), never the password itself"))
	}
	if err := c.Audit.validate(c.checkRef); err != nil {
		errs = append(errs, err)
	}
	if l := c.Metrics.Listen; l != "" {
		if _, _, err := net.SplitHostPort(l); err != nil {
			errs = append(errs, fmt.Errorf("metrics.listen: %q is not host:port", l))
		}
	}
	for j, h := range c.Admin.TokenSHA256 {
		if b, err := hex.DecodeString(h); err != nil || len(b) != sha256.Size {
			errs = append(errs, fmt.Errorf("admin.token_sha256[%d] is not a hex SHA-256", j))
		}
	}
	return errors.Join(errs...)
}

// checkRef reports whether ref is a key reference this config can resolve.
// It never repeats ref: a pasted key must not reach an error message.
func (c *Config) checkRef(ref string) error {
	switch {
	case strings.HasPrefix(ref, "env:"), strings.HasPrefix(ref, "file:"):
		return nil
	case strings.HasPrefix(ref, "vault:"):
		if c.Vault == nil {
			return errors.New("a vault: reference needs a vault section")
		}
		return nil
	}
	return errors.New("must be a reference (vault:PATH#FIELD, env:NAME or file:/path), never the key itself")
}

// models converts the model declarations.
func (c *Config) models() []broker.Model {
	out := make([]broker.Model, 0, len(c.Models))
	for _, m := range c.Models {
		bm := broker.Model{
			Name: m.Name, Provider: m.Provider, Upstream: m.Upstream,
			Speed: m.Speed, Intelligence: m.Intelligence,
			Encoding: m.Encoding, MaxOutputTokens: m.MaxOutputTokens,
		}
		if bm.Upstream == "" {
			bm.Upstream = m.Name
		}
		if m.InputPrice != nil {
			bm.InputPrice = int64(*m.InputPrice)
		}
		if m.CachedInputPrice != nil {
			bm.CachedInputPrice = int64(*m.CachedInputPrice)
		}
		if m.OutputPrice != nil {
			bm.OutputPrice = int64(*m.OutputPrice)
		}
		out = append(out, bm)
	}
	return out
}

// servers converts the server declarations; validate has checked the hashes.
func (c *Config) servers() []*broker.Server {
	out := make([]*broker.Server, 0, len(c.Servers))
	for _, s := range c.Servers {
		bs := &broker.Server{ID: s.ID, Policy: broker.Policy{
			Models: s.Models, DefaultModel: s.DefaultModel, RequireHintMatch: s.RequireHintMatch,
			MaxTokens: s.MaxTokens, IncludeContext: s.IncludeContext,
			AllowImages: s.AllowImages, AllowAudio: s.AllowAudio, AllowTools: s.AllowTools,
			SystemPromptMode: s.SystemPrompt.Mode, SystemPrompt: s.SystemPrompt.Text,
			MaxInFlight: s.MaxInFlight, KeyRef: s.Key, AuditText: s.AuditText,
		}}
		bs.TokenHashes = hashes(s.TokenSHA256)
		out = append(out, bs)
	}
	return out
}

// hashes decodes hex SHA-256 hashes; validate has reported bad ones.
func hashes(hexes []string) [][sha256.Size]byte {
	var out [][sha256.Size]byte
	for _, h := range hexes {
		var sum [sha256.Size]byte
		if b, err := hex.DecodeString(h); err == nil && len(b) == sha256.Size {
			copy(sum[:], b)
			out = append(out, sum)
		}
	}
	return out
}

// server returns the declaration of server id, or nil.
func (c *Config) server(id string) *ServerConf {
	for i := range c.Servers {
		if c.Servers[i].ID == id {
			return &c.Servers[i]
		}
	}
	return nil
}
