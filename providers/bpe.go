package providers

import (
	"fmt"
	"math"
	"math/bits"
	"strings"
	"unicode/utf8"

	tiktokenloader "github.com/pkoukk/tiktoken-go-loader"
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
// "p50k_base", "p50k_edit" or "r50k_base") from the copy embedded in the
// binary. That takes time, about 0.1 s for o200k_base, and memory, 8.5 MB
// kept and 45 MB allocated, so build one counter per encoding and share it.
func NewBPECounter(encoding string) (*BPECounter, error) {
	file, split, ok := bpeEncoding(encoding)
	if !ok {
		return nil, fmt.Errorf("unknown encoding %q", encoding)
	}
	ranks, err := tiktokenloader.NewOfflineLoader().LoadTiktokenBpe(file)
	if err != nil {
		return nil, fmt.Errorf("load %s ranks: %w", encoding, err)
	}
	table, err := newRankTable(ranks)
	if err != nil {
		return nil, fmt.Errorf("index %s ranks: %w", encoding, err)
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

// rankTable maps tokens to their ranks. It stands in for the loader's
// map[string]int, whose lookups dominated counting: an open-addressing
// table whose slots hold a token's first 8 bytes inline, so that a probe
// usually touches one cache line, and a direct table for two-byte tokens,
// the pairs every merge starts with.
type rankTable struct {
	slots []rankSlot
	shift uint   // 64 - log2(len(slots)): the hash's top bits index slots
	tails string // the bytes after the first 8 of the longer tokens
	pairs []int32
}

// rankSlot is one token; a zero tail marks an empty slot.
type rankSlot struct {
	head uint64 // the token's first 8 bytes, little-endian, zero-padded
	rank int32
	tail uint32 // offset of the token's 9th byte in tails << 8 | length
}

func newRankTable(ranks map[string]int) (*rankTable, error) {
	size := 16
	for size < 2*len(ranks) {
		size *= 2
	}
	t := &rankTable{
		slots: make([]rankSlot, size),
		shift: uint(64 - bits.TrailingZeros(uint(size))),
		pairs: make([]int32, 1<<16),
	}
	for i := range t.pairs {
		t.pairs[i] = noRank
	}
	var tails strings.Builder
	for tok, r := range ranks {
		if tok == "" || len(tok) > math.MaxUint8 || r < 0 || r >= noRank {
			return nil, fmt.Errorf("token %q has rank %d or length %d out of range", tok, r, len(tok))
		}
		if len(tok) == 2 {
			t.pairs[int(tok[0])<<8|int(tok[1])] = int32(r)
		}
		var off int
		if len(tok) > 8 {
			off = tails.Len()
			tails.WriteString(tok[8:])
			if off >= 1<<24 {
				return nil, fmt.Errorf("%d bytes of tokens, too many", off)
			}
		}
		head, h := t.hash(tok)
		for i := h; ; i = (i + 1) & uint64(size-1) {
			if t.slots[i].tail == 0 {
				t.slots[i] = rankSlot{head: head, rank: int32(r), tail: uint32(off<<8 | len(tok))}
				break
			}
		}
	}
	t.tails = tails.String()
	return t, nil
}

// rank returns the rank of the token s, or noRank.
func (t *rankTable) rank(s string) int32 {
	if len(s) == 2 {
		return t.pair(s[0], s[1])
	}
	head, h := t.hash(s)
	mask := uint64(len(t.slots) - 1)
	for i := h; ; i = (i + 1) & mask {
		sl := &t.slots[i]
		n := int(sl.tail & 0xff)
		if n == 0 {
			return noRank
		}
		if sl.head == head && n == len(s) {
			if n <= 8 {
				return sl.rank
			}
			off := int(sl.tail >> 8)
			if t.tails[off:off+n-8] == s[8:] {
				return sl.rank
			}
		}
	}
}

// pair returns the rank of the two-byte token ab, or noRank.
func (t *rankTable) pair(a, b byte) int32 {
	return t.pairs[int(a)<<8|int(b)]
}

// hash returns the first 8 bytes of s, zero-padded, little-endian, and
// the slot where the search for s begins.
func (t *rankTable) hash(s string) (head, slot uint64) {
	head = load64(s)
	h := (head ^ uint64(len(s))<<56) * 0x9e3779b97f4a7c15
	for i := 8; i < len(s); i += 8 {
		h = (h ^ h>>29 ^ load64(s[i:])) * 0xbf58476d1ce4e5b9
	}
	return head, (h ^ h>>32) * 0x94d049bb133111eb >> t.shift
}

// load64 returns the first 8 bytes of s, or all of them zero-padded,
// little-endian. Overlapping loads cover the lengths in between.
func load64(s string) uint64 {
	switch n := len(s); {
	case n >= 8:
		return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
			uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
	case n >= 4:
		lo := uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24
		hi := uint64(s[n-4]) | uint64(s[n-3])<<8 | uint64(s[n-2])<<16 | uint64(s[n-1])<<24
		return lo | hi<<(8*(n-4))
	case n >= 2:
		return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[n-2])<<(8*(n-2)) | uint64(s[n-1])<<(8*(n-1))
	case n == 1:
		return uint64(s[0])
	}
	return 0
}
