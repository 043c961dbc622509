package providers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// This file is the KV side of the Vault key source: parsing "vault:"
// references, finding a path's KV mount and version, and reading a field.

// vaultRef is a parsed "vault:" key reference.
type vaultRef struct {
	path    string // secret path including its mount, e.g. "secret/llm/openai"
	field   string
	version int // 0 for the latest
}

// parseVaultRef parses "vault:PATH#FIELD[@VERSION]", as documented on
// Vault. The last @ of FIELD starts the version, so a field whose name
// holds an @ can only be referred to with a pinned version.
func parseVaultRef(ref string) (vaultRef, error) {
	rest, ok := strings.CutPrefix(ref, "vault:")
	if !ok {
		return vaultRef{}, errors.New("not a vault: reference")
	}
	path, field, ok := strings.Cut(rest, "#")
	if !ok || field == "" {
		return vaultRef{}, errors.New("vault reference needs a #field, as in vault:secret/llm/openai#api_key")
	}
	var r vaultRef
	if i := strings.LastIndexByte(field, '@'); i >= 0 {
		n, err := strconv.Atoi(field[i+1:])
		if err != nil || n <= 0 || strings.HasPrefix(field[i+1:], "+") {
			return vaultRef{}, errors.New("vault reference version after @ must be a positive integer")
		}
		field, r.version = field[:i], n
	}
	path = strings.Trim(path, "/")
	if path == "" || field == "" || strings.Contains(path, "?") || strings.Contains(path, "//") ||
		strings.Contains("/"+path+"/", "/../") || strings.Contains("/"+path+"/", "/./") {
		return vaultRef{}, errors.New("vault reference is not vault:MOUNT/PATH#FIELD[@VERSION]")
	}
	r.path, r.field = path, field
	return r, nil
}

// kvMount is a KV engine mount: its path with a trailing slash, and version.
type kvMount struct {
	path    string
	version int
}

// read reads ref's key from Vault. A refused token is replaced by a new
// login and the read tried again, once.
func (v *Vault) read(ctx context.Context, ref string) (vaultEntry, error) {
	r, err := parseVaultRef(ref)
	if err != nil {
		return vaultEntry{}, err
	}
	gen := v.auth.gen.Load()
	e, err := v.readKV(ctx, r)
	var ve *vaultError
	if errors.As(err, &ve) && ve.Status == http.StatusForbidden && !v.tokenValid(ctx) {
		if lerr := v.reauth(ctx, gen, true); lerr != nil {
			return vaultEntry{}, errors.Join(err, lerr)
		}
		e, err = v.readKV(ctx, r)
	}
	return e, err
}

func (v *Vault) readKV(ctx context.Context, r vaultRef) (vaultEntry, error) {
	m, err := v.mount(ctx, r.path)
	if err != nil {
		return vaultEntry{}, err
	}
	path := r.path
	var query url.Values
	if m.version == 2 {
		path = m.path + "data/" + strings.TrimPrefix(r.path, m.path)
		if r.version > 0 {
			query = url.Values{"version": {strconv.Itoa(r.version)}}
		}
	} else if r.version > 0 {
		return vaultEntry{}, fmt.Errorf("read %s: version %d is pinned but %s is a KV v1 mount", r.path, r.version, m.path)
	}
	s, err := v.client.Logical().ReadWithDataWithContext(ctx, path, query)
	if err != nil {
		v.forgetMount(r.path)
		return vaultEntry{}, newVaultError("read "+path, err)
	}
	if s == nil || s.Data == nil {
		v.forgetMount(r.path)
		if r.version > 0 {
			return vaultEntry{}, fmt.Errorf("read %s: no version %d of a secret there", path, r.version)
		}
		return vaultEntry{}, fmt.Errorf("read %s: no secret there", path)
	}
	data, e := s.Data, vaultEntry{}
	if m.version == 2 {
		data, _ = s.Data["data"].(map[string]any)
		if meta, ok := s.Data["metadata"].(map[string]any); ok {
			if n, ok := meta["version"].(json.Number); ok {
				ver, _ := n.Int64()
				e.version = int(ver)
			}
		}
		if data == nil {
			return vaultEntry{}, fmt.Errorf("read %s: version %d is deleted or destroyed", path, e.version)
		}
	}
	raw, ok := data[r.field]
	if !ok {
		return vaultEntry{}, fmt.Errorf("read %s: no field %q in the secret", path, r.field)
	}
	key, ok := raw.(string)
	if !ok {
		return vaultEntry{}, fmt.Errorf("read %s: field %q is not a string", path, r.field)
	}
	if e.key = strings.TrimSpace(key); e.key == "" {
		return vaultEntry{}, fmt.Errorf("read %s: field %q is empty", path, r.field)
	}
	return e, nil
}

// mount returns the KV mount that holds path: detected once per path, or
// its first segment at the configured version.
func (v *Vault) mount(ctx context.Context, path string) (kvMount, error) {
	if v.cfg.KVVersion != 0 {
		first, _, _ := strings.Cut(path, "/")
		return kvMount{path: first + "/", version: v.cfg.KVVersion}, nil
	}
	v.fmu.Lock()
	m, ok := v.mounts[path]
	v.fmu.Unlock()
	if ok {
		return m, nil
	}
	s, err := v.client.Logical().ReadWithContext(ctx, "sys/internal/ui/mounts/"+path)
	if err != nil {
		return kvMount{}, newVaultError("find the mount of "+path, err)
	}
	if s == nil || s.Data == nil {
		return kvMount{}, fmt.Errorf("find the mount of %s: no mount there", path)
	}
	m.path, _ = s.Data["path"].(string)
	typ, _ := s.Data["type"].(string)
	if typ != "kv" && typ != "generic" || m.path == "" || !strings.HasPrefix(path, m.path) {
		return kvMount{}, fmt.Errorf("find the mount of %s: %q is not a KV mount", path, m.path)
	}
	m.version = 1
	if opts, ok := s.Data["options"].(map[string]any); ok && opts["version"] == "2" {
		m.version = 2
	}
	v.fmu.Lock()
	v.mounts[path] = m
	v.fmu.Unlock()
	return m, nil
}

func (v *Vault) forgetMount(path string) {
	v.fmu.Lock()
	delete(v.mounts, path)
	v.fmu.Unlock()
}
