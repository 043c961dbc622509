package providers

import (
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// heapAfterGC returns the heap's live bytes and in-use spans after a full
// collection, and the bytes allocated so far.
func heapAfterGC() (alloc, inuse, total uint64) {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc, m.HeapInuse, m.TotalAlloc
}

// BenchmarkBPECounterMemory reports what one counter keeps on the heap
// once loaded (HeapAlloc and HeapInuse after runtime.GC, in MB) and what
// its loading allocates in all (MB-allocated), with -benchtime 1x:
//
//	go test ./providers -run '^$' -bench BPECounterMemory -benchtime 1x
func BenchmarkBPECounterMemory(b *testing.B) {
	for _, name := range bpeTestEncodings {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				alloc0, inuse0, total0 := heapAfterGC()
				c, err := NewBPECounter(name)
				if err != nil {
					b.Fatal(err)
				}
				alloc1, inuse1, total1 := heapAfterGC()
				runtime.KeepAlive(c)
				b.ReportMetric(float64(int64(alloc1-alloc0))/1e6, "MB-HeapAlloc")
				b.ReportMetric(float64(int64(inuse1-inuse0))/1e6, "MB-HeapInuse")
				b.ReportMetric(float64(total1-total0)/1e6, "MB-allocated")
			}
		})
	}
}

// vocabText returns about size bytes of the tokens of encoding, picked at
// random and spaced: unlike benchText, which repeats, it reaches across
// the whole rank table, as a stream of diverse prompts would, so the
// table's size and layout in the caches show.
func vocabText(tb testing.TB, encoding string, size int) string {
	tb.Helper()
	var toks []string
	for tok := range loadLoaderRanks(tb)[encoding] {
		if utf8.ValidString(tok) {
			toks = append(toks, tok)
		}
	}
	slices.Sort(toks)
	rng := rand.New(rand.NewPCG(7, 7))
	var b strings.Builder
	for b.Len() < size {
		// Spaced like words, else letters run together into long pieces.
		b.WriteString(strings.TrimSpace(toks[rng.IntN(len(toks))]))
		b.WriteByte(' ')
	}
	return b.String()
}

func BenchmarkBPECountVocab(b *testing.B) {
	for _, name := range []string{"o200k_base", "cl100k_base"} {
		c, err := NewBPECounter(name)
		if err != nil {
			b.Fatal(err)
		}
		text := vocabText(b, name, 1<<20)
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(text)))
			b.ReportAllocs()
			for b.Loop() {
				c.Count(text)
			}
		})
	}
}
