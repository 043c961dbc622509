package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/airlock-broker/airlock/broker"
	"github.com/airlock-broker/airlock/filters"
)

// scanCmd runs the input filters over standard input under a server's
// policy and prints every finding and the sanitized text as JSON. Nothing
// is sent anywhere: it is how operators try and tune policies.
func scanCmd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("scan", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: airlock scan [-config airlock.yaml] [-server ID] < prompt

Reads a prompt on standard input: plain text, or a sampling/createMessage request as JSON
(the JSON-RPC request or its params). Prints, as JSON, every finding and what the model
would receive, under the server's filter policy (the default policy without -server).
`)
	}
	configPath := fs.String("config", getenv("AIRLOCK_CONFIG"), "YAML config file (env AIRLOCK_CONFIG); none uses the default policy")
	server := fs.String("server", "", "server whose policy applies")
	if err := fs.Parse(args); err != nil {
		return err
	}
	opts := filters.Options{}
	if *configPath != "" {
		cfg, err := loadConfig(*configPath)
		if err != nil {
			return err
		}
		opts = cfg.filterOptions()
		if err := opts.Validate(); err != nil {
			return fmt.Errorf("filters: %w", err)
		}
		if *server != "" && cfg.server(*server) == nil {
			return fmt.Errorf("no server %q in %s", *server, *configPath)
		}
	}
	in, err := io.ReadAll(io.LimitReader(stdin, 16<<20))
	if err != nil {
		return fmt.Errorf("read standard input: %w", err)
	}
	sc := filters.New(opts)
	out := struct {
		Server    string           `json:"server,omitempty"`
		Blocked   broker.Reason    `json:"blocked,omitempty"`
		Message   string           `json:"message,omitempty"`
		Findings  []broker.Finding `json:"findings"`
		Sanitized any              `json:"sanitized"`
	}{Server: *server, Findings: []broker.Finding{}}

	if p, ok := samplingParams(in); ok {
		sess, err := sc.Input(ctx, *server, p)
		if sess != nil {
			out.Findings = append(out.Findings, sess.Findings()...)
		}
		if err != nil {
			e := broker.AsError(err)
			out.Blocked, out.Message = e.Reason, e.Msg
		}
		out.Sanitized = p
	} else {
		text, findings := sc.ScanText(*server, string(in))
		out.Findings = append(out.Findings, findings...)
		out.Sanitized = text
		for _, f := range findings {
			if f.Action != "block" {
				continue
			}
			out.Blocked = broker.ReasonContentBlocked
			if f.Type == filters.TypeInjection {
				out.Blocked = broker.ReasonInjectionDetected
				break
			}
		}
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(out)
}

// samplingParams reads in as a JSON-RPC sampling request or bare params.
func samplingParams(in []byte) (*broker.CreateMessageParams, bool) {
	trimmed := bytes.TrimSpace(in)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, false
	}
	var env struct {
		Params json.RawMessage `json:"params"`
	}
	if json.Unmarshal(trimmed, &env) == nil && len(env.Params) > 0 {
		trimmed = env.Params
	}
	if !strings.Contains(string(trimmed), `"messages"`) {
		return nil, false
	}
	var p broker.CreateMessageParams
	if json.Unmarshal(trimmed, &p) != nil {
		return nil, false
	}
	return &p, true
}
