package broker

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// Options are the broker's optional dependencies and settings. The zero
// value works: no scanner, no quota, no audit, a discarding logger.
type Options struct {
	Scanner Scanner
	Quota   Quota
	Counter TokenCounter
	Audit   AuditSink
	// AuditFailOpen serves a request whose audit write failed instead of
	// refusing it. Off by default: nothing is served unaudited.
	AuditFailOpen bool
	Limits        Limits
	Logger        *slog.Logger
	Now           Clock
	// Checkers are probed by Ready, e.g. the quota store and the key vault.
	Checkers map[string]Checker
	// SettleQueue bounds the settlements waiting to be applied after their
	// responses went out (default 8192); SettleWorkers apply them, those
	// that queued up together in one batch (default 2). A request that
	// finds the queue full settles before answering.
	SettleQueue, SettleWorkers int
}

// Broker runs the sampling pipeline. It is safe for concurrent use.
type Broker struct {
	servers   map[string]*Server
	byToken   map[[32]byte]*Server
	providers map[string]Provider
	opts      Options
	log       *slog.Logger
	now       Clock
	settler   *settler // nil without a quota
}

// New returns a broker serving servers with models, calling providers by
// name. It checks that every reference resolves and reports every problem.
func New(servers []*Server, models []Model, providers map[string]Provider, opts Options) (*Broker, error) {
	b := &Broker{
		servers:   make(map[string]*Server, len(servers)),
		byToken:   make(map[[32]byte]*Server),
		providers: providers,
		opts:      opts,
		log:       opts.Logger,
		now:       opts.Now,
	}
	b.opts.Limits = opts.Limits.WithDefaults()
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	if b.now == nil {
		b.now = time.Now
	}
	if b.opts.Counter == nil {
		b.opts.Counter = ByteCounter{}
	}
	if b.opts.Quota != nil {
		b.settler = newSettler(b.opts.Quota, cmp.Or(max(opts.SettleWorkers, 0), 2), cmp.Or(max(opts.SettleQueue, 0), 8192), b.log)
	}
	var errs []error
	catalog := make(map[string]Model, len(models))
	for _, m := range models {
		switch {
		case m.Name == "":
			errs = append(errs, errors.New("a model has no name"))
		case catalog[m.Name].Name != "":
			errs = append(errs, fmt.Errorf("model %s: defined twice", m.Name))
		case providers[m.Provider] == nil:
			errs = append(errs, fmt.Errorf("model %s: unknown provider %q", m.Name, m.Provider))
		}
		catalog[m.Name] = m
	}
	for _, s := range servers {
		switch {
		case s.ID == "":
			errs = append(errs, errors.New("a server has no id"))
			continue
		case b.servers[s.ID] != nil:
			errs = append(errs, fmt.Errorf("server %s: defined twice", s.ID))
			continue
		case len(s.TokenHashes) == 0:
			errs = append(errs, fmt.Errorf("server %s: no token hashes", s.ID))
		case len(s.Policy.Models) == 0:
			errs = append(errs, fmt.Errorf("server %s: no allowed models", s.ID))
		}
		errs = append(errs, validatePolicy(s.ID, &s.Policy)...)
		s.models, s.def = nil, 0
		for _, name := range s.Policy.Models {
			m, ok := catalog[name]
			if !ok {
				errs = append(errs, fmt.Errorf("server %s: unknown model %q", s.ID, name))
				continue
			}
			if name == s.Policy.DefaultModel {
				s.def = len(s.models)
			}
			s.models = append(s.models, m)
		}
		if d := s.Policy.DefaultModel; d != "" && (len(s.models) == 0 || s.models[s.def].Name != d) {
			errs = append(errs, fmt.Errorf("server %s: default model %q is not among its models", s.ID, d))
		}
		for _, h := range s.TokenHashes {
			if other := b.byToken[h]; other != nil {
				errs = append(errs, fmt.Errorf("server %s: token hash also used by server %s", s.ID, other.ID))
			}
			b.byToken[h] = s
		}
		b.servers[s.ID] = s
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return b, nil
}

// Close applies the settlements still queued, or gives up when ctx ends
// (their holds are then charged in full when they expire). Requests served
// after Close settle before they answer.
func (b *Broker) Close(ctx context.Context) error {
	if b.settler == nil {
		return nil
	}
	return b.settler.close(ctx)
}

// SettleFailures is how many settlements failed after their retries: those
// requests are charged their worst case when their holds expire.
func (b *Broker) SettleFailures() int64 {
	if b.settler == nil {
		return 0
	}
	return b.settler.failed.Load()
}

// Limits returns the broker's effective request limits.
func (b *Broker) Limits() Limits { return b.opts.Limits }

// Server returns the server with id, or nil.
func (b *Broker) Server(id string) *Server { return b.servers[id] }

// NewEvent starts the audit event of a request arriving now.
func (b *Broker) NewEvent(method string) *Event {
	return &Event{ID: newID(), Time: b.now().UTC(), Method: method}
}

// Sample runs the pipeline for req on behalf of srv and records ev, which
// the caller created with NewEvent. The error is an *Error for refusals and
// failures; any other error is a bug or the client's cancellation.
func (b *Broker) Sample(ctx context.Context, srv *Server, req *Request, ev *Event) (_ *CreateMessageResult, err error) {
	ev.Server, ev.Version = srv.ID, req.Version
	p := &req.Params
	if mp := p.ModelPreferences; mp != nil {
		for _, h := range mp.Hints {
			ev.Hints = append(ev.Hints, truncate(h.Name, 64))
		}
	}
	st := stageTimer{ev: ev, now: b.now, t: b.now()}

	// Validate.
	if err := Validate(p, req.Version, b.opts.Limits); err != nil {
		return nil, b.finish(ctx, ev, err)
	}
	st.done(StageValidate)

	// Policy: permissions, model choice, token cap.
	pol := &srv.Policy
	model, how, hintMatched := chooseModel(p.ModelPreferences, srv.models, srv.def)
	if pol.RequireHintMatch && !hintMatched && p.ModelPreferences != nil && len(p.ModelPreferences.Hints) > 0 {
		return nil, b.finish(ctx, ev, Errorf(ReasonModelNotAllowed, "no allowed model matches the hints"))
	}
	ev.Model, ev.ModelBy = model.Name, how
	clamped, err := applyPolicy(pol, p, model)
	if err != nil {
		return nil, b.finish(ctx, ev, err)
	}
	ev.Clamped, ev.MaxTokens = clamped, p.MaxTokens
	st.done(StagePolicy)

	// Sanitize input.
	var sess Session
	if b.opts.Scanner != nil {
		sess, err = b.opts.Scanner.Input(ctx, srv.ID, p)
		if sess != nil {
			ev.Findings = sess.Findings()
		}
		if err != nil {
			return nil, b.finish(ctx, ev, err)
		}
	}
	p.SystemPrompt = pol.systemPrompt(p.SystemPrompt)
	if pol.AuditText {
		ev.SanitizedPrompt, _ = json.Marshal(p)
	}
	st.done(StageInput)

	// Reserve the worst case.
	ev.PromptTokensEstimated = b.opts.Counter.CountPrompt(model, p)
	worst := Charge{
		MicroUSD: model.Cost(ev.PromptTokensEstimated, 0, p.MaxTokens),
		Tokens:   ev.PromptTokensEstimated + p.MaxTokens,
	}
	held := false
	resv := Reservation{ID: ev.ID, Server: srv.ID, Model: model.Name, Charge: worst}
	if q := b.opts.Quota; q != nil {
		if err := q.Reserve(ctx, resv); err != nil {
			return nil, b.finish(ctx, ev, quotaError(err))
		}
		held = true
		ev.ReservedMicroUSD = worst.MicroUSD
	}
	release := func(cause error) error {
		if held {
			// A fresh context: the client may have gone, the hold must not stay.
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := b.opts.Quota.Release(rctx, resv); err != nil {
				b.log.Warn("release reservation", "request_id", ev.ID, "server", srv.ID, "err", err)
			}
		}
		return b.finish(ctx, ev, cause)
	}
	st.done(StageReserve)

	// Call the provider.
	comp, err := b.providers[model.Provider].Complete(ctx, &Call{RequestID: ev.ID, Model: model, Params: p, KeyRef: pol.KeyRef})
	if comp != nil {
		ev.UpstreamStatus, ev.UpstreamAttempts = comp.Status, comp.Attempts
	}
	if err != nil {
		return nil, release(err)
	}
	st.done(StageProvider)
	ev.PromptTokens, ev.CompletionTokens = comp.Usage.PromptTokens, comp.Usage.CompletionTokens

	// Moderate and restore the output.
	res := &CreateMessageResult{Role: RoleAssistant, Content: comp.Content, Model: model.Name, StopReason: comp.StopReason}
	if req.Version < Version20251125 {
		res.Content = mergeText(res.Content)
	}
	if pol.AuditText {
		ev.SanitizedResponse, _ = json.Marshal(res.Content)
	}
	var outErr error
	if sess != nil && !comp.Sanitized {
		outErr = sess.Output(ctx, res)
		ev.Findings = sess.Findings()
	}
	st.done(StageOutput)

	// Settle what was really used, even when the output is then blocked:
	// the provider was paid either way. The settlement is applied after
	// the response (see settler); until then the hold covers it.
	if held {
		actual := Charge{
			MicroUSD: model.Cost(comp.Usage.PromptTokens, comp.Usage.CachedPromptTokens, comp.Usage.CompletionTokens),
			Tokens:   comp.Usage.PromptTokens + comp.Usage.CompletionTokens,
		}
		b.settler.settle(resv, actual)
		ev.SettledMicroUSD = actual.MicroUSD
	}
	st.done(StageSettle)
	if outErr != nil {
		return nil, b.finish(ctx, ev, outErr)
	}
	return res, b.finish(ctx, ev, nil)
}

// finish sets the event's decision from err, records the event and returns
// the error to send: err itself, or unavailable when the audit failed.
func (b *Broker) finish(ctx context.Context, ev *Event, err error) error {
	ev.Decision, ev.Reason = decision(err), ErrorReason(err)
	if errors.Is(err, context.Canceled) {
		ev.Decision = DecisionFailed
	}
	t := b.now()
	ev.TotalMicros = t.Sub(ev.Time).Microseconds()
	if b.opts.Audit != nil {
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		aerr := b.opts.Audit.Record(actx, ev)
		cancel()
		ev.Stages[StageAudit] = b.now().Sub(t)
		if aerr != nil {
			b.log.Error("audit write failed", "request_id", ev.ID, "server", ev.Server, "err", aerr)
			if !b.opts.AuditFailOpen {
				return Wrap(ReasonUnavailable, aerr, "audit trail unavailable")
			}
		}
	}
	return err
}

// Audit records an event for a request refused before the pipeline ran
// (unauthenticated, undecodable). It returns the error to send.
func (b *Broker) Audit(ctx context.Context, ev *Event, err error) error {
	return b.finish(ctx, ev, err)
}

func decision(err error) string {
	if err == nil {
		return DecisionServed
	}
	switch ErrorReason(err) {
	case ReasonInjectionDetected, ReasonContentBlocked, ReasonOutputBlocked:
		return DecisionBlocked
	case ReasonProviderError, ReasonUnavailable, ReasonInternal, ReasonOverloaded:
		return DecisionFailed
	default:
		return DecisionRefused
	}
}

// quotaError passes a quota refusal through and turns anything else (the
// store is unreachable) into unavailable: budgets fail closed.
func quotaError(err error) error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return Wrap(ReasonUnavailable, err, "budget store unavailable")
}

// mergeText joins text blocks into one, for protocol versions whose result
// content is a single block.
func mergeText(blocks []Content) []Content {
	if len(blocks) == 1 {
		return blocks
	}
	var sb strings.Builder
	for _, c := range blocks {
		if c.Type == ContentText {
			sb.WriteString(c.Text)
		}
	}
	return []Content{TextContent(sb.String())}
}

type stageTimer struct {
	ev  *Event
	now Clock
	t   time.Time
}

func (s *stageTimer) done(stage int) {
	t := s.now()
	s.ev.Stages[stage] = t.Sub(s.t)
	s.t = t
}

// Ready probes every checker and returns the failures by name.
func (b *Broker) Ready(ctx context.Context) map[string]error {
	failed := map[string]error{}
	for name, c := range b.opts.Checkers {
		if err := c.Check(ctx); err != nil {
			failed[name] = err
		}
	}
	return failed
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

// ByteCounter estimates prompt tokens from byte counts: a conservative
// stand-in (about 3 bytes a token, plus per-message overhead and a flat
// charge per image or audio block) for when no tokenizer is configured.
type ByteCounter struct{}

// CountPrompt implements TokenCounter.
func (ByteCounter) CountPrompt(_ Model, p *CreateMessageParams) int64 {
	n := int64(len(p.SystemPrompt)) / 3
	var count func(c *Content)
	count = func(c *Content) {
		switch c.Type {
		case ContentImage, ContentAudio:
			n += 1000
		default:
			n += int64(len(c.Text)+len(c.Input)+len(c.Name)+len(c.StructuredContent)) / 3
		}
		for i := range c.Content {
			count(&c.Content[i])
		}
	}
	for i := range p.Messages {
		n += 4
		for j := range p.Messages[i].Content {
			count(&p.Messages[i].Content[j])
		}
	}
	for _, t := range p.Tools {
		n += int64(len(t.Name)+len(t.Description)+len(t.InputSchema))/3 + 8
	}
	return n + 3
}
