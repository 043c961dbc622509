package providers

import (
	"strings"
	"testing"

	"github.com/airlock-broker/airlock/broker"
)

func TestTokenizerCountsLikeOpenAI(t *testing.T) {
	tok, err := NewTokenizer(TokenizerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	msg := func(role broker.Role, text string) broker.SamplingMessage {
		return broker.SamplingMessage{Role: role, Content: []broker.Content{broker.TextContent(text)}}
	}
	hello := broker.CreateMessageParams{Messages: []broker.SamplingMessage{msg("user", "hello world")}}
	// Expected counts follow OpenAI's cookbook rule (3 per message, 3 for
	// the reply) over the encodings' known token counts: "hello world" is
	// 2 tokens in both cl100k_base and o200k_base.
	tests := []struct {
		name  string
		model broker.Model
		p     broker.CreateMessageParams
		want  int64
	}{
		{"one message o200k", broker.Model{Upstream: "gpt-4o-mini"},
			broker.CreateMessageParams{Messages: []broker.SamplingMessage{msg("user", "hello world")}}, 3 + 3 + 2},
		{"system and two messages cl100k", broker.Model{Upstream: "gpt-4-turbo"},
			broker.CreateMessageParams{SystemPrompt: "hello world", Messages: []broker.SamplingMessage{msg("user", "hello world"), msg("assistant", "hello world")}}, 3 + 3*(3+2)},
		{"image estimate", broker.Model{Upstream: "gpt-4o"},
			broker.CreateMessageParams{Messages: []broker.SamplingMessage{{Role: "user", Content: []broker.Content{{Type: "image", Data: "aGk=", MIMEType: "image/png"}}}}}, 3 + 3 + 1105},
		{"unknown model gets a margin", broker.Model{Upstream: "llama3.1:8b"},
			broker.CreateMessageParams{Messages: []broker.SamplingMessage{msg("user", "hello world")}}, 8 + 2},
		{"configured legacy encoding", broker.Model{Upstream: "davinci", Encoding: "p50k_base"}, hello, 3 + 3 + 2},
		{"configured unknown encoding counts bytes", broker.Model{Upstream: "x", Encoding: "nope"}, hello,
			broker.ByteCounter{}.CountPrompt(broker.Model{}, &hello)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tok.CountPrompt(tc.model, &tc.p); got != tc.want {
				t.Errorf("CountPrompt = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestEncodingForModels(t *testing.T) {
	for model, want := range map[string]string{
		"gpt-4o-mini": "o200k_base", "gpt-4.1-nano": "o200k_base", "o4-mini": "o200k_base", "gpt-5": "o200k_base",
		"openai/gpt-4o": "o200k_base", "gpt-4-turbo": "cl100k_base", "gpt-3.5-turbo": "cl100k_base", "llama3": "",
	} {
		if got := Encoding(broker.Model{Upstream: model}); got != want {
			t.Errorf("Encoding(%s) = %q, want %q", model, got, want)
		}
	}
	if got := Encoding(broker.Model{Upstream: "llama3", Encoding: "cl100k_base"}); got != "cl100k_base" {
		t.Errorf("configured encoding ignored: %q", got)
	}
}

func BenchmarkCountPrompt(b *testing.B) {
	tok, err := NewTokenizer(TokenizerOptions{})
	if err != nil {
		b.Fatal(err)
	}
	para := "The quarterly report shows steady growth in all regions; see func main() { fmt.Println(\"ok\") } for details. "
	for _, size := range []int{2 << 10, 32 << 10} {
		text := strings.Repeat(para, size/len(para)+1)[:size]
		p := &broker.CreateMessageParams{Messages: []broker.SamplingMessage{{Role: "user", Content: []broker.Content{broker.TextContent(text)}}}}
		b.Run(strings.TrimSuffix(strings.TrimSuffix(byteSize(size), "0"), "")+"", func(b *testing.B) {
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				tok.CountPrompt(broker.Model{Upstream: "gpt-4o"}, p)
			}
		})
	}
}

func byteSize(n int) string {
	if n >= 1<<10 {
		return strings.TrimSpace(strings.Repeat(" ", 0)) + itoa(n>>10) + "KB"
	}
	return itoa(n) + "B"
}

func itoa(n int) string {
	s := ""
	for {
		s = string(rune('0'+n%10)) + s
		n /= 10
		if n == 0 {
			return s
		}
	}
}
