package providers

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
)

// The Vault tests run against a real Vault dev server (in-memory, unsealed,
// with a root token), built and cached by scripts/install-vault.sh; the
// Kubernetes test also needs the plugin that
// scripts/install-vault-k8s-plugin.sh builds. go test never builds them: it
// skips the Vault tests when they are missing.

// TestMain stops the Vault dev server the tests shared.
func TestMain(m *testing.M) {
	code := m.Run()
	if shared.vault != nil {
		shared.vault.stop()
	}
	os.Exit(code)
}

var shared struct {
	once  sync.Once
	vault *devVault
	err   error
}

const noVaultBin = "vault binary not found: run scripts/test.sh, which builds and caches it"

// vaultBin finds the vault binary: $AIRLOCK_TEST_VAULT_BIN, else the one
// install-vault.sh caches, asking the script only when it is there (the
// script returns at once then, and would build otherwise).
func vaultBin() (string, error) {
	if bin := os.Getenv("AIRLOCK_TEST_VAULT_BIN"); bin != "" {
		return bin, nil
	}
	dir := os.Getenv("VAULT_BIN_DIR")
	if dir == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			return "", errors.New(noVaultBin)
		}
		dir = filepath.Join(cache, "airlock", "vault-v1.21.1")
	}
	if _, err := os.Stat(filepath.Join(dir, "vault")); err != nil {
		return "", errors.New(noVaultBin)
	}
	out, err := exec.Command(filepath.Join("..", "scripts", "install-vault.sh")).Output()
	if err != nil {
		return "", fmt.Errorf("scripts/install-vault.sh: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// vaultPluginDir is the folder holding vault-plugin-auth-kubernetes, or "".
func vaultPluginDir(bin string) string {
	dir := os.Getenv("AIRLOCK_TEST_VAULT_PLUGIN_DIR")
	if dir == "" {
		dir = filepath.Join(filepath.Dir(bin), "plugins")
	}
	if _, err := os.Stat(filepath.Join(dir, k8sPlugin)); err != nil {
		return ""
	}
	return dir
}

const k8sPlugin = "vault-plugin-auth-kubernetes"

// devVault is a running `vault server -dev`.
type devVault struct {
	addr, rootToken, pluginDir string
	home                       string      // scratch HOME, removed by stop
	root                       *api.Client // with the root token
	cmd                        *exec.Cmd
	exited                     chan struct{}
	logFile                    string
}

// sharedVault returns the dev server most tests share; each test works
// under its own paths and mounts.
func sharedVault(t testing.TB) *devVault {
	t.Helper()
	shared.once.Do(func() { shared.vault, shared.err = startDevVault() })
	if shared.err != nil {
		if shared.err.Error() == noVaultBin {
			t.Skip(noVaultBin)
		}
		t.Fatal(shared.err)
	}
	return shared.vault
}

// ownVault starts a dev server for t alone, stopped when t ends.
func ownVault(t testing.TB) *devVault {
	t.Helper()
	dv, err := startDevVault()
	if err != nil {
		if err.Error() == noVaultBin {
			t.Skip(noVaultBin)
		}
		t.Fatal(err)
	}
	t.Cleanup(dv.stop)
	return dv
}

// startDevVault starts a dev server on a free loopback port, with a random
// root token, a scratch HOME and no VAULT_* variables, and waits until it
// is healthy.
func startDevVault() (*devVault, error) {
	bin, err := vaultBin()
	if err != nil {
		return nil, err
	}
	home, err := os.MkdirTemp("", "airlock-vault-")
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	hostport := l.Addr().String()
	l.Close()
	dv := &devVault{addr: "http://" + hostport, rootToken: rand.Text(), home: home, exited: make(chan struct{}),
		logFile: filepath.Join(home, "vault.log"), pluginDir: vaultPluginDir(bin)}
	args := []string{"server", "-dev", "-dev-root-token-id=" + dv.rootToken, "-dev-listen-address=" + hostport}
	if dv.pluginDir != "" {
		args = append(args, "-dev-plugin-dir="+dv.pluginDir)
	}
	logf, err := os.Create(dv.logFile)
	if err != nil {
		return nil, err
	}
	dv.cmd = exec.Command(bin, args...)
	dv.cmd.Dir, dv.cmd.Stdout, dv.cmd.Stderr = home, logf, logf
	dv.cmd.Env = []string{"HOME=" + home, "PATH=" + os.Getenv("PATH")}
	if err := dv.cmd.Start(); err != nil {
		os.RemoveAll(home)
		return nil, fmt.Errorf("start vault: %w", err)
	}
	go func() {
		dv.cmd.Wait()
		logf.Close()
		close(dv.exited)
	}()

	hc := &http.Client{Timeout: time.Second}
	for deadline := time.Now().Add(30 * time.Second); ; {
		resp, err := hc.Get(dv.addr + "/v1/sys/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case <-dv.exited:
			log, _ := os.ReadFile(dv.logFile)
			os.RemoveAll(home)
			return nil, fmt.Errorf("vault exited at start:\n%s", log)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(dv.logFile)
			dv.stop()
			return nil, fmt.Errorf("vault not healthy after 30s:\n%s", log)
		}
	}
	dv.root, err = api.NewClient(&api.Config{Address: dv.addr, HttpClient: &http.Client{}})
	if err != nil {
		dv.stop()
		return nil, err
	}
	dv.root.SetToken(dv.rootToken)
	dv.root.ClearNamespace()
	return dv, nil
}

// stop shuts the server down gracefully, so that it stops the plugin
// processes it started, or kills it after 10s.
func (dv *devVault) stop() {
	dv.cmd.Process.Signal(os.Interrupt)
	select {
	case <-dv.exited:
	case <-time.After(10 * time.Second):
		dv.cmd.Process.Kill()
		<-dv.exited
	}
	os.RemoveAll(dv.home)
}

// write writes data at path with the root token.
func (dv *devVault) write(t testing.TB, path string, data map[string]any) *api.Secret {
	t.Helper()
	s, err := dv.root.Logical().Write(path, data)
	if err != nil {
		t.Fatalf("vault write %s: %v", path, err)
	}
	return s
}

// putKV2 writes a new version of a KV v2 secret at mount/path.
func (dv *devVault) putKV2(t testing.TB, mount, path string, data map[string]any) {
	t.Helper()
	dv.write(t, mount+"/data/"+path, map[string]any{"data": data})
}

// enableAppRole enables AppRole at mount with a role that may read
// secret/data/<mount>/*, and returns its role ID.
func (dv *devVault) enableAppRole(t testing.TB, mount string, role map[string]any) string {
	t.Helper()
	dv.write(t, "sys/auth/"+mount, map[string]any{"type": "approle"})
	dv.policy(t, mount)
	role["token_policies"] = mount
	dv.write(t, "auth/"+mount+"/role/airlock", role)
	s, err := dv.root.Logical().Read("auth/" + mount + "/role/airlock/role-id")
	if err != nil {
		t.Fatal(err)
	}
	return s.Data["role_id"].(string)
}

// policy creates policy name, which may read secret/data/<name>/*.
func (dv *devVault) policy(t testing.TB, name string) {
	t.Helper()
	dv.write(t, "sys/policies/acl/"+name, map[string]any{
		"policy": fmt.Sprintf(`path "secret/data/%s/*" { capabilities = ["read"] }`, name),
	})
}

// secretID returns a new secret ID for mount's role, wrapped for a minute
// when wrapped.
func (dv *devVault) secretID(t testing.TB, mount string, wrapped bool) string {
	t.Helper()
	c, err := dv.root.Clone()
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken(dv.rootToken)
	if wrapped {
		c.SetWrappingLookupFunc(func(string, string) string { return "60s" })
	}
	s, err := c.Logical().Write("auth/"+mount+"/role/airlock/secret-id", nil)
	if err != nil {
		t.Fatal(err)
	}
	if wrapped {
		return s.WrapInfo.Token
	}
	return s.Data["secret_id"].(string)
}

// writeFile writes content to a new file in t's temp dir.
func writeFile(t testing.TB, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// syncBuffer collects log output from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testVault starts a Vault source on dv with cfg and a debug logger into
// the returned buffer, and closes it when t ends.
func testVault(t testing.TB, dv *devVault, cfg VaultConfig) (*Vault, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	cfg.Address = dv.addr
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg.RequestTimeout = orDefault(cfg.RequestTimeout, 5*time.Second)
	v, err := NewVault(context.Background(), cfg)
	if err != nil {
		t.Fatalf("NewVault: %v", err)
	}
	t.Cleanup(v.Close)
	return v, logs
}

// rootTokenAuth is token auth with dv's root token, from a file.
func rootTokenAuth(t testing.TB, dv *devVault) VaultAuth {
	return VaultAuth{Method: "token", Token: "file:" + writeFile(t, "token", dv.rootToken)}
}

// assertNoSecrets fails t if text holds any of secrets.
func assertNoSecrets(t testing.TB, where, text string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && strings.Contains(text, s) {
			t.Errorf("%s holds a secret (%.6s...):\n%s", where, s, text)
		}
	}
}

// eventually polls cond every 50ms for up to d.
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %s", what, d)
		}
		time.Sleep(50 * time.Millisecond)
		runtime.Gosched()
	}
}
