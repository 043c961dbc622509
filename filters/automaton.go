package filters

import "fmt"

// automaton finds many keywords in one pass. It is an Aho-Corasick automaton
// compiled to a DFA over byte classes: bytes that appear in no keyword share
// class 0, and ASCII letters fold to one class per letter, so matching is
// case-insensitive over ASCII and exact for every other byte. States with
// output are numbered last, so the hot loop tests for a hit with a single
// comparison.
type automaton struct {
	class    [256]uint8
	shift    uint     // log2 of the padded number of classes
	trans    []uint16 // trans[state<<shift|class] is the next state
	firstOut uint16   // states >= firstOut have output
	out      [][]int32
	lens     []int
	maxLen   int // longest pattern
}

// acHit is one keyword occurrence: pattern index and end offset.
type acHit struct {
	pat int32
	end int32
}

func lowerASCII(b byte) byte {
	if 'A' <= b && b <= 'Z' {
		return b + 'a' - 'A'
	}
	return b
}

// newAutomaton compiles patterns. Empty patterns never match. It panics if
// the automaton would need more than 65535 states, which is far beyond any
// plausible rule set.
func newAutomaton(patterns []string) *automaton {
	a := &automaton{lens: make([]int, len(patterns))}
	nclass := 1
	for _, p := range patterns {
		for i := 0; i < len(p); i++ {
			b := lowerASCII(p[i])
			if a.class[b] == 0 {
				if nclass == 255 {
					panic("filters: too many distinct keyword bytes")
				}
				a.class[b] = uint8(nclass)
				nclass++
			}
		}
	}
	for b := 'A'; b <= 'Z'; b++ {
		a.class[b] = a.class[b+'a'-'A']
	}
	for nclass > 1<<a.shift {
		a.shift++
	}
	width := 1 << a.shift

	// Trie.
	next := [][]int32{make([]int32, width)}
	var outs [][]int32
	outs = append(outs, nil)
	for pi, p := range patterns {
		a.lens[pi] = len(p)
		a.maxLen = max(a.maxLen, len(p))
		if p == "" {
			continue
		}
		s := int32(0)
		for i := 0; i < len(p); i++ {
			c := a.class[p[i]]
			if next[s][c] == 0 {
				next = append(next, make([]int32, width))
				outs = append(outs, nil)
				next[s][c] = int32(len(next) - 1)
			}
			s = next[s][c]
		}
		outs[s] = append(outs[s], int32(pi))
	}
	if len(next) > 1<<16-1 {
		panic(fmt.Sprintf("filters: keyword automaton has %d states", len(next)))
	}

	// Failure links, breadth first, turning the trie into a DFA in place.
	// Because 0 is the root, a missing edge (0) already means "to the root"
	// for the root itself; deeper states inherit their failure's edges.
	fail := make([]int32, len(next))
	queue := make([]int32, 0, len(next))
	for c := 0; c < width; c++ {
		if s := next[0][c]; s != 0 {
			queue = append(queue, s)
		}
	}
	for qi := 0; qi < len(queue); qi++ {
		s := queue[qi]
		for c := 0; c < width; c++ {
			t := next[s][c]
			if t == 0 {
				next[s][c] = next[fail[s]][c]
				continue
			}
			fail[t] = next[fail[s]][c]
			outs[t] = append(outs[t], outs[fail[t]]...)
			queue = append(queue, t)
		}
	}

	// Renumber: the root stays 0, states without output follow in
	// breadth-first order, so that the shallow states where a scan spends
	// its time share cache lines, and states with output go last.
	order := make([]int32, len(next))
	n := int32(1)
	for _, s := range queue {
		if len(outs[s]) == 0 {
			order[s] = n
			n++
		}
	}
	a.firstOut = uint16(n)
	for _, s := range queue {
		if len(outs[s]) > 0 {
			order[s] = n
			n++
			a.out = append(a.out, outs[s])
		}
	}
	if len(outs[0]) > 0 {
		panic("filters: empty keyword") // unreachable: empty patterns are skipped
	}
	a.trans = make([]uint16, len(next)*width)
	for s := range next {
		row := a.trans[int(order[s])*width:]
		for c := 0; c < width; c++ {
			row[c] = uint16(order[next[s][c]])
		}
	}
	return a
}

// scan appends every keyword occurrence in s to dst, in order of end offset.
// Offsets beyond 2 GiB are not supported; callers bound their input far
// below that.
func (a *automaton) scan(s string, dst []acHit) []acHit {
	dst, _ = a.scanRange(s, 0, 0, len(s), dst)
	return dst
}

// scanRange runs the automaton from the root at from and appends the hits
// that end in (lo, hi]. It also reports whether s[from:hi] is ASCII, for
// free: the loop is bound by the latency of the transition loads.
func (a *automaton) scanRange(s string, from, lo, hi int, dst []acHit) ([]acHit, bool) {
	trans, class, shift, first := a.trans, &a.class, a.shift, uint(a.firstOut)
	st, or := uint(0), byte(0)
	for i := from; i < hi; i++ {
		c := s[i]
		or |= c
		st = uint(trans[st<<shift|uint(class[c])])
		if st >= first && i >= lo {
			for _, p := range a.out[st-first] {
				dst = append(dst, acHit{pat: p, end: int32(i + 1)})
			}
		}
	}
	return dst, or < 0x80
}

// scanSplit is scan for long texts: it runs four independent automata on
// four quarters of s (each but the first starting maxLen-1 bytes early, in
// the root state, so that no keyword across a boundary is missed),
// interleaved in one loop. The transitions of one quarter do not wait for
// another's, so the processor overlaps their load latencies. tmp holds
// reusable scratch buffers.
func (a *automaton) scanSplit(s string, dst []acHit, tmp *[3][]acHit) ([]acHit, bool) {
	n := len(s)
	q, back := n/4, a.maxLen-1
	if n < 1<<10 || back >= q {
		return a.scanRange(s, 0, 0, n, dst)
	}
	trans, class, shift, first := a.trans, &a.class, a.shift, uint(a.firstOut)
	out := [4]*[]acHit{&dst, &tmp[0], &tmp[1], &tmp[2]}
	for k := 1; k < 4; k++ {
		*out[k] = (*out[k])[:0]
	}
	// Quarter k reports the hits that end in (k*q, end[k]].
	end := [4]int{q, 2 * q, 3 * q, n}
	pos := [4]int{0, q - back, 2*q - back, 3*q - back}
	var st [4]uint
	var or byte
	// In lockstep for the length of the first, the shortest quarter.
	i0, i1, i2, i3 := pos[0], pos[1], pos[2], pos[3]
	for ; i0 < q; i0, i1, i2, i3 = i0+1, i1+1, i2+1, i3+1 {
		c0, c1, c2, c3 := s[i0], s[i1], s[i2], s[i3]
		or |= c0 | c1 | c2 | c3
		st[0] = uint(trans[st[0]<<shift|uint(class[c0])])
		st[1] = uint(trans[st[1]<<shift|uint(class[c1])])
		st[2] = uint(trans[st[2]<<shift|uint(class[c2])])
		st[3] = uint(trans[st[3]<<shift|uint(class[c3])])
		if st[0] >= first || st[1] >= first || st[2] >= first || st[3] >= first {
			at := [4]int{i0, i1, i2, i3}
			for k := range 4 {
				if st[k] >= first && at[k] >= k*q {
					for _, p := range a.out[st[k]-first] {
						*out[k] = append(*out[k], acHit{pat: p, end: int32(at[k] + 1)})
					}
				}
			}
		}
	}
	// The rest of the other quarters, one by one.
	pos = [4]int{i0, i1, i2, i3}
	for k := 1; k < 4; k++ {
		t := st[k]
		for i := pos[k]; i < end[k]; i++ {
			c := s[i]
			or |= c
			t = uint(trans[t<<shift|uint(class[c])])
			if t >= first && i >= k*q {
				for _, p := range a.out[t-first] {
					*out[k] = append(*out[k], acHit{pat: p, end: int32(i + 1)})
				}
			}
		}
	}
	dst = append(dst, tmp[0]...)
	dst = append(dst, tmp[1]...)
	dst = append(dst, tmp[2]...)
	return dst, or < 0x80
}

// contains reports whether s holds any of the keywords, stopping at the
// first: the cheap test for short strings against a long list.
func (a *automaton) contains(s string) bool {
	trans, class, shift, first := a.trans, &a.class, a.shift, uint(a.firstOut)
	st := uint(0)
	for i := 0; i < len(s); i++ {
		st = uint(trans[st<<shift|uint(class[s[i]])])
		if st >= first {
			return true
		}
	}
	return false
}

// containsWord is contains for keywords that are not the label of a
// placeholder: an occurrence followed by "_" and a digit does not count.
func (a *automaton) containsWord(s string) bool {
	trans, class, shift, first := a.trans, &a.class, a.shift, uint(a.firstOut)
	st := uint(0)
	for i := 0; i < len(s); i++ {
		st = uint(trans[st<<shift|uint(class[s[i]])])
		if st >= first && !(i+2 < len(s) && s[i+1] == '_' && isDigit(s[i+2])) {
			return true
		}
	}
	return false
}
