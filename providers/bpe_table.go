package providers

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"fmt"
	"io/fs"
	"math"
	"math/bits"
	"strings"
)

// rankTable maps tokens to their ranks in a few pointer-free arrays,
// about 20 bytes a token where tiktoken-go-loader's map[string]int takes
// over 100, and the GC need not scan them:
//
//   - pairs holds the ranks of two-byte tokens, indexed by the bytes, since
//     merging looks up every adjacent pair of bytes;
//   - short, an open-addressing hash table, holds each token of one, three,
//     four or five bytes whole in a slot, as (rank+1)<<43 | length<<40 |
//     bytes, so that looking one up reads one slot, usually one cache line;
//   - long, another, holds for each longer token where its record starts
//     in records (length, rank in 3 bytes, bytes) in the low bits and a
//     fingerprint of its hash in the others: a probe reads a record only
//     when the fingerprints agree, nearly never for a byte string that is
//     no token.
//
// Both tables are at most about 60% full and probe linearly.
type rankTable struct {
	pairs   []int32
	short   []uint64
	long    []uint32
	offMask uint32 // the bits of a long slot that hold its record's offset
	records string
}

const (
	maxTokenLen = math.MaxUint8
	shortLen    = 5              // the longest token in short
	maxRank     = 1<<(64-43) - 2 // rank+1 fits above a short token's length and bytes
	// recordPad follows the last record, so that a token's first 8 bytes
	// can be read at once.
	recordPad = 8
	// minTagBits keeps long's fingerprints long enough to spare most record
	// reads.
	minTagBits = 8
)

// loadRankTable reads a tiktoken rank file (one "base64-token rank" a
// line) from fsys in two streaming passes, sizing, then filling, so that
// nothing but the table is kept and little more is allocated: the
// loader's own LoadTiktokenBpe builds a map of the whole file, ten times
// the table's size in garbage.
func loadRankTable(fsys fs.FS, file string) (*rankTable, error) {
	var nShort, nLong int
	size := 1 // of records: offset 0 marks an empty slot
	err := scanRanks(fsys, file, func(tok []byte, rank int) error {
		if rank > maxRank {
			return fmt.Errorf("rank %d too large", rank)
		}
		switch {
		case len(tok) > shortLen:
			nLong++
			size += 4 + len(tok)
		case len(tok) != 2:
			nShort++
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	t := &rankTable{
		pairs:   make([]int32, 1<<16),
		short:   make([]uint64, nShort*5/3+1),
		long:    make([]uint32, nLong*5/3+1),
		offMask: 1<<bits.Len(uint(size)) - 1,
	}
	if t.offMask >= 1<<(32-minTagBits) {
		return nil, fmt.Errorf("%d bytes of tokens, too many", size)
	}
	for i := range t.pairs {
		t.pairs[i] = noRank
	}
	var records strings.Builder
	records.Grow(size + recordPad)
	records.WriteByte(0)
	err = scanRanks(fsys, file, func(tok []byte, rank int) error {
		var dup int32 = noRank
		switch {
		case len(tok) == 2:
			p := &t.pairs[int(tok[0])<<8|int(tok[1])]
			dup, *p = *p, int32(rank)
		case len(tok) <= shortLen:
			key := uint64(len(tok))<<40 | load64(string(tok))
			i := t.shortSlot(key)
			for ; t.short[i] != 0; i = next(i, len(t.short)) {
				if t.short[i]&(1<<43-1) == key {
					dup = int32(t.short[i]>>43) - 1
				}
			}
			t.short[i] = uint64(rank+1)<<43 | key
		default:
			off := records.Len()
			records.Write([]byte{byte(len(tok)), byte(rank), byte(rank >> 8), byte(rank >> 16)})
			records.Write(tok)
			recs := records.String()
			_, tag, i := t.longHash(string(tok))
			for ; t.long[i] != 0; i = next(i, len(t.long)) {
				if r := recs[t.long[i]&t.offMask:]; t.long[i]&^t.offMask == tag && r[4:4+int(r[0])] == string(tok) {
					dup = int32(r[1]) | int32(r[2])<<8 | int32(r[3])<<16
				}
			}
			t.long[i] = tag | uint32(off)
		}
		if dup != noRank {
			// tiktoken-go's map would keep the last rank, the table the first.
			return fmt.Errorf("token %q has ranks %d and %d", tok, dup, rank)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	records.Write(make([]byte, recordPad))
	t.records = records.String()
	return t, nil
}

// scanRanks calls fn with each token of file, decoded, and its rank. The
// token's bytes are valid only during the call.
func scanRanks(fsys fs.FS, file string, fn func(tok []byte, rank int) error) error {
	f, err := fsys.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	var tok [maxTokenLen + 1]byte
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		text := sc.Bytes()
		if len(text) == 0 {
			continue
		}
		b64, num, ok := bytes.Cut(text, []byte{' '})
		if !ok || base64.StdEncoding.DecodedLen(len(b64)) > len(tok) {
			return fmt.Errorf("%s:%d: not a token of at most %d bytes and its rank", file, line, maxTokenLen)
		}
		n, err := base64.StdEncoding.Decode(tok[:], b64)
		if err != nil || n == 0 || n > maxTokenLen {
			return fmt.Errorf("%s:%d: bad token %q", file, line, b64)
		}
		rank := 0
		for _, c := range num {
			if c < '0' || c > '9' || rank > math.MaxInt32/10 {
				return fmt.Errorf("%s:%d: bad rank %q", file, line, num)
			}
			rank = rank*10 + int(c-'0')
		}
		if len(num) == 0 {
			return fmt.Errorf("%s:%d: no rank", file, line)
		}
		if err := fn(tok[:n], rank); err != nil {
			return fmt.Errorf("%s:%d: %w", file, line, err)
		}
	}
	return sc.Err()
}

// rank returns the rank of the token s, or noRank.
func (t *rankTable) rank(s string) int32 {
	n := len(s)
	if n == 2 {
		return t.pair(s[0], s[1])
	}
	if n <= shortLen {
		key := uint64(n)<<40 | load64(s)
		for i := t.shortSlot(key); ; i = next(i, len(t.short)) {
			e := t.short[i]
			if e == 0 {
				return noRank
			}
			if e&(1<<43-1) == key {
				return int32(e>>43) - 1
			}
		}
	}
	head, tag, i := t.longHash(s)
	for ; ; i = next(i, len(t.long)) {
		e := t.long[i]
		if e == 0 {
			return noRank
		}
		if e&^t.offMask != tag {
			continue
		}
		// The record: length, rank, then at least 8 bytes, thanks to
		// recordPad, of which the first n are the token's.
		rec := t.records[e&t.offMask:]
		mask := uint64(1)<<(8*n) - 1 // of the bytes of head that are s's: all past 8 (0-1)
		if int(rec[0]) == n && (le64(rec[4:])^head)&mask == 0 && (n <= 8 || rec[4+8:4+n] == s[8:]) {
			return int32(rec[1]) | int32(rec[2])<<8 | int32(rec[3])<<16
		}
	}
}

// pair returns the rank of the two-byte token ab, or noRank.
func (t *rankTable) pair(a, b byte) int32 {
	return t.pairs[int(a)<<8|int(b)]
}

// shortSlot returns the slot where the search for a short token begins,
// given its length<<40 | bytes.
func (t *rankTable) shortSlot(key uint64) int {
	return reduce(mix(key*0x9e3779b97f4a7c15), len(t.short))
}

// longHash returns the first 8 bytes of s, little-endian, its fingerprint,
// in place in a slot, and the slot where the search for s begins.
func (t *rankTable) longHash(s string) (head uint64, tag uint32, slot int) {
	head = load64(s)
	h := (head ^ uint64(len(s))<<56) * 0x9e3779b97f4a7c15
	for i := 8; i < len(s); i += 8 {
		h = (h ^ h>>29 ^ load64(s[i:])) * 0xbf58476d1ce4e5b9
	}
	h = mix(h)
	return head, uint32(h) &^ t.offMask, reduce(h, len(t.long))
}

// mix scrambles the bits of a product, whose low bits depend only on
// the low bits of its factors.
func mix(h uint64) uint64 {
	return (h ^ h>>32) * 0x94d049bb133111eb
}

// reduce maps the top 32 bits of h to [0, n), for n < 1<<32.
func reduce(h uint64, n int) int {
	return int((h >> 32) * uint64(n) >> 32)
}

// next returns the slot after i in a table of n.
func next(i, n int) int {
	if i++; i == n {
		return 0
	}
	return i
}

// le64 returns the first 8 bytes of s, little-endian.
func le64(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// load64 returns the first 8 bytes of s, or all of them zero-padded,
// little-endian. Overlapping loads cover the lengths in between.
func load64(s string) uint64 {
	switch n := len(s); {
	case n >= 8:
		return le64(s)
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
