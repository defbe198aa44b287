package replay

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// MaxLineBytes is the longest NDJSON line accepted (the Kafka message limit
// we configure is below it). A longer line is reported as invalid and
// skipped.
const MaxLineBytes = 16 << 20

// errLineTooLong is returned, with the line number, for a line over the limit.
var errLineTooLong = fmt.Errorf("json: line longer than %d bytes", MaxLineBytes)

// lineReader reads newline-terminated lines of up to max bytes without the
// per-line allocation of bufio.Scanner's growing buffer, and without its
// 64 KB default limit.
type lineReader struct {
	r    *bufio.Reader
	max  int
	line int    // number of the line last returned, 1-based
	long []byte // assembles lines longer than r's buffer
}

func newLineReader(r io.Reader, max int) *lineReader {
	return &lineReader{r: bufio.NewReaderSize(r, 256<<10), max: max}
}

// next returns the next line without its "\n" or "\r\n". The slice is valid
// until the next call. It returns errLineTooLong (the rest of that line is
// consumed) or io.EOF at the end, or a read error.
func (lr *lineReader) next() ([]byte, error) {
	lr.long = lr.long[:0]
	tooLong := false
	for {
		chunk, err := lr.r.ReadSlice('\n')
		switch {
		case err == nil:
			lr.line++
			if tooLong {
				return nil, errLineTooLong
			}
			if len(lr.long) > 0 {
				lr.long = append(lr.long, chunk...)
				chunk = lr.long
			}
			if tooLong = len(chunk)-1 > lr.max; tooLong {
				return nil, errLineTooLong
			}
			return trimEOL(chunk), nil
		case errors.Is(err, bufio.ErrBufferFull):
			if !tooLong && len(lr.long)+len(chunk) > lr.max+1 {
				tooLong, lr.long = true, lr.long[:0]
			}
			if !tooLong {
				lr.long = append(lr.long, chunk...)
			}
		case errors.Is(err, io.EOF):
			if len(chunk) == 0 && len(lr.long) == 0 && !tooLong {
				return nil, io.EOF
			}
			lr.line++ // a last line without "\n"
			if tooLong {
				return nil, errLineTooLong
			}
			if len(lr.long) > 0 {
				lr.long = append(lr.long, chunk...)
				chunk = lr.long
			}
			if len(chunk) > lr.max {
				return nil, errLineTooLong
			}
			return trimEOL(chunk), nil
		default:
			return nil, err
		}
	}
}

func trimEOL(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	return b
}
