package audit

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"slices"
	"strings"
	"time"
)

// Kinds of Problem.
const (
	Modified  = "modified"  // the record's hash does not match its content
	Deleted   = "deleted"   // records are missing between two records
	Inserted  = "inserted"  // a record appears twice
	Reordered = "reordered" // a record appears after a later one
	Forked    = "forked"    // a record links to a different predecessor
	Restarted = "restarted" // the chain starts again at seq 1
	Truncated = "truncated" // records up to a checkpoint are gone
	Malformed = "malformed" // the record cannot be parsed
)

// Problem is one place where a trail fails verification.
type Problem struct {
	Kind   string `json:"kind"`
	Chain  string `json:"chain,omitempty"`
	Seq    uint64 `json:"seq,omitempty"`
	Pos    string `json:"pos,omitempty"`
	Detail string `json:"detail"`
}

func (p Problem) String() string {
	var b strings.Builder
	if p.Pos != "" {
		b.WriteString(p.Pos + ": ")
	}
	if p.Chain != "" {
		fmt.Fprintf(&b, "chain %s seq %d: ", p.Chain, p.Seq)
	}
	b.WriteString(p.Kind + ": " + p.Detail)
	return b.String()
}

// ChainReport sums up one chain of a trail.
type ChainReport struct {
	Chain   string `json:"chain"`
	Records int    `json:"records"`
	// First and Last are the lowest and the last sequence numbers read. A
	// First above 1 means older records were rotated or trimmed away.
	First uint64 `json:"first"`
	Last  uint64 `json:"last"`
	// Head is the checkpoint of the last record read, at its event's time.
	Head Checkpoint `json:"head"`
	// FirstProblem is where the chain first fails, if it does.
	FirstProblem *Problem `json:"firstProblem,omitempty"`
}

// Report is the outcome of Verify.
type Report struct {
	Records  int           `json:"records"`
	Chains   []ChainReport `json:"chains"`
	Problems []Problem     `json:"problems"`
	// More counts problems left out of Problems beyond MaxProblems.
	More int `json:"more,omitempty"`
	// Notes are what could not be checked, such as a checkpoint older than
	// every record kept; they are not failures.
	Notes []string `json:"notes,omitempty"`
}

// OK reports whether the trail verified.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

// MaxProblems caps Report.Problems.
const MaxProblems = 1000

// recentHashes is how many hashes of each chain Verify remembers, to tell
// a duplicated record from a misplaced one.
const recentHashes = 4096

type chainState struct {
	ChainReport
	lastHash string
	head     json.RawMessage   // the last record's event
	recent   map[string]string // hash -> position, of recent records
	order    []string
	first    int   // index of the first problem in Report.Problems, or -1
	gaps     []gap // reported gaps, which later records may fill
}

// gap is a run of missing records, reported as deleted until they turn up
// later, out of order.
type gap struct {
	problem          int // index in Report.Problems, or -1
	from, to, absent uint64
}

// verifier is the state of one Verify.
type verifier struct {
	seal   *sealer
	rep    *Report
	chains map[string]*chainState
	cps    cpIndex
}

// Verify checks records, as read from a Source, under key: every record's
// hash, and every link from one record to the next within its chain. It
// then checks that each checkpoint's record is present and unchanged, which
// catches the truncation of a chain's tail (without a checkpoint, deleting
// the last records of a chain cannot be told from their never being
// written). Problems are reported with where they are; the first of each
// chain is the one to look at, later ones may follow from it. The error is
// a failure to read, not a failed verification.
func Verify(ctx context.Context, key []byte, records iter.Seq2[Record, error], checkpoints []Checkpoint) (*Report, error) {
	s, err := newSealer(key)
	if err != nil {
		return nil, err
	}
	v := &verifier{seal: s, rep: &Report{Problems: []Problem{}}, chains: map[string]*chainState{}, cps: indexCheckpoints(checkpoints)}
	for r, err := range records {
		var me *MalformedError
		if errors.As(err, &me) {
			v.problem(nil, Problem{Kind: Malformed, Pos: me.Pos, Detail: me.Err.Error()})
			continue
		}
		if err != nil {
			return nil, err
		}
		v.record(&r)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	v.cps.unmet(v.rep, v.chains, v.problem)
	for _, st := range v.chains {
		var ev struct{ Time time.Time }
		_ = json.Unmarshal(st.head, &ev)
		st.Head = Checkpoint{Chain: st.Chain, Seq: st.Last, Hash: st.lastHash, Time: ev.Time}
		if st.first >= 0 {
			p := v.rep.Problems[st.first]
			st.FirstProblem = &p
		}
		v.rep.Chains = append(v.rep.Chains, st.ChainReport)
	}
	slices.SortFunc(v.rep.Chains, func(a, b ChainReport) int { return strings.Compare(a.Chain, b.Chain) })
	return v.rep, nil
}

// problem reports p, of chain st if not nil, and returns its index in
// Report.Problems, or -1 past MaxProblems.
func (v *verifier) problem(st *chainState, p Problem) int {
	if len(v.rep.Problems) == MaxProblems {
		v.rep.More++
		if st != nil && st.first < 0 && st.FirstProblem == nil {
			st.FirstProblem = &p
		}
		return -1
	}
	v.rep.Problems = append(v.rep.Problems, p)
	i := len(v.rep.Problems) - 1
	if st != nil && st.first < 0 && st.FirstProblem == nil {
		st.first = i
	}
	return i
}

func (v *verifier) record(r *Record) {
	v.rep.Records++
	st := v.chains[r.Chain]
	if st == nil {
		st = &chainState{ChainReport: ChainReport{Chain: r.Chain, First: r.Seq}, recent: map[string]string{}, first: -1}
		v.chains[r.Chain] = st
	}
	st.Records++
	st.First = min(st.First, r.Seq)
	if p, bad := v.cps.meet(r); bad {
		v.problem(st, p)
	}
	at := Problem{Chain: r.Chain, Seq: r.Seq, Pos: r.Pos}
	valid := v.seal.check(r)
	switch {
	case !valid:
		at.Kind, at.Detail = Modified, "the hash does not match the record's content: it was edited, or forged without the key"
		v.problem(st, at)
	case r.raw != nil && !bytes.Equal(r.raw, r.AppendJSON(nil)):
		at.Kind, at.Detail = Modified, "the line differs from the record's own encoding outside its hashed fields"
		v.problem(st, at)
	}
	if st.Records == 1 {
		if r.Seq == 1 && r.Prev != genesis {
			at.Kind, at.Detail = Forked, "the first record of the chain links to a predecessor"
			v.problem(st, at)
		}
		st.advance(r)
		return
	}
	switch {
	case r.Seq == st.Last+1 && r.Prev == st.lastHash:
		// In place.
	case r.Seq == st.Last+1:
		at.Kind, at.Detail = Forked, fmt.Sprintf("does not link to the seq %d read before it: another writer uses this chain id, or a record was replaced", st.Last)
		v.problem(st, at)
	case r.Seq > st.Last+1:
		at.Kind, at.Detail = Deleted, fmt.Sprintf("follows seq %d: %s missing", st.Last, span(st.Last+1, r.Seq-1))
		st.gaps = append(st.gaps, gap{problem: v.problem(st, at), from: st.Last + 1, to: r.Seq - 1, absent: r.Seq - 1 - st.Last})
	case r.Seq == 1 && r.Prev == genesis && valid:
		at.Kind, at.Detail = Restarted, fmt.Sprintf("the chain starts again after seq %d: a sink was reset, or another writer uses this chain id", st.Last)
		v.problem(st, at)
	default:
		// Behind the head: a copy, or a record out of its place. The head
		// stays where it was.
		if pos, ok := st.recent[r.Hash]; ok {
			at.Kind, at.Detail = Inserted, "a copy of the record at "+pos
			v.problem(st, at)
			return
		}
		at.Kind, at.Detail = Reordered, fmt.Sprintf("appears after seq %d", st.Last)
		v.problem(st, at)
		st.remember(r)
		v.fill(st, r.Seq)
		return
	}
	st.advance(r)
}

// fill notes that seq, reported missing, came later: once a whole gap has
// come, it was a reordering, not a deletion.
func (v *verifier) fill(st *chainState, seq uint64) {
	for i := range st.gaps {
		g := &st.gaps[i]
		if seq < g.from || seq > g.to || g.absent == 0 {
			continue
		}
		if g.absent--; g.absent == 0 && g.problem >= 0 {
			p := &v.rep.Problems[g.problem]
			p.Kind = Reordered
			p.Detail = fmt.Sprintf("%s should come before this record and appear later", span(g.from, g.to))
		}
		return
	}
}

func (st *chainState) advance(r *Record) {
	st.Last, st.lastHash, st.head = r.Seq, r.Hash, r.Event
	st.remember(r)
}

// remember keeps r's hash among the chain's recent ones.
func (st *chainState) remember(r *Record) {
	if len(st.order) == recentHashes {
		delete(st.recent, st.order[0])
		st.order = st.order[1:]
	}
	st.recent[r.Hash] = r.Pos
	st.order = append(st.order, r.Hash)
}

// cpIndex indexes checkpoints by chain and seq, and remembers which
// were met.
type cpIndex map[string]map[uint64]*metCheckpoint

type metCheckpoint struct {
	Checkpoint
	met bool
}

func indexCheckpoints(cps []Checkpoint) cpIndex {
	out := cpIndex{}
	for _, cp := range cps {
		if out[cp.Chain] == nil {
			out[cp.Chain] = map[uint64]*metCheckpoint{}
		}
		out[cp.Chain][cp.Seq] = &metCheckpoint{Checkpoint: cp}
	}
	return out
}

// meet returns the problem of r against its checkpoint, if it has one.
func (c cpIndex) meet(r *Record) (Problem, bool) {
	cp := c[r.Chain][r.Seq]
	if cp == nil {
		return Problem{}, false
	}
	if cp.Hash != r.Hash {
		return Problem{Kind: Modified, Chain: r.Chain, Seq: r.Seq, Pos: r.Pos,
			Detail: "not the record checkpointed at " + cp.Time.Format(time.RFC3339)}, true
	}
	cp.met = true
	return Problem{}, false
}

// unmet reports the checkpoints whose record was never read.
func (c cpIndex) unmet(rep *Report, chains map[string]*chainState, problem func(*chainState, Problem) int) {
	var all []*metCheckpoint
	for _, byseq := range c {
		for _, cp := range byseq {
			all = append(all, cp)
		}
	}
	slices.SortFunc(all, func(a, b *metCheckpoint) int {
		if n := strings.Compare(a.Chain, b.Chain); n != 0 {
			return n
		}
		return cmp.Compare(a.Seq, b.Seq)
	})
	for _, cp := range all {
		if cp.met {
			continue
		}
		st := chains[cp.Chain]
		at := Problem{Kind: Truncated, Chain: cp.Chain, Seq: cp.Seq}
		when := cp.Time.Format(time.RFC3339)
		switch {
		case st == nil:
			at.Detail = fmt.Sprintf("checkpointed at %s, but the trail holds no record of the chain", when)
			problem(nil, at)
		case cp.Seq > st.Last:
			at.Detail = fmt.Sprintf("checkpointed at %s, but the chain ends at seq %d", when, st.Last)
			problem(st, at)
		case cp.Seq < st.First:
			rep.Notes = append(rep.Notes, fmt.Sprintf("chain %s: the checkpoint at seq %d is older than the oldest record kept, seq %d", cp.Chain, cp.Seq, st.First))
		default:
			at.Kind, at.Detail = Deleted, fmt.Sprintf("the record checkpointed at %s is missing", when)
			problem(st, at)
		}
	}
}

func span(from, to uint64) string {
	if from == to {
		return fmt.Sprintf("seq %d", from)
	}
	return fmt.Sprintf("seq %d to %d (%d records)", from, to, to-from+1)
}

// WriteText writes the report for people: a line per chain, the problems,
// the notes and a verdict, naming the trail name.
func (r *Report) WriteText(w io.Writer, name string) {
	for _, c := range r.Chains {
		fmt.Fprintf(w, "chain %s: seq %d to %d, %d records", c.Chain, c.First, c.Last, c.Records)
		if c.First > 1 {
			fmt.Fprint(w, " (older records rotated or trimmed away)")
		}
		if c.FirstProblem != nil {
			fmt.Fprintf(w, ": FAILS first at %s\n", c.FirstProblem)
		} else {
			fmt.Fprintf(w, ": ok, head %s\n", c.Head.Hash)
		}
	}
	if len(r.Problems) > 0 {
		fmt.Fprintln(w, "problems:")
		for _, p := range r.Problems {
			fmt.Fprintf(w, "  %s\n", p)
		}
		if r.More > 0 {
			fmt.Fprintf(w, "  ... and %d more\n", r.More)
		}
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	verdict := "verified"
	if !r.OK() {
		verdict = "FAILED"
	}
	fmt.Fprintf(w, "%s: %d records in %d chains, %d problems: %s\n", name, r.Records, len(r.Chains), len(r.Problems)+r.More, verdict)
}

// ReadCheckpoints reads checkpoints written as JSON Lines: the output of
// `airlock audit checkpoint`, or the broker's log, whose "audit
// checkpoint" lines carry the same fields. Other lines are passed over.
func ReadCheckpoints(r io.Reader) ([]Checkpoint, error) {
	var cps []Checkpoint
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var cp Checkpoint
		if json.Unmarshal(sc.Bytes(), &cp) == nil && ValidChainID(cp.Chain) && cp.Seq > 0 && isHash(cp.Hash) {
			cps = append(cps, cp)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read checkpoints: %w", err)
	}
	if len(cps) == 0 {
		return nil, errors.New("no checkpoint found")
	}
	return cps, nil
}
