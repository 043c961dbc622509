package broker

import (
	"bytes"
	"strings"
	"testing"
	"testing/iotest"
)

func TestReadAll(t *testing.T) {
	body := strings.Repeat("0123456789", 100)
	for _, announced := range []int64{-1, 0, 1, 999, 1000, 1001, 5000} {
		got, err := readAll(iotest.HalfReader(strings.NewReader(body)), announced, 1<<20)
		if err != nil || string(got) != body {
			t.Errorf("announced %d: %d bytes, %v", announced, len(got), err)
		}
	}
	if _, err := readAll(iotest.ErrReader(iotest.ErrTimeout), 10, 100); err != iotest.ErrTimeout {
		t.Errorf("error %v, want the reader's", err)
	}
	got, _ := readAll(bytes.NewReader(nil), 10, 100)
	if len(got) != 0 {
		t.Errorf("empty body read as %q", got)
	}
}
