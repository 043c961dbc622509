package audit

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestFileRotation: the file rotates by size, keeps Keep files, and the
// reader goes across them in order; verify sees a chain whose oldest
// records were rotated away, and no problem.
func TestFileRotation(t *testing.T) {
	f := newFile(t, FileOptions{MaxBytes: 4 << 10, Keep: 3})
	writeEvents(t, "web-1", 60, f)
	for i := 1; i <= 3; i++ {
		if _, err := os.Stat(rotated(f.path, i)); err != nil {
			t.Errorf("rotated file %d: %v", i, err)
		}
	}
	if _, err := os.Stat(rotated(f.path, 4)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a 4th rotated file exists with Keep 3: %v", err)
	}
	recs := readAll(t, f)
	if len(recs) == 0 || recs[len(recs)-1].Seq != 60 || recs[0].Seq == 1 {
		t.Fatalf("read seqs %v, want a run ending at 60 without the oldest", seqs(recs))
	}
	for i := 1; i < len(recs); i++ {
		if recs[i].Seq != recs[i-1].Seq+1 {
			t.Fatalf("read seqs %v: not in order", seqs(recs))
		}
	}
	rep := verify(t, f)
	if !rep.OK() || rep.Chains[0].First != recs[0].Seq || rep.Chains[0].Last != 60 {
		t.Errorf("report %+v", rep)
	}
	st, err := os.Stat(f.path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() > 4<<10 {
		t.Errorf("live file is %d bytes, over MaxBytes", st.Size())
	}
}

// TestFileRepairsPartialLine: a record cut short by a crash is removed on
// open, and the chain goes on from the last whole record.
func TestFileRepairsPartialLine(t *testing.T) {
	f := newFile(t, FileOptions{})
	writeEvents(t, "web-1", 3, f)
	data, _ := os.ReadFile(f.path)
	cut := data[:len(data)-40] // the third record, cut short
	os.WriteFile(f.path, cut, 0o600)
	if got := seqs(readAll(t, NewFileReader(f.path))); !slices.Equal(got, []uint64{1, 2}) {
		t.Errorf("reader sees %v, want the whole records only", got)
	}
	f2, err := OpenFile(f.path, FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewChain(context.Background(), "web-1", testKey, []Sink{f2}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	c.Record(context.Background(), testEvent(9))
	c.Close()
	if rep := verify(t, f2); !rep.OK() || rep.Records != 3 {
		t.Errorf("report %+v", rep)
	}
}

// TestFileCursor: reading after a cursor goes on from the record after it,
// across rotated files; a cursor rotated away starts at the oldest kept.
func TestFileCursor(t *testing.T) {
	f := newFile(t, FileOptions{MaxBytes: 3 << 10, Keep: 2})
	writeEvents(t, "web-1", 30, f)
	all := readAll(t, f)
	first := all[0].Seq
	tests := []struct {
		after string
		want  uint64 // first seq read
	}{
		{fileCursor("web-1", first), first + 1},
		{fileCursor("web-1", first+5), first + 6},
		{fileCursor("web-1", 29), 30},
		{fileCursor("web-1", 1), first}, // rotated away
	}
	for _, tt := range tests {
		t.Run(tt.after, func(t *testing.T) {
			var got []uint64
			for r, err := range f.Records(context.Background(), tt.after) {
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, r.Seq)
			}
			want := []uint64{}
			for s := tt.want; s <= 30; s++ {
				want = append(want, s)
			}
			if diff := cmp.Diff(want, append([]uint64{}, got...)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	for r, err := range f.Records(context.Background(), "garbage") {
		if !errors.Is(err, ErrBadCursor) {
			t.Errorf("bad cursor: got %v, %v", r, err)
		}
	}
	if got := seqs(readAll(t, f)); got[0] != first {
		t.Errorf("%v", got)
	}
}

// TestEachLineBackward covers lines longer than the read chunk, an empty
// line and a partial last line.
func TestEachLineBackward(t *testing.T) {
	long := strings.Repeat("x", 150<<10)
	content := "first\n" + long + "\n\nthird\n" + "partial"
	var got []string
	var ends []int64
	err := eachLineBackward(strings.NewReader(content), int64(len(content)), func(line []byte, end int64) bool {
		got = append(got, string(line))
		ends = append(ends, end)
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"third", long, "first"}, got); diff != "" {
		t.Errorf("lines (-want +got):\n%.300s", diff)
	}
	wantEnds := []int64{int64(len(content) - len("partial")), int64(6 + len(long) + 1), 6}
	if diff := cmp.Diff(wantEnds, ends); diff != "" {
		t.Errorf("ends (-want +got):\n%s", diff)
	}
}

// TestFileBackward: newest first, across rotation.
func TestFileBackward(t *testing.T) {
	f := newFile(t, FileOptions{MaxBytes: 3 << 10, Keep: 5})
	writeEvents(t, "web-1", 12, f)
	var got []uint64
	for r, err := range f.Backward(context.Background()) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, r.Seq)
	}
	want := []uint64{12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestFileWriteFailure: a failed write is reported and leaves no partial
// record; the chain gives the records again when the file can be written.
func TestFileWriteFailure(t *testing.T) {
	f := newFile(t, FileOptions{})
	writeEvents(t, "web-1", 2, f)
	// A sink whose file was closed under it fails, as on a full disk.
	f2, err := OpenFile(f.path, FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewChain(context.Background(), "web-1", testKey, []Sink{f2}, Options{RetryAfter: 1})
	if err != nil {
		t.Fatal(err)
	}
	f2.f.Close()
	if err := c.Record(context.Background(), testEvent(3)); err == nil {
		t.Fatal("Record succeeded on a closed file")
	}
	// Reopen it, as an operator freeing space would let writes through.
	f2.f = nil
	if err := c.Record(context.Background(), testEvent(4)); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if diff := cmp.Diff([]uint64{1, 2, 3, 4}, seqs(readAll(t, f2))); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if rep := verify(t, f2); !rep.OK() {
		t.Errorf("problems %v", rep.Problems)
	}
}

func TestFileMode(t *testing.T) {
	f := newFile(t, FileOptions{})
	st, err := os.Stat(f.path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}
}
