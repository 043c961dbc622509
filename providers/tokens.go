package providers

import (
	"fmt"
	"slices"
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

	// Preload names the encodings NewTokenizer loads at once, typically
	// those of the configured models (see EncodingsOf), so that the first
	// request counted with one does not wait for its ranks (about 25 ms
	// for o200k_base) and a broken table fails at start. The others load
	// on first use; an encoding no model uses is never loaded.
	Preload []string
}

// Tokenizer counts prompt tokens the way OpenAI does for chat: each
// message costs its content's tokens plus 3, and every reply is primed
// with 3 more. It implements broker.TokenCounter.
//
// Texts are counted by a BPECounter per encoding, which agrees with
// tiktoken-go exactly at a small fraction of its cost; the BPE ranks come
// from tiktoken-go-loader, embedded in the binary: nothing is downloaded
// at run time. Each encoding is loaded once, when first needed (or by
// Preload), and kept: o200k_base holds 3.7 MB, cl100k_base 2 MB. Models
// with an unknown tokenizer are counted with cl100k_base plus a 25%
// margin, so the reservation errs high.
type Tokenizer struct {
	opts TokenizerOptions
	// encs loads and keeps the counter of each encoding on first call. It
	// is only read after NewTokenizer, so it needs no lock.
	encs map[string]func() (*BPECounter, error)
}

var _ broker.TokenCounter = (*Tokenizer)(nil)

// NewTokenizer returns a Tokenizer that loads the encodings in
// opts.Preload now and the others on first use.
func NewTokenizer(opts TokenizerOptions) (*Tokenizer, error) {
	if opts.ImageTokens <= 0 {
		opts.ImageTokens = 1105
	}
	if opts.AudioTokens <= 0 {
		opts.AudioTokens = 2000
	}
	t := &Tokenizer{opts: opts, encs: map[string]func() (*BPECounter, error){}}
	for _, name := range []string{"o200k_base", "cl100k_base", "p50k_base", "r50k_base"} {
		t.encs[name] = sync.OnceValues(func() (*BPECounter, error) { return NewBPECounter(name) })
	}
	t.encs["p50k_edit"] = t.encs["p50k_base"] // the same ranks and pattern
	for _, name := range opts.Preload {
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

// encoding returns the counter of the named encoding, loading it on first
// use.
func (t *Tokenizer) encoding(name string) (*BPECounter, error) {
	load := t.encs[name]
	if load == nil {
		return nil, fmt.Errorf("unknown encoding %q", name)
	}
	e, err := load()
	if err != nil {
		return nil, fmt.Errorf("load tokenizer %s: %w", name, err)
	}
	return e, nil
}

// countingEncoding returns the encoding CountPrompt counts m's prompts
// with, and whether it adds a margin because m's own is unknown.
func countingEncoding(m broker.Model) (name string, margin bool) {
	if name := Encoding(m); name != "" {
		return name, false
	}
	return "cl100k_base", true
}

// EncodingsOf returns the encodings CountPrompt will load to count the
// prompts of models, each once: what TokenizerOptions.Preload should name
// to load at start all that the configured models need. It includes
// encodings that a model names but BPECounter does not know, for which
// NewTokenizer fails.
func EncodingsOf(models []broker.Model) []string {
	var names []string
	for _, m := range models {
		if name, _ := countingEncoding(m); !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	return names
}

// CountPrompt implements broker.TokenCounter.
func (t *Tokenizer) CountPrompt(m broker.Model, p *broker.CreateMessageParams) int64 {
	name, margin := countingEncoding(m)
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
