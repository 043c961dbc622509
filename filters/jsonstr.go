package filters

import (
	"encoding/json"
	"errors"
	"unicode/utf8"
)

// mapJSONStrings returns doc with every string, keys included, replaced by
// f of its decoded value. Strings f leaves alone keep their original bytes,
// and so does everything between them: a document without findings comes
// back as is. It fails if doc is not valid JSON.
func mapJSONStrings(doc []byte, f func(string) string) ([]byte, error) {
	if !json.Valid(doc) {
		return nil, errors.New("not valid JSON")
	}
	var out []byte
	last := 0
	for i := 0; i < len(doc); i++ {
		if doc[i] != '"' {
			continue
		}
		// Valid JSON: the string ends at the first unescaped quote.
		j, escaped := i+1, false
		for doc[j] != '"' {
			if doc[j] == '\\' {
				escaped = true
				j++
			}
			j++
		}
		raw := doc[i : j+1]
		var s string
		if escaped {
			if err := json.Unmarshal(raw, &s); err != nil {
				return nil, err
			}
		} else {
			s = string(raw[1 : len(raw)-1])
		}
		if t := f(s); t != s {
			if out == nil {
				out = make([]byte, 0, len(doc)+64)
			}
			out = append(out, doc[last:i]...)
			out = appendJSONString(out, t)
			last = j + 1
		}
		i = j
	}
	if out == nil {
		return doc, nil
	}
	return append(out, doc[last:]...), nil
}

// appendJSONString appends s as a JSON string. Unlike encoding/json it does
// not escape <, > and &, which would only make restored text harder to read.
func appendJSONString(dst []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c == '\n':
				dst = append(dst, '\\', 'n')
			case c == '\r':
				dst = append(dst, '\\', 'r')
			case c == '\t':
				dst = append(dst, '\\', 't')
			case c < 0x20 || c == 0x7f:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, `\u202`...)
			dst = append(dst, hexDigits[r&0xf])
		default:
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}
