package providers

import (
	"fmt"
	"math"
	"unicode/utf8"

	"github.com/pkoukk/tiktoken-go-loader/assets"
)

// BPECounter counts the tokens of a text in one of OpenAI's byte-pair
// encodings, exactly as tiktoken-go's EncodeOrdinary would but without
// building the tokens: a hand-written pre-tokenizer instead of a
// backtracking regex, and merges on the stack. It is safe for concurrent
// use.
type BPECounter struct {
	split   splitter
	classes *runeClasses
	ranks   *rankTable
}

// splitter returns the end of the piece starting at s[i].
type splitter func(t *runeClasses, s string, i int) int

// bpeEncoding returns the rank file in tiktoken-go-loader and the
// pre-tokenizer of the named encoding.
func bpeEncoding(name string) (file string, split splitter, ok bool) {
	switch name {
	case "o200k_base":
		return "o200k_base.tiktoken", (*runeClasses).splitO200K, true
	case "cl100k_base":
		return "cl100k_base.tiktoken", (*runeClasses).splitCL100K, true
	case "p50k_base", "p50k_edit":
		return "p50k_base.tiktoken", (*runeClasses).splitLegacy, true
	case "r50k_base":
		return "r50k_base.tiktoken", (*runeClasses).splitLegacy, true
	}
	return "", nil, false
}

// NewBPECounter loads the ranks of encoding ("o200k_base", "cl100k_base",
// "p50k_base", "p50k_edit" or "r50k_base") from tiktoken-go-loader's copy
// embedded in the binary. That takes time, about 25 ms for o200k_base, and
// memory, 3.7 MB of heap for o200k_base and 2 MB for cl100k_base, so build
// one counter per encoding and share it.
func NewBPECounter(encoding string) (*BPECounter, error) {
	file, split, ok := bpeEncoding(encoding)
	if !ok {
		return nil, fmt.Errorf("unknown encoding %q", encoding)
	}
	table, err := loadRankTable(assets.Assets, file)
	if err != nil {
		return nil, fmt.Errorf("load %s ranks: %w", encoding, err)
	}
	return &BPECounter{split: split, classes: newRuneClasses(), ranks: table}, nil
}

// Count returns the number of tokens of s. Invalid UTF-8 counts as if
// each bad byte were U+FFFD, as tiktoken-go converts text to runes.
func (c *BPECounter) Count(s string) int {
	if !utf8.ValidString(s) {
		s = string([]rune(s))
	}
	n := 0
	for i := 0; i < len(s); {
		e := c.split(c.classes, s, i)
		n += c.pieceTokens(s[i:e])
		i = e
	}
	return n
}

// shortPiece is the longest piece merged with fixed arrays on the stack;
// longer ones, rare, use a heap.
const shortPiece = 64

// maxExactPiece bounds the work spent on one piece. Prose and code split
// into pieces of a few bytes; a longer one is an unbroken run of letters
// or spaces, which a hostile server can send to burn CPU (merging 1 MiB
// takes about half a second). Such a piece counts as its length in
// bytes, an upper bound since every token holds at least one byte: the
// count errs high, which a reservation may, never low.
const maxExactPiece = 4096

// pieceTokens returns the number of tokens of one piece: one if the piece
// is a token, else the number of parts left by byte-pair merging.
func (c *BPECounter) pieceTokens(p string) int {
	if len(p) == 1 {
		return 1
	}
	if c.ranks.rank(p) != noRank {
		return 1
	}
	if len(p) <= shortPiece {
		return c.mergeShort(p)
	}
	if len(p) > maxExactPiece {
		return len(p)
	}
	return c.mergeLong(p)
}

// mergeShort merges the parts of p, starting from single bytes, always
// joining the adjacent pair whose concatenation has the lowest rank, the
// leftmost on a tie, until no pair is a token. It is tiktoken-go's
// bytePairMerge on arrays.
func (c *BPECounter) mergeShort(p string) int {
	var (
		start [shortPiece + 1]int32 // start[i]: where part i starts; start[parts] = len(p)
		rank  [shortPiece]int32     // rank[i]: rank of parts i and i+1 joined
	)
	parts := len(p)
	for i := range parts + 1 {
		start[i] = int32(i)
	}
	for i := range parts - 1 {
		rank[i] = c.ranks.pair(p[i], p[i+1])
	}
	for parts > 1 {
		best, at := int32(noRank), -1
		for i, r := range rank[:parts-1] {
			if r < best {
				best, at = r, i
			}
		}
		if at < 0 {
			break
		}
		// Join parts at and at+1, then rank the new part's two pairs.
		copy(start[at+1:parts], start[at+2:parts+1])
		if at+2 < parts {
			copy(rank[at+1:], rank[at+2:parts-1])
		}
		parts--
		if at+1 < parts {
			rank[at] = c.ranks.rank(p[start[at]:start[at+2]])
		}
		if at > 0 {
			rank[at-1] = c.ranks.rank(p[start[at-1]:start[at+1]])
		}
	}
	return parts
}

// mergeLong is mergeShort for long pieces, in O(n log n): the parts form a
// linked list and their pairs a min-heap on (rank, start), whose entries
// go stale, and are skipped, when a pair changes.
func (c *BPECounter) mergeLong(p string) int {
	n := len(p)
	next := make([]int32, n+1) // next[i]: start of the part after the one at i
	prev := make([]int32, n+1)
	rank := make([]int32, n+1) // rank[i]: rank of the pair starting at i
	h := make(pairHeap, 0, n)
	for i := range n + 1 {
		next[i], prev[i], rank[i] = int32(i+1), int32(i-1), noRank
	}
	for i := range n - 1 {
		if rank[i] = c.ranks.pair(p[i], p[i+1]); rank[i] != noRank {
			h.push(rank[i], int32(i))
		}
	}
	parts := n
	for len(h) > 0 {
		r, i := h.pop()
		if rank[i] != r {
			continue // stale: the pair at i changed, or i was joined
		}
		j := next[i] // join the part at j into the one at i
		k := next[j]
		next[i], prev[k], rank[j] = k, i, noRank
		parts--
		rank[i] = noRank
		if int(k) < n {
			if rank[i] = c.ranks.rank(p[i:next[k]]); rank[i] != noRank {
				h.push(rank[i], i)
			}
		}
		if i > 0 {
			g := prev[i]
			if rank[g] = c.ranks.rank(p[g:k]); rank[g] != noRank {
				h.push(rank[g], g)
			}
		}
	}
	return parts
}

// pairHeap is a binary min-heap of pairs keyed by rank, then start.
type pairHeap []uint64

func (h *pairHeap) push(rank, start int32) {
	*h = append(*h, uint64(rank)<<32|uint64(start))
	s := *h
	for i := len(s) - 1; i > 0; {
		up := (i - 1) / 2
		if s[up] <= s[i] {
			break
		}
		s[up], s[i] = s[i], s[up]
		i = up
	}
}

func (h *pairHeap) pop() (rank, start int32) {
	s := *h
	top := s[0]
	last := len(s) - 1
	s[0] = s[last]
	s = s[:last]
	for i := 0; ; {
		m := i
		if l := 2*i + 1; l < len(s) && s[l] < s[m] {
			m = l
		}
		if r := 2*i + 2; r < len(s) && s[r] < s[m] {
			m = r
		}
		if m == i {
			break
		}
		s[i], s[m] = s[m], s[i]
		i = m
	}
	*h = s
	return int32(top >> 32), int32(top)
}

// noRank marks a byte string that is not a token.
const noRank = math.MaxInt32
