package audit

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
)

// FuzzVerifyFile feeds arbitrary file content, which whoever can write the
// file controls, to the reader and Verify: they must not panic, and a
// line that parses must encode to a line that parses the same.
func FuzzVerifyFile(f *testing.F) {
	var buf bytes.Buffer
	writeEvents(f, "web-1", 3, NewWriter(&buf))
	f.Add(buf.Bytes())
	f.Add([]byte("{}\n\n{\"chain\":\"a\",\"seq\":1}\n"))
	f.Add([]byte(`{"chain":"a","seq":1,"prev":"` + genesis + `","hash":"` + genesis + `","event":{}}` + "\n"))
	path := filepath.Join(f.TempDir(), "audit.jsonl") // one per fuzzing process
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		r := NewFileReader(path)
		if _, err := Verify(context.Background(), testKey, r.Records(context.Background(), ""), nil); err != nil {
			t.Fatal(err)
		}
		for rec, err := range r.Records(context.Background(), "") {
			if err != nil {
				continue
			}
			again, err := ParseRecord(rec.AppendJSON(nil))
			if err != nil || again.Chain != rec.Chain || again.Seq != rec.Seq || again.Hash != rec.Hash || !bytes.Equal(again.Event, rec.Event) {
				t.Fatalf("%q encodes to a different record: %v", rec.raw, err)
			}
		}
		for range r.Backward(context.Background()) {
		}
	})
}
