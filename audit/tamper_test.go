package audit

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"
)

// store is a real sink and what an attacker with write access to it can do:
// replace its content.
type store struct {
	sink    Sink
	source  Source
	rewrite func(t *testing.T, recs []Record)
}

func fileStore(t *testing.T) store {
	f := newFile(t, FileOptions{})
	return store{sink: f, source: NewFileReader(f.path), rewrite: func(t *testing.T, recs []Record) {
		var b []byte
		for i := range recs {
			b = append(recs[i].AppendJSON(b), '\n')
		}
		if err := os.WriteFile(f.path, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}}
}

func redisStore(t *testing.T) store {
	c := redisClient(t)
	key := testStream(t, c)
	s := NewRedisStream(c, key, RedisOptions{})
	return store{sink: s, source: s, rewrite: func(t *testing.T, recs []Record) {
		ctx := context.Background()
		if err := c.Del(ctx, key).Err(); err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			err := c.XAdd(ctx, &redis.XAddArgs{Stream: key, Values: []any{
				"chain", r.Chain, "seq", r.Seq, "prev", r.Prev, "hash", r.Hash, "event", []byte(r.Event),
			}}).Err()
			if err != nil {
				t.Fatal(err)
			}
		}
	}}
}

// forge seals r again under a key that is not the audit key.
func forge(r Record) Record {
	s, _ := newSealer([]byte("not-the-audit-key-but-long-enough"))
	prev, _ := hex.DecodeString(r.Prev)
	r.Hash = hex.EncodeToString(s.sum(r.Chain, r.Seq, prev, r.Event))
	return r
}

type problemAt struct {
	Kind string
	Seq  uint64
}

// TestTampering writes ten events through the real file sink and the real
// Redis stream, tampers with the stored trail in every way, and checks
// that Verify says what happened and where.
func TestTampering(t *testing.T) {
	tests := []struct {
		name   string
		tamper func(recs []Record) []Record
		// useCheckpoint verifies against the checkpoint taken after the
		// tenth record.
		useCheckpoint bool
		want          []problemAt
	}{
		{
			name:   "untouched",
			tamper: func(r []Record) []Record { return r },
		},
		{
			name: "edit an event",
			tamper: func(r []Record) []Record {
				r[4].Event = bytes.Replace(r[4].Event, []byte(`"decision":"blocked"`), []byte(`"decision":"served"`), 1)
				return r
			},
			want: []problemAt{{Modified, 5}},
		},
		{
			name: "edit an event and hash it again without the key",
			tamper: func(r []Record) []Record {
				r[4].Event = bytes.Replace(r[4].Event, []byte(`"server":"beta"`), []byte(`"server":"alpha"`), 1)
				r[4] = forge(r[4])
				return r
			},
			want: []problemAt{{Modified, 5}, {Forked, 6}},
		},
		{
			name:   "delete a record",
			tamper: func(r []Record) []Record { return slices.Delete(r, 4, 5) },
			want:   []problemAt{{Deleted, 6}},
		},
		{
			name:   "insert a copy of a record",
			tamper: func(r []Record) []Record { return slices.Insert(r, 7, r[2]) },
			want:   []problemAt{{Inserted, 3}},
		},
		{
			name: "insert a forged record",
			tamper: func(r []Record) []Record {
				ev, _ := json.Marshal(testEvent(99))
				return append(r, forge(Record{Chain: r[9].Chain, Seq: 11, Prev: r[9].Hash, Event: ev}))
			},
			want: []problemAt{{Modified, 11}},
		},
		{
			name: "reorder two records",
			tamper: func(r []Record) []Record {
				r[3], r[4] = r[4], r[3]
				return r
			},
			want: []problemAt{{Reordered, 5}, {Reordered, 4}},
		},
		{
			name:   "truncate, without a checkpoint",
			tamper: func(r []Record) []Record { return r[:8] },
		},
		{
			name:          "truncate, against a checkpoint",
			tamper:        func(r []Record) []Record { return r[:8] },
			useCheckpoint: true,
			want:          []problemAt{{Truncated, 10}},
		},
	}
	for _, backend := range []struct {
		name string
		new  func(t *testing.T) store
	}{{"file", fileStore}, {"redis", redisStore}} {
		t.Run(backend.name, func(t *testing.T) {
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					st := backend.new(t)
					cp := writeEvents(t, "web-1", 10, st.sink)
					recs := readAll(t, st.source)
					if diff := cmp.Diff([]uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, seqs(recs)); diff != "" {
						t.Fatalf("stored seqs (-want +got):\n%s", diff)
					}
					st.rewrite(t, tt.tamper(recs))
					var cps []Checkpoint
					if tt.useCheckpoint {
						cps = []Checkpoint{cp}
					}
					rep := verify(t, st.source, cps...)
					var got []problemAt
					for _, p := range rep.Problems {
						got = append(got, problemAt{p.Kind, p.Seq})
						if p.Pos == "" && p.Kind != Truncated {
							t.Errorf("problem %v does not say where it is", p)
						}
					}
					if diff := cmp.Diff(tt.want, got); diff != "" {
						t.Errorf("problems (-want +got):\n%s\nreport: %v", diff, rep.Problems)
					}
					if rep.OK() != (len(tt.want) == 0) {
						t.Errorf("OK() = %v with problems %v", rep.OK(), rep.Problems)
					}
					if len(rep.Chains) != 1 {
						t.Fatalf("chains = %+v, want web-1 only", rep.Chains)
					}
					if c := rep.Chains[0]; len(tt.want) > 0 && (c.FirstProblem == nil || c.FirstProblem.Seq != tt.want[0].Seq) {
						t.Errorf("first problem of the chain = %v, want at seq %d", c.FirstProblem, tt.want[0].Seq)
					}
				})
			}
		})
	}
}

// TestTamperingFileLines covers what only a text file allows: a line that
// is no record, and a record whose line carries more than the record.
func TestTamperingFileLines(t *testing.T) {
	tests := []struct {
		name string
		edit func(lines [][]byte) [][]byte
		want []problemAt
		pos  string
	}{
		{
			name: "a line that is not a record",
			edit: func(l [][]byte) [][]byte { return slices.Insert(l, 2, []byte(`{"chain":"web-1","seq":"three"}`)) },
			want: []problemAt{{Malformed, 0}},
			pos:  "audit.jsonl:3",
		},
		{
			name: "a field added outside the hashed ones",
			edit: func(l [][]byte) [][]byte {
				l[3] = bytes.Replace(l[3], []byte(`{"chain"`), []byte(`{"note":"approved by legal","chain"`), 1)
				return l
			},
			want: []problemAt{{Modified, 4}},
			pos:  "audit.jsonl:4",
		},
		{
			name: "an event cut out of the middle of a line",
			edit: func(l [][]byte) [][]byte {
				l[5] = bytes.Replace(l[5], []byte(`"hints":["claude-3-sonnet"],`), nil, 1)
				return l
			},
			want: []problemAt{{Modified, 6}},
			pos:  "audit.jsonl:6",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFile(t, FileOptions{})
			writeEvents(t, "web-1", 8, f)
			data, err := os.ReadFile(f.path)
			if err != nil {
				t.Fatal(err)
			}
			lines := bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n"))
			lines = tt.edit(lines)
			if err := os.WriteFile(f.path, append(bytes.Join(lines, []byte("\n")), '\n'), 0o600); err != nil {
				t.Fatal(err)
			}
			rep := verify(t, NewFileReader(f.path))
			var got []problemAt
			for _, p := range rep.Problems {
				got = append(got, problemAt{p.Kind, p.Seq})
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Fatalf("problems (-want +got):\n%s", diff)
			}
			if rep.Problems[0].Pos != tt.pos {
				t.Errorf("pos = %q, want %q", rep.Problems[0].Pos, tt.pos)
			}
		})
	}
}

// TestVerifyWrongKey: a trail checked with another key fails everywhere.
func TestVerifyWrongKey(t *testing.T) {
	f := newFile(t, FileOptions{})
	writeEvents(t, "web-1", 3, f)
	rep, err := Verify(context.Background(), []byte("another-key-of-enough-length"), NewFileReader(f.path).Records(context.Background(), ""), nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{Modified, Modified, Modified}, kinds(rep)); diff != "" {
		t.Errorf("kinds (-want +got):\n%s", diff)
	}
	if _, err := Verify(context.Background(), []byte("short"), nil, nil); err == nil {
		t.Error("Verify accepted a 5-byte key")
	}
}

// TestVerifyRestartedChain: a chain that starts again at seq 1 (a wiped
// sink, or two processes with one chain id) is reported.
func TestVerifyRestartedChain(t *testing.T) {
	dir := t.TempDir()
	a, err := OpenFile(filepath.Join(dir, "a.jsonl"), FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	writeEvents(t, "web-1", 3, a)
	b, err := OpenFile(filepath.Join(dir, "b.jsonl"), FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewChain(context.Background(), "web-1", testKey, []Sink{b}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := c.Record(context.Background(), testEvent(100+i)); err != nil {
			t.Fatal(err)
		}
	}
	c.Close()
	recs := append(readAll(t, NewFileReader(a.path)), readAll(t, NewFileReader(b.path))...)
	rep, err := Verify(context.Background(), testKey, recordsOf(recs), nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{Restarted}, kinds(rep)); diff != "" {
		t.Errorf("kinds (-want +got):\n%s\n%v", diff, rep.Problems)
	}
}
