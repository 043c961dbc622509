// Command airlock is the Airlock security broker for MCP sampling.
//
// Usage:
//
//	airlock serve [-config airlock.yaml]   run the broker (the default)
//	airlock scan [-server ID]              findings and sanitized text of a prompt on stdin
//	airlock budget get|set|delete|usage    manage budgets of a running broker
//	airlock hash-token                     print the SHA-256 of a token read on stdin
//	airlock gen-token                      print a new random token and its SHA-256
//	airlock version                        print the version
package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "airlock:", err)
		}
		os.Exit(2)
	}
}

// run is the whole program; tests call it as main does.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) error {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(ctx, args, stdout, stderr, getenv)
	case "scan":
		return scanCmd(ctx, args, stdin, stdout, stderr, getenv)
	case "budget":
		return budgetCmd(ctx, args, stdout, stderr, getenv)
	case "audit":
		return auditCmd(ctx, args, stdout, stderr, getenv)
	case "hash-token":
		return hashToken(stdin, stdout)
	case "gen-token":
		return genToken(stdout)
	case "version":
		fmt.Fprintln(stdout, "airlock", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		return fmt.Errorf("unknown command %q\n%s", cmd, usage)
	}
}

const usage = `usage:
  airlock serve [-config airlock.yaml]   run the broker (the default command)
  airlock scan [-config F] [-server ID]  show findings and sanitized text of a prompt on stdin
  airlock budget get|set|delete|usage    manage budgets of a running broker (airlock budget for help)
  airlock audit verify|checkpoint|tail|query|export   read and verify the audit trail (airlock audit for help)
  airlock hash-token < token.txt         print the SHA-256 of a token, for token_sha256
  airlock gen-token                      print a new random token and its SHA-256
  airlock version                        print the version
`

func hashToken(stdin io.Reader, stdout io.Writer) error {
	b, err := io.ReadAll(io.LimitReader(stdin, 8192))
	if err != nil {
		return fmt.Errorf("read token: %w", err)
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return errors.New("no token on standard input")
	}
	sum := sha256.Sum256([]byte(t))
	fmt.Fprintln(stdout, hex.EncodeToString(sum[:]))
	return nil
}

func genToken(stdout io.Writer) error {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return err
	}
	t := "airlock-" + hex.EncodeToString(b[:])
	sum := sha256.Sum256([]byte(t))
	fmt.Fprintf(stdout, "token:        %s\ntoken_sha256: %s\n", t, hex.EncodeToString(sum[:]))
	return nil
}
