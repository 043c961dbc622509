package main

import (
	"crypto/rand"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
)

// defaultModels is the embedded price list of common OpenAI models, used
// when Airlock starts without a config file and OPENAI_API_KEY is set.
// Operators with a config file declare their own prices.
//
//go:embed openai_models.yaml
var defaultModels []byte

// defaultConfig is what `airlock serve` runs with no config file: loopback
// only, an in-memory quota, keys from the environment, and the echo model
// when no provider key is set. It returns the development token of the
// "default" server, which the banner prints.
func defaultConfig(getenv func(string) string) (*Config, string, error) {
	token := getenv("AIRLOCK_DEV_TOKEN")
	if token == "" {
		var b [24]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, "", err
		}
		token = "airlock-dev-" + hex.EncodeToString(b[:])
	}
	sum := sha256.Sum256([]byte(token))
	c := &Config{Listen: "127.0.0.1:8080", Log: LogConfig{Format: "text"}}
	srv := ServerConf{ID: "default", TokenSHA256: []string{hex.EncodeToString(sum[:])}, MaxTokens: 4096}
	if getenv("OPENAI_API_KEY") != "" {
		models, err := parseConfig(defaultModels)
		if err != nil {
			return nil, "", fmt.Errorf("embedded model list: %w", err)
		}
		c.Providers = []ProviderConf{{Name: "openai", Kind: "openai", BaseURL: "https://api.openai.com/v1", Key: "env:OPENAI_API_KEY"}}
		c.Models = models.Models
		for _, m := range c.Models {
			srv.Models = append(srv.Models, m.Name)
		}
	} else {
		zero := Price(0)
		c.Providers = []ProviderConf{{Name: "echo", Kind: "echo"}}
		c.Models = []ModelConf{{Name: "echo", Provider: "echo", InputPrice: &zero, OutputPrice: &zero, Speed: 1}}
		srv.Models = []string{"echo"}
	}
	c.Servers = []ServerConf{srv}
	return c, token, nil
}
