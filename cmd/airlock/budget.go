package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/airlock-broker/airlock/broker"
)

const budgetUsage = `usage:
  airlock budget get    -server ID
  airlock budget set    -server ID [-budget PERIOD:USD[:TOKENS]]... [-rpm N] [-tpm N]
  airlock budget delete -server ID          (back to the configured limits)
  airlock budget usage  -server ID [-history N]

PERIOD is day, week, month or lifetime; USD an exact decimal ("5.00", or "-" for none).
Common flags: -url (env AIRLOCK_URL, default http://127.0.0.1:8080); the admin token is
read from env AIRLOCK_ADMIN_TOKEN, never from a flag (flags show in process lists).
`

// budgetCmd manages budgets of a running broker through its admin API.
func budgetCmd(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, budgetUsage)
		return flag.ErrHelp
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("budget "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, budgetUsage) }
	base := fs.String("url", or(getenv("AIRLOCK_URL"), "http://127.0.0.1:8080"), "broker URL")
	server := fs.String("server", "", "server id")
	history := fs.Int("history", 0, "past periods to show (usage)")
	rpm := fs.Int64("rpm", 0, "requests per minute (set)")
	tpm := fs.Int64("tpm", 0, "tokens per minute (set)")
	var budgets []broker.Budget
	fs.Func("budget", "PERIOD:USD[:TOKENS], repeatable (set)", func(s string) error {
		b, err := parseBudgetFlag(s)
		budgets = append(budgets, b)
		return err
	})
	if err := fs.Parse(args); err != nil {
		return err
	}
	var errs []error
	if *server == "" {
		errs = append(errs, errors.New("-server is required"))
	}
	token := getenv("AIRLOCK_ADMIN_TOKEN")
	if token == "" {
		errs = append(errs, errors.New("AIRLOCK_ADMIN_TOKEN is not set"))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	path := "/admin/v1/servers/" + url.PathEscape(*server)
	c := adminClient{base: strings.TrimRight(*base, "/"), token: token}
	var (
		out []byte
		err error
	)
	switch sub {
	case "get":
		out, err = c.do(ctx, "GET", path+"/limits", nil)
	case "set":
		l := broker.ServerLimits{Budgets: budgets, RequestsPerMinute: *rpm, TokensPerMinute: *tpm}
		if err := broker.ValidateLimits(l); err != nil {
			return err
		}
		body, _ := json.Marshal(l)
		out, err = c.do(ctx, "PUT", path+"/limits", body)
	case "delete":
		out, err = c.do(ctx, "DELETE", path+"/limits", nil)
	case "usage":
		out, err = c.do(ctx, "GET", path+"/usage?history="+strconv.Itoa(*history), nil)
	default:
		fmt.Fprint(stderr, budgetUsage)
		return fmt.Errorf("unknown budget command %q", sub)
	}
	if err != nil {
		return err
	}
	var pretty bytes.Buffer
	if json.Indent(&pretty, out, "", "  ") == nil {
		out = pretty.Bytes()
	}
	_, err = stdout.Write(out)
	return err
}

func parseBudgetFlag(s string) (broker.Budget, error) {
	parts := strings.Split(s, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return broker.Budget{}, fmt.Errorf("budget %q is not PERIOD:USD[:TOKENS]", s)
	}
	b := broker.Budget{Period: parts[0]}
	if parts[1] != "-" && parts[1] != "" {
		v, err := parseMicro(parts[1])
		if err != nil {
			return b, err
		}
		b.MicroUSD = v
	}
	if len(parts) == 3 {
		n, err := strconv.ParseInt(parts[2], 10, 64)
		if err != nil || n < 0 {
			return b, fmt.Errorf("budget %q: tokens must be a non-negative integer", s)
		}
		b.Tokens = n
	}
	return b, nil
}

type adminClient struct {
	base, token string
}

func (c adminClient) do(ctx context.Context, method, path string, body []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 300 {
		return nil, fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(out)))
	}
	return out, nil
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
