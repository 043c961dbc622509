package broker

import (
	"context"
	"time"
)

// Budget periods. Calendar periods start at midnight in the store's zone
// (UTC unless configured); weeks start on Monday.
const (
	PeriodDay      = "day"
	PeriodWeek     = "week"
	PeriodMonth    = "month"
	PeriodLifetime = "lifetime"
)

// Budget caps what a server may spend in one period. A zero field is
// unlimited; a budget with both zero is no budget.
type Budget struct {
	Period   string `json:"period"`
	MicroUSD int64  `json:"microUSD,omitempty"`
	Tokens   int64  `json:"tokens,omitempty"`
}

// ServerLimits are a server's budgets and rate limits.
type ServerLimits struct {
	Budgets           []Budget `json:"budgets,omitempty"`
	RequestsPerMinute int64    `json:"requestsPerMinute,omitempty"`
	TokensPerMinute   int64    `json:"tokensPerMinute,omitempty"`
}

// PeriodUsage is what a server used in one budget period.
type PeriodUsage struct {
	Period   string    `json:"period"`
	Start    time.Time `json:"start"`
	End      time.Time `json:"end,omitzero"` // zero for lifetime
	Spent    Charge    `json:"spent"`
	Reserved Charge    `json:"reserved"`
	// Remaining is nil when the period has no budget.
	Remaining *Charge `json:"remaining,omitempty"`
	Requests  int64   `json:"requests"`
}

// QuotaAdmin is what operators use to manage budgets at run time. Limits
// set here override the configuration until deleted.
type QuotaAdmin interface {
	// Limits returns the limits in force for server and whether they come
	// from an override ("override") or the configuration ("config").
	Limits(ctx context.Context, server string) (ServerLimits, string, error)
	SetLimits(ctx context.Context, server string, l ServerLimits) error
	// DeleteLimits removes the override; the configuration applies again.
	DeleteLimits(ctx context.Context, server string) error
	// Usage reports the current period of each budget of server and up to
	// history earlier periods of each.
	Usage(ctx context.Context, server string, history int) ([]PeriodUsage, error)
}
