package broker

import (
	"encoding/json"
	"strconv"
	"time"
)

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
	Stages StageTimes `json:"stagesMicros"`
	// TotalMicros is the time from arrival to the audit write.
	TotalMicros int64 `json:"totalMicros"`

	// SanitizedPrompt and SanitizedResponse are recorded only for servers
	// whose policy sets AuditText: the params as sent to the provider and
	// the model's content before placeholders were restored. Never raw text.
	SanitizedPrompt   json.RawMessage `json:"sanitizedPrompt,omitempty"`
	SanitizedResponse json.RawMessage `json:"sanitizedResponse,omitempty"`
}

// StageTimes are per-stage durations; they marshal as microseconds by
// stage name, leaving out stages that did not run.
type StageTimes [numStages]time.Duration

// MarshalJSON writes {"validate":12,"policy":3,...} in microseconds.
func (s StageTimes) MarshalJSON() ([]byte, error) {
	b := []byte{'{'}
	for i, d := range s {
		if d == 0 {
			continue
		}
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, StageNames[i]...)
		b = append(b, '"', ':')
		b = strconv.AppendInt(b, d.Microseconds(), 10)
	}
	return append(b, '}'), nil
}

// UnmarshalJSON reads what MarshalJSON writes.
func (s *StageTimes) UnmarshalJSON(b []byte) error {
	var m map[string]int64
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	*s = StageTimes{}
	for i, name := range StageNames {
		s[i] = time.Duration(m[name]) * time.Microsecond
	}
	return nil
}
