package audit

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// FileOptions tune a File sink. The zero value works.
type FileOptions struct {
	// MaxBytes is the size at which the file is rotated. Default 64 MiB.
	MaxBytes int64
	// Keep is how many rotated files are kept: path.1 (the newest) to
	// path.Keep. Default 10.
	Keep int
	// Sync flushes each batch to the disk before acknowledging it, which
	// survives a power loss and costs a disk flush per batch. Without it a
	// record survives the process, not the machine.
	Sync   bool
	Logger *slog.Logger
}

// File is a sink writing records as JSON Lines, rotated by size. It is
// also a Source over the live file and its rotated predecessors.
type File struct {
	*FileReader
	opts FileOptions
	f    *os.File
	size int64
	buf  []byte
}

// OpenFile opens path for appending, creating it (mode 0600) if need be.
// A last line cut short by a crash is removed: it was never acknowledged.
func OpenFile(path string, opts FileOptions) (*File, error) {
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = 64 << 20
	}
	if opts.Keep <= 0 {
		opts.Keep = 10
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	fl := &File{FileReader: NewFileReader(path), opts: opts}
	if err := fl.open(); err != nil {
		return nil, err
	}
	return fl, nil
}

func (fl *File) open() error {
	f, err := os.OpenFile(fl.path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("open audit file: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("open audit file: %w", err)
	}
	size := st.Size()
	if end, err := completeLines(f, size); err != nil {
		f.Close()
		return fmt.Errorf("open audit file: %w", err)
	} else if end != size {
		fl.opts.Logger.Warn("audit file ends in a partial record: removing it", "path", fl.path, "bytes", size-end)
		if err := f.Truncate(end); err != nil {
			f.Close()
			return fmt.Errorf("repair audit file: %w", err)
		}
		size = end
	}
	fl.f, fl.size = f, size
	return nil
}

// Append implements Sink. A failed write is cut back off the file, so
// the file holds whole batches only.
func (fl *File) Append(_ context.Context, recs []Record) error {
	if fl.f == nil {
		if err := fl.open(); err != nil {
			return err
		}
	}
	b := fl.buf[:0]
	for i := range recs {
		b = recs[i].AppendJSON(b)
		b = append(b, '\n')
	}
	if cap(b) <= 1<<20 {
		fl.buf = b
	}
	if fl.size > 0 && fl.size+int64(len(b)) > fl.opts.MaxBytes {
		if err := fl.rotate(); err != nil {
			return err
		}
	}
	n, err := fl.f.Write(b)
	if err == nil && fl.opts.Sync {
		err = fl.f.Sync()
	}
	if err != nil {
		if n > 0 {
			if terr := fl.f.Truncate(fl.size); terr != nil {
				err = errors.Join(err, fmt.Errorf("cut back a failed write: %w", terr))
			}
		}
		return fmt.Errorf("write audit file: %w", err)
	}
	fl.size += int64(n)
	return nil
}

// rotate renames path.N to path.N+1, dropping path.Keep, then path to
// path.1, and starts a new path.
func (fl *File) rotate() error {
	if err := fl.f.Close(); err != nil {
		fl.opts.Logger.Warn("close audit file", "path", fl.path, "err", err)
	}
	fl.f = nil
	keep := fl.opts.Keep
	if err := os.Remove(rotated(fl.path, keep)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("rotate audit file: %w", err)
	}
	for i := keep - 1; i >= 1; i-- {
		if err := os.Rename(rotated(fl.path, i), rotated(fl.path, i+1)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("rotate audit file: %w", err)
		}
	}
	if err := os.Rename(fl.path, rotated(fl.path, 1)); err != nil {
		return fmt.Errorf("rotate audit file: %w", err)
	}
	if fl.opts.Sync {
		if d, err := os.Open(filepath.Dir(fl.path)); err == nil {
			d.Sync()
			d.Close()
		}
	}
	return fl.open()
}

// Close implements Sink.
func (fl *File) Close() error {
	if fl.f == nil {
		return nil
	}
	err := fl.f.Close()
	fl.f = nil
	return err
}

func rotated(path string, i int) string { return path + "." + strconv.Itoa(i) }

// completeLines returns the length of f's prefix that ends in a newline.
func completeLines(f io.ReaderAt, size int64) (int64, error) {
	var b [4096]byte
	for end := size; end > 0; {
		start := max(end-int64(len(b)), 0)
		chunk := b[:end-start]
		if _, err := f.ReadAt(chunk, start); err != nil && err != io.EOF {
			return 0, err
		}
		if i := bytes.LastIndexByte(chunk, '\n'); i >= 0 {
			return start + int64(i) + 1, nil
		}
		end = start
	}
	return 0, nil
}

// FileReader reads a file sink's records, across its rotated files, from
// the outside: `airlock audit` reads a file another process writes.
type FileReader struct {
	path string
}

// NewFileReader returns a reader of path and its rotated files path.N.
func NewFileReader(path string) *FileReader { return &FileReader{path: path} }

type openFile struct {
	name string
	f    *os.File
	size int64
}

// openAll opens the rotated files, oldest first, then path itself. Open
// files survive a rotation under way, so a read sees one consistent set.
func (r *FileReader) openAll() ([]openFile, error) {
	matches, err := filepath.Glob(r.path + ".*")
	if err != nil {
		return nil, err
	}
	type numbered struct {
		n    int
		name string
	}
	var old []numbered
	for _, m := range matches {
		if n, err := strconv.Atoi(strings.TrimPrefix(m, r.path+".")); err == nil && n > 0 {
			old = append(old, numbered{n, m})
		}
	}
	slices.SortFunc(old, func(a, b numbered) int { return b.n - a.n })
	names := make([]string, 0, len(old)+1)
	for _, o := range old {
		names = append(names, o.name)
	}
	names = append(names, r.path)
	var out []openFile
	for _, name := range names {
		f, err := os.Open(name)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err == nil {
			var st os.FileInfo
			if st, err = f.Stat(); err == nil {
				out = append(out, openFile{name: name, f: f, size: st.Size()})
				continue
			}
			f.Close()
		}
		closeAll(out)
		return nil, fmt.Errorf("open audit file: %w", err)
	}
	return out, nil
}

func closeAll(files []openFile) {
	for _, o := range files {
		o.f.Close()
	}
}

// Records implements Source. The cursor of a file record is chain:seq;
// reading after a cursor whose record was rotated away starts at the
// oldest record kept. Within a file set records of a chain are assumed in
// order, which holds for files written by one chain.
func (r *FileReader) Records(ctx context.Context, after string) iter.Seq2[Record, error] {
	return func(yield func(Record, error) bool) {
		files, err := r.openAll()
		if err != nil {
			yield(Record{}, err)
			return
		}
		defer closeAll(files)
		first, offset := 0, int64(0)
		if after != "" {
			chain, seq, err := parseFileCursor(after)
			if err != nil {
				yield(Record{}, err)
				return
			}
			if first, offset, err = seek(files, chain, seq); err != nil {
				yield(Record{}, err)
				return
			}
		}
		for i := first; i < len(files); i++ {
			o := files[i]
			start := int64(0)
			if i == first {
				start = offset
			}
			if !readForward(ctx, o, start, yield) {
				return
			}
		}
	}
}

// seek finds where the records after chain:seq start: the file index and
// the offset in it.
func seek(files []openFile, chain string, seq uint64) (int, int64, error) {
	for i := len(files) - 1; i >= 0; i-- {
		o := files[i]
		found, end := false, int64(0)
		err := eachLineBackward(o.f, o.size, func(line []byte, lineEnd int64) bool {
			rec, err := ParseRecord(line)
			if err != nil || rec.Chain != chain {
				return true
			}
			if rec.Seq <= seq {
				found, end = true, lineEnd
				return false
			}
			return true
		})
		if err != nil {
			return 0, 0, fmt.Errorf("read %s: %w", o.name, err)
		}
		if found {
			return i, end, nil
		}
	}
	return 0, 0, nil
}

// readForward yields the complete lines of o from offset start.
func readForward(ctx context.Context, o openFile, start int64, yield func(Record, error) bool) bool {
	br := bufio.NewReaderSize(io.NewSectionReader(o.f, start, o.size-start), 64<<10)
	name := filepath.Base(o.name)
	lineNo := 0
	if start > 0 {
		name = fmt.Sprintf("%s@%d", name, start)
	}
	for {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// A long line: gather the rest of it.
			long := bytes.Clone(line)
			for err == bufio.ErrBufferFull {
				line, err = br.ReadSlice('\n')
				long = append(long, line...)
			}
			line = long
		}
		if err == io.EOF {
			return true // a partial last line is still being written
		}
		if err != nil {
			return yield(Record{}, fmt.Errorf("read %s: %w", o.name, err))
		}
		lineNo++
		if lineNo%1024 == 0 && ctx.Err() != nil {
			return yield(Record{}, ctx.Err())
		}
		pos := name + ":" + strconv.Itoa(lineNo)
		rec, err := ParseRecord(line[:len(line)-1])
		if err != nil {
			if !yield(Record{Pos: pos}, &MalformedError{Pos: pos, Err: err}) {
				return false
			}
			continue
		}
		rec.Pos, rec.Cursor = pos, fileCursor(rec.Chain, rec.Seq)
		if !yield(rec, nil) {
			return false
		}
	}
}

// Backward implements Source.
func (r *FileReader) Backward(ctx context.Context) iter.Seq2[Record, error] {
	return func(yield func(Record, error) bool) {
		files, err := r.openAll()
		if err != nil {
			yield(Record{}, err)
			return
		}
		defer closeAll(files)
		for i := len(files) - 1; i >= 0; i-- {
			o := files[i]
			name, stopped, n := filepath.Base(o.name), false, 0
			err := eachLineBackward(o.f, o.size, func(line []byte, end int64) bool {
				if n++; n%1024 == 0 && ctx.Err() != nil {
					return false
				}
				pos := fmt.Sprintf("%s@%d", name, end-int64(len(line))-1)
				rec, err := ParseRecord(line)
				if err != nil {
					stopped = !yield(Record{Pos: pos}, &MalformedError{Pos: pos, Err: err})
					return !stopped
				}
				rec.Pos, rec.Cursor = pos, fileCursor(rec.Chain, rec.Seq)
				stopped = !yield(rec, nil)
				return !stopped
			})
			if stopped {
				return
			}
			if err == nil {
				err = ctx.Err()
			}
			if err != nil {
				yield(Record{}, fmt.Errorf("read %s: %w", o.name, err))
				return
			}
		}
	}
}

// eachLineBackward calls fn with each complete, non-empty line of r (up to
// size, without its newline) and the offset just past its newline, from
// the last to the first, until fn returns false.
func eachLineBackward(r io.ReaderAt, size int64, fn func(line []byte, end int64) bool) error {
	size, err := completeLines(r, size)
	if err != nil {
		return err
	}
	const chunk = 64 << 10
	var tail []byte // a line whose start is before what has been read
	end := size
	for end > 0 {
		start := max(end-chunk, 0)
		n := int(end - start)
		buf := make([]byte, n+len(tail))
		if _, err := r.ReadAt(buf[:n], start); err != nil && err != io.EOF {
			return err
		}
		copy(buf[n:], tail)
		// buf ends with a newline, at offset start+len(buf)-1.
		for {
			j := bytes.LastIndexByte(buf[:len(buf)-1], '\n')
			if j < 0 {
				break
			}
			if line := buf[j+1 : len(buf)-1]; len(line) > 0 && !fn(line, start+int64(len(buf))) {
				return nil
			}
			buf = buf[:j+1]
		}
		tail, end = buf, start
	}
	if len(tail) > 1 {
		fn(tail[:len(tail)-1], int64(len(tail)))
	}
	return nil
}
