package providers

import (
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

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

// TestTokenizerLoadsEncodingsOnFirstUse: a Tokenizer holds no ranks until
// a model needs them, then those of that model's encoding only, once.
func TestTokenizerLoadsEncodingsOnFirstUse(t *testing.T) {
	p := &broker.CreateMessageParams{Messages: []broker.SamplingMessage{{Role: "user", Content: []broker.Content{broker.TextContent("hello world")}}}}
	heap := func() float64 {
		alloc, _, _ := heapAfterGC()
		return float64(alloc) / 1e6
	}
	h0 := heap()
	tok, err := NewTokenizer(TokenizerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	h1 := heap()
	if got := tok.CountPrompt(broker.Model{Upstream: "gpt-4o"}, p); got != 8 {
		t.Errorf("CountPrompt = %d, want 8", got)
	}
	h2 := heap()
	tok.CountPrompt(broker.Model{Upstream: "gpt-4o-mini"}, p)
	h3 := heap()
	runtime.KeepAlive(tok)
	t.Logf("heap: %.2f MB, %.2f after NewTokenizer, %.2f after counting for gpt-4o, %.2f after gpt-4o-mini", h0, h1, h2, h3)
	if h1-h0 > 0.5 {
		t.Errorf("NewTokenizer kept %.2f MB, want no ranks loaded", h1-h0)
	}
	if d := h2 - h1; d < 2 || d > 5 {
		t.Errorf("counting for gpt-4o kept %.2f MB, want o200k_base's ranks alone (about 3.7 MB)", d)
	}
	if h3-h2 > 0.5 {
		t.Errorf("counting again kept %.2f MB more, want the ranks loaded once", h3-h2)
	}
}

func TestTokenizerPreload(t *testing.T) {
	if _, err := NewTokenizer(TokenizerOptions{Preload: []string{"o200k_base", "p50k_edit"}}); err != nil {
		t.Errorf("NewTokenizer: %v", err)
	}
	if _, err := NewTokenizer(TokenizerOptions{Preload: []string{"o200k_base", "gpt2"}}); err == nil || !strings.Contains(err.Error(), "gpt2") {
		t.Errorf("NewTokenizer with an unknown encoding to preload: %v, want an error naming it", err)
	}
}

// TestTokenizerConcurrentFirstUse: requests that need an encoding not yet
// loaded wait for one load and count alike (run with -race).
func TestTokenizerConcurrentFirstUse(t *testing.T) {
	tok, err := NewTokenizer(TokenizerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p := &broker.CreateMessageParams{Messages: []broker.SamplingMessage{{Role: "user", Content: []broker.Content{broker.TextContent(benchText(2 << 10))}}}}
	models := []string{"gpt-4o", "gpt-4", "llama3"}
	var wg sync.WaitGroup
	got := make([][]int64, 8)
	for g := range got {
		wg.Go(func() {
			for _, m := range models {
				got[g] = append(got[g], tok.CountPrompt(broker.Model{Upstream: m}, p))
			}
		})
	}
	wg.Wait()
	for g := range got {
		if diff := cmp.Diff(got[0], got[g]); diff != "" {
			t.Errorf("goroutine %d counted differently (-want +got):\n%s", g, diff)
		}
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

func TestEncodingsOf(t *testing.T) {
	models := []broker.Model{
		{Upstream: "gpt-4o"}, {Upstream: "gpt-4o-mini"}, {Upstream: "llama3"}, {Upstream: "gpt-4"},
		{Upstream: "davinci", Encoding: "p50k_base"},
	}
	if diff := cmp.Diff([]string{"o200k_base", "cl100k_base", "p50k_base"}, EncodingsOf(models)); diff != "" {
		t.Errorf("EncodingsOf (-want +got):\n%s", diff)
	}
	if got := EncodingsOf(nil); len(got) != 0 {
		t.Errorf("EncodingsOf(nil) = %q", got)
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
