package providers

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/vault/api"
)

// This file is the Vault client and its token: building the client from
// VaultConfig, logging in with each auth method, and keeping the token
// alive with the library's LifetimeWatcher.

// defaultJWTFile is where Kubernetes mounts a pod's service-account token.
const defaultJWTFile = "/var/run/secrets/kubernetes.io/serviceaccount/token"

func (a *VaultAuth) check(useEnv bool) error {
	var errs []error
	switch a.Method {
	case "token":
		env, file := strings.HasPrefix(a.Token, "env:"), strings.HasPrefix(a.Token, "file:")
		if !env && !file && (a.Token != "" || !useEnv) {
			// Whatever is there may be a pasted token: it is not repeated.
			errs = append(errs, errors.New("vault auth token must be a reference, env:NAME or file:/path, never a literal token"))
		}
	case "approle":
		a.Mount = orDefault(a.Mount, "approle")
		if a.RoleID == "" || a.SecretIDFile == "" {
			errs = append(errs, errors.New("vault approle auth needs role_id and secret_id_file"))
		}
	case "kubernetes":
		a.Mount = orDefault(a.Mount, "kubernetes")
		a.JWTFile = orDefault(a.JWTFile, defaultJWTFile)
		if a.Role == "" {
			errs = append(errs, errors.New("vault kubernetes auth needs a role"))
		}
	default:
		errs = append(errs, fmt.Errorf("vault auth method %q is not token, approle or kubernetes", a.Method))
	}
	a.Mount = strings.Trim(a.Mount, "/")
	return errors.Join(errs...)
}

// newVaultClient builds the client from cfg alone unless cfg.UseEnvironment.
// api.NewClient always applies VAULT_TOKEN, VAULT_NAMESPACE and
// VAULT_HEADERS to the client it returns, and api.DefaultConfig reads the
// other VAULT_* variables, so without UseEnvironment the config is built by
// hand and what NewClient took from the environment is undone. It returns
// the token NewClient found, for the token method under UseEnvironment.
func newVaultClient(cfg VaultConfig) (*api.Client, string, error) {
	var c *api.Config
	if cfg.UseEnvironment {
		c = api.DefaultConfig()
		if c.Error != nil {
			return nil, "", fmt.Errorf("vault config from the environment: %w", c.Error)
		}
		if cfg.Address != "" {
			c.Address = cfg.Address
		}
		if cfg.CACert != "" || cfg.TLSServerName != "" {
			if err := c.ConfigureTLS(&api.TLSConfig{CACert: cfg.CACert, TLSServerName: cfg.TLSServerName}); err != nil {
				return nil, "", fmt.Errorf("vault TLS config: %w", err)
			}
		}
		if tr, ok := c.HttpClient.Transport.(*http.Transport); ok && tr.TLSClientConfig != nil && tr.TLSClientConfig.InsecureSkipVerify {
			return nil, "", errors.New("vault: VAULT_SKIP_VERIFY is set; airlock refuses to skip TLS verification")
		}
	} else {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, ServerName: cfg.TLSServerName}
		if cfg.CACert != "" {
			pem, err := os.ReadFile(cfg.CACert)
			if err != nil {
				return nil, "", fmt.Errorf("vault CA certificate: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, "", fmt.Errorf("vault CA certificate %s: no PEM certificate in it", cfg.CACert)
			}
			tr.TLSClientConfig.RootCAs = pool
		}
		c = &api.Config{
			Address: cfg.Address,
			// Vault answers redirects itself when it needs to (standby
			// nodes); a redirect elsewhere must not carry the token.
			HttpClient: &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			}},
			MinRetryWait: 250 * time.Millisecond,
			MaxRetryWait: time.Second,
			MaxRetries:   1,
		}
	}
	c.Timeout = cfg.RequestTimeout
	c.CloneHeaders = true // login clones keep the namespace
	if cfg.wrapTransport != nil {
		c.HttpClient.Transport = cfg.wrapTransport(c.HttpClient.Transport)
	}
	addr := c.Address
	if c.AgentAddress != "" { // VAULT_AGENT_ADDR, which NewClient prefers
		addr = c.AgentAddress
	}
	if err := checkVaultAddress(addr); err != nil {
		return nil, "", err
	}
	client, err := api.NewClient(c)
	if err != nil {
		return nil, "", fmt.Errorf("vault client: %w", err)
	}
	envToken := client.Token()
	client.ClearToken()
	if !cfg.UseEnvironment {
		envToken = ""
		h := http.Header{}
		h.Set(api.RequestHeaderName, "true") // what NewClient sets, minus VAULT_HEADERS
		client.SetHeaders(h)
		client.ClearNamespace()
	}
	if cfg.Namespace != "" {
		client.SetNamespace(cfg.Namespace)
	}
	return client, envToken, nil
}

// checkVaultAddress refuses to send a token in clear text off the host.
func checkVaultAddress(addr string) error {
	u, err := url.Parse(addr)
	if err != nil || u.Host == "" && u.Scheme != "unix" {
		return fmt.Errorf("vault address %q is not a URL", addr)
	}
	switch u.Scheme {
	case "https", "unix":
		return nil
	case "http":
		if ip := net.ParseIP(u.Hostname()); u.Hostname() == "localhost" || ip != nil && ip.IsLoopback() {
			return nil
		}
		return fmt.Errorf("vault address %s: plain http is only allowed to a loopback address", u.Redacted())
	}
	return fmt.Errorf("vault address %s is not http(s)", u.Redacted())
}

// vaultAuthState is the current token and what logging in again needs.
type vaultAuthState struct {
	mu       sync.Mutex    // serializes logins
	gen      atomic.Uint64 // counts logins
	secret   *api.Secret   // of the last login, for the watcher
	relogged chan struct{} // tells the watcher a login happened elsewhere
	envToken string        // VAULT_TOKEN, under UseEnvironment

	// wrapped is the last response-wrapping token unwrapped to secretID.
	wrapped, secretID string
}

// reauth logs in again unless a login happened since the caller saw
// generation gen, and sets the new token. notify wakes the token watcher.
func (v *Vault) reauth(ctx context.Context, gen uint64, notify bool) error {
	a := &v.auth
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.gen.Load() != gen {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, v.cfg.RequestTimeout)
	defer cancel()
	s, err := v.login(ctx)
	if err != nil {
		return err
	}
	v.client.SetToken(s.Auth.ClientToken)
	a.secret = s
	a.gen.Add(1)
	v.log.Info("vault login", "method", v.cfg.Auth.Method, "ttl", (time.Duration(s.Auth.LeaseDuration) * time.Second).String(), "renewable", s.Auth.Renewable)
	if notify {
		select {
		case a.relogged <- struct{}{}:
		default:
		}
	}
	return nil
}

// login authenticates with the configured method and returns the token
// in an auth secret.
func (v *Vault) login(ctx context.Context) (*api.Secret, error) {
	lc, err := v.client.CloneWithHeaders() // no token: a login must not send a stale one
	if err != nil {
		return nil, fmt.Errorf("vault login: %w", err)
	}
	a := v.cfg.Auth
	switch a.Method {
	case "token":
		return v.loginToken(ctx, lc)
	case "approle":
		sid, err := v.secretID(ctx, lc)
		if err != nil {
			return nil, err
		}
		body := map[string]any{"role_id": a.RoleID, "secret_id": sid}
		return loginWrite(ctx, lc, "auth/"+a.Mount+"/login", body, a.RoleID, sid)
	default: // kubernetes
		jwt, err := readKeyFile(a.JWTFile)
		if err != nil || jwt == "" {
			return nil, fmt.Errorf("vault kubernetes login: service-account token %s: %w", a.JWTFile, orEmpty(err))
		}
		body := map[string]any{"role": a.Role, "jwt": jwt}
		return loginWrite(ctx, lc, "auth/"+a.Mount+"/login", body, jwt)
	}
}

func orEmpty(err error) error {
	if err == nil {
		return errors.New("file is empty")
	}
	return err
}

func loginWrite(ctx context.Context, lc *api.Client, path string, body map[string]any, secrets ...string) (*api.Secret, error) {
	s, err := lc.Logical().WriteWithContext(ctx, path, body)
	if err != nil {
		return nil, newVaultError("vault login at "+path, err, secrets...)
	}
	if s == nil || s.Auth == nil || s.Auth.ClientToken == "" {
		return nil, fmt.Errorf("vault login at %s: no token in the answer", path)
	}
	return s, nil
}

// loginToken reads the configured token and looks it up, for its TTL.
func (v *Vault) loginToken(ctx context.Context, lc *api.Client) (*api.Secret, error) {
	ref, token := v.cfg.Auth.Token, v.auth.envToken
	var err error
	switch {
	case strings.HasPrefix(ref, "env:"):
		token, err = (&Env{}).Key(ctx, ref)
	case strings.HasPrefix(ref, "file:"):
		token, err = (&File{}).Refresh(ctx, ref)
	case token == "":
		err = errors.New("VAULT_TOKEN is not set")
	}
	if err != nil {
		return nil, fmt.Errorf("vault token: %w", err)
	}
	lc.SetToken(token)
	s, err := lc.Auth().Token().LookupSelfWithContext(ctx)
	if err != nil {
		return nil, newVaultError("vault token "+ref+": look it up", err, token)
	}
	ttl, _ := s.TokenTTL()
	renewable, _ := s.TokenIsRenewable()
	return &api.Secret{Auth: &api.SecretAuth{
		ClientToken: token, Renewable: renewable, LeaseDuration: int(ttl / time.Second),
	}}, nil
}

// secretID reads the AppRole secret ID, unwrapping it if it is wrapped.
// Called with v.auth.mu held.
func (v *Vault) secretID(ctx context.Context, lc *api.Client) (string, error) {
	a := v.cfg.Auth
	raw, err := readKeyFile(a.SecretIDFile)
	if err != nil || raw == "" {
		return "", fmt.Errorf("vault approle secret ID %s: %w", a.SecretIDFile, orEmpty(err))
	}
	if !a.SecretIDWrapped {
		return raw, nil
	}
	if raw == v.auth.wrapped {
		return v.auth.secretID, nil // a wrapping token is good for one unwrap
	}
	// Check what was wrapped before unwrapping, so that a token wrapping
	// something else, maybe intercepted and re-wrapped, is refused.
	s, err := lc.Logical().WriteWithContext(ctx, "sys/wrapping/lookup", map[string]any{"token": raw})
	if err != nil {
		return "", newVaultError("vault approle: look up the wrapped secret ID from "+a.SecretIDFile, err, raw)
	}
	var path string
	if s != nil {
		path, _ = s.Data["creation_path"].(string)
	}
	if !strings.HasPrefix(path, "auth/"+a.Mount+"/role/") || !strings.HasSuffix(path, "/secret-id") {
		return "", fmt.Errorf("vault approle: %s does not wrap a secret ID of auth/%s (created at %q)", a.SecretIDFile, a.Mount, path)
	}
	s, err = lc.Logical().UnwrapWithContext(ctx, raw)
	if err != nil {
		return "", newVaultError("vault approle: unwrap the secret ID from "+a.SecretIDFile, err, raw)
	}
	var sid string
	if s != nil {
		sid, _ = s.Data["secret_id"].(string)
	}
	if sid == "" {
		return "", fmt.Errorf("vault approle: %s unwrapped to no secret ID", a.SecretIDFile)
	}
	v.auth.wrapped, v.auth.secretID = raw, sid
	return sid, nil
}

// tokenValid reports whether Vault still accepts the current token, to tell
// a revoked token from a policy that denies a path.
func (v *Vault) tokenValid(ctx context.Context) bool {
	_, err := v.client.Auth().Token().LookupSelfWithContext(ctx)
	return err == nil
}

// authLoop keeps a valid token: it renews the token with a LifetimeWatcher
// and logs in again when renewal is refused or the token reaches its
// maximum TTL, retrying with backoff while Vault cannot be reached.
func (v *Vault) authLoop() {
	defer v.wg.Done()
	for v.ctx.Err() == nil {
		v.auth.mu.Lock()
		s, gen := v.auth.secret, v.auth.gen.Load()
		v.auth.mu.Unlock()
		why := v.watchToken(s)
		if why == "" {
			continue
		}
		v.log.Info("vault token needs a new login", "reason", why)
		for backoff := time.Second; ; backoff = min(2*backoff, 30*time.Second) {
			err := v.reauth(v.ctx, gen, false)
			if err == nil || v.ctx.Err() != nil {
				break
			}
			v.log.Warn("vault login failed", "err", err, "retry_in", backoff.String())
			t := time.NewTimer(backoff)
			select {
			case <-v.ctx.Done():
			case <-t.C:
			}
			t.Stop()
		}
	}
}

// watchToken waits until s's token needs a new login and says why, or
// returns "" when Close was called or a login happened elsewhere.
func (v *Vault) watchToken(s *api.Secret) string {
	var (
		done    <-chan error
		renewed <-chan *api.RenewOutput
		expiry  <-chan time.Time
	)
	ttl := time.Duration(s.Auth.LeaseDuration) * time.Second
	switch {
	case ttl <= 0: // a token that never expires, such as a root token
	case s.Auth.Renewable:
		w, err := v.client.NewLifetimeWatcher(&api.LifetimeWatcherInput{
			Secret: s, RenewBehavior: api.RenewBehaviorErrorOnErrors,
		})
		if err != nil {
			return "cannot watch the token: " + err.Error()
		}
		v.wg.Add(1)
		go func() {
			defer v.wg.Done()
			w.Start()
		}()
		defer w.Stop()
		done, renewed = w.DoneCh(), w.RenewCh()
	default: // not renewable: log in again before it expires
		t := time.NewTimer(ttl * 2 / 3)
		defer t.Stop()
		expiry = t.C
	}
	for {
		select {
		case <-v.ctx.Done():
			return ""
		case <-v.auth.relogged:
			return ""
		case r := <-renewed:
			if r != nil && r.Secret != nil && r.Secret.Auth != nil {
				v.log.Debug("vault token renewed", "ttl", (time.Duration(r.Secret.Auth.LeaseDuration) * time.Second).String())
			}
		case err := <-done:
			if err != nil {
				return "renewal refused: " + newVaultError("renew token", err, s.Auth.ClientToken).Error()
			}
			return "token reached its maximum TTL"
		case <-expiry:
			return "token is not renewable and near its expiry"
		}
	}
}
