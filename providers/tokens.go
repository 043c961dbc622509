package providers

import (
	"fmt"
	"strings"
	"sync"

	"github.com/airlock-broker/airlock/broker"
)

// TokenizerOptions tune a Tokenizer. The zero value works.
type TokenizerOptions struct {
	// ImageTokens and AudioTokens are the estimates charged for each image
	// or audio block. Defaults: 1105 (a 1024×1024 image at high detail in
	// OpenAI's tile formula) and 2000.
	ImageTokens int64
	AudioTokens int64
}

// Tokenizer counts prompt tokens the way OpenAI does for chat: each
// message costs its content's tokens plus 3, and every reply is primed
// with 3 more. It implements broker.TokenCounter.
//
// Texts are counted by a BPECounter per encoding, which agrees with
// tiktoken-go exactly at a small fraction of its cost; the BPE ranks come
// from tiktoken-go-loader, embedded in the binary: nothing is downloaded
// at run time. Models with an unknown tokenizer are counted with
// cl100k_base plus a 25% margin, so the reservation errs high.
type Tokenizer struct {
	opts TokenizerOptions

	mu   sync.Mutex
	encs map[string]*BPECounter
}

var _ broker.TokenCounter = (*Tokenizer)(nil)

// NewTokenizer returns a Tokenizer with the encodings it will need loaded:
// o200k_base and cl100k_base, which take about 100 and 45 ms. Older
// encodings that a model names are loaded on first use.
func NewTokenizer(opts TokenizerOptions) (*Tokenizer, error) {
	if opts.ImageTokens <= 0 {
		opts.ImageTokens = 1105
	}
	if opts.AudioTokens <= 0 {
		opts.AudioTokens = 2000
	}
	t := &Tokenizer{opts: opts, encs: map[string]*BPECounter{}}
	for _, name := range []string{"o200k_base", "cl100k_base"} {
		if _, err := t.encoding(name); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// Encoding returns the encoding used for m: its configured one, else the
// one OpenAI uses for its model family, else "" (unknown).
func Encoding(m broker.Model) string {
	if m.Encoding != "" {
		return m.Encoding
	}
	id := strings.ToLower(m.Upstream)
	if i := strings.LastIndexByte(id, '/'); i >= 0 {
		id = id[i+1:]
	}
	for _, p := range []string{"gpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "o1", "o3", "o4", "chatgpt-4o", "gpt-oss"} {
		if strings.HasPrefix(id, p) {
			return "o200k_base"
		}
	}
	for _, p := range []string{"gpt-4", "gpt-3.5", "text-embedding-3", "text-embedding-ada"} {
		if strings.HasPrefix(id, p) {
			return "cl100k_base"
		}
	}
	return ""
}

func (t *Tokenizer) encoding(name string) (*BPECounter, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.encs[name]; e != nil {
		return e, nil
	}
	e, err := NewBPECounter(name)
	if err != nil {
		return nil, fmt.Errorf("load tokenizer %s: %w", name, err)
	}
	t.encs[name] = e
	return e, nil
}

// CountPrompt implements broker.TokenCounter.
func (t *Tokenizer) CountPrompt(m broker.Model, p *broker.CreateMessageParams) int64 {
	name, margin := Encoding(m), false
	if name == "" {
		name, margin = "cl100k_base", true
	}
	enc, err := t.encoding(name)
	if err != nil {
		// Configured with an encoding BPECounter does not know: fall
		// back to the conservative byte estimate rather than undercount.
		return broker.ByteCounter{}.CountPrompt(m, p)
	}
	count := func(s string) int64 { return int64(enc.Count(s)) }
	const perMessage, replyPriming = 3, 3
	n := int64(replyPriming)
	if p.SystemPrompt != "" {
		n += perMessage + count(p.SystemPrompt)
	}
	var block func(c *broker.Content)
	block = func(c *broker.Content) {
		switch c.Type {
		case broker.ContentImage:
			n += t.opts.ImageTokens
		case broker.ContentAudio:
			n += t.opts.AudioTokens
		case broker.ContentToolUse:
			n += count(c.Name) + count(string(c.Input)) + 3
		case broker.ContentToolResult:
			n += perMessage + count(string(c.StructuredContent))
		case broker.ContentResource:
			n += count(string(c.Resource))
		case broker.ContentResourceLink:
			n += count(c.URI) + count(c.Name)
		default:
			n += count(c.Text)
		}
		for i := range c.Content {
			block(&c.Content[i])
		}
	}
	for i := range p.Messages {
		n += perMessage
		for j := range p.Messages[i].Content {
			block(&p.Messages[i].Content[j])
		}
	}
	for _, tool := range p.Tools {
		// Function definitions are rendered into the prompt; their JSON is
		// a close upper bound of OpenAI's internal rendering.
		n += count(tool.Name) + count(tool.Description) + count(string(tool.InputSchema)) + 8
	}
	if margin {
		n += (n + 3) / 4
	}
	return n
}
