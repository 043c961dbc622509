package broker

import "time"

// Decisions an Event may record.
const (
	DecisionServed  = "served"  // the result went back to the server
	DecisionBlocked = "blocked" // a filter refused the input or the output
	DecisionRefused = "refused" // validation, policy, budget or rate refused it
	DecisionFailed  = "failed"  // the provider or a dependency failed
)

// Pipeline stages, in order. Each has a slot in Event.Stages.
const (
	StageValidate = iota
	StagePolicy
	StageInput
	StageReserve
	StageProvider
	StageOutput
	StageSettle
	StageAudit
	numStages
)

// StageNames names the stages for metrics and audit.
var StageNames = [numStages]string{"validate", "policy", "input", "reserve", "provider", "output", "settle", "audit"}

// Event is the record of one request through the pipeline, whatever its
// outcome. It holds no prompt text, token or key; findings carry keyed hashes.
type Event struct {
	ID       string    `json:"id"`
	Time     time.Time `json:"time"`
	Server   string    `json:"server"`
	Caller   string    `json:"caller,omitempty"` // token fingerprint and source address
	Version  string    `json:"protocolVersion"`
	Method   string    `json:"method"`
	Hints    []string  `json:"hints,omitempty"`
	Model    string    `json:"model,omitempty"`
	ModelBy  string    `json:"modelChosenBy,omitempty"`
	Decision string    `json:"decision"`
	Reason   Reason    `json:"reason,omitempty"`
	Clamped  bool      `json:"maxTokensClamped,omitempty"`

	Findings []Finding `json:"findings,omitempty"`

	PromptTokensEstimated int64 `json:"promptTokensEstimated,omitempty"`
	MaxTokens             int64 `json:"maxTokens,omitempty"`
	PromptTokens          int64 `json:"promptTokens,omitempty"`
	CompletionTokens      int64 `json:"completionTokens,omitempty"`
	ReservedMicroUSD      int64 `json:"reservedMicroUSD,omitempty"`
	SettledMicroUSD       int64 `json:"settledMicroUSD,omitempty"`

	UpstreamStatus   int `json:"upstreamStatus,omitempty"`
	UpstreamAttempts int `json:"upstreamAttempts,omitempty"`

	// Stages holds the time spent in each stage, indexed by Stage*.
	Stages [numStages]time.Duration `json:"-"`
	Total  time.Duration            `json:"-"`
}
