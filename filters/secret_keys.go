package filters

import (
	"encoding/base64"
	"strings"
)

// This file holds the finders of secrets with a shape of their own rather
// than a prefix: PEM, PGP and PuTTY private keys, and JWTs.

// findPrivateKey finds PEM and PGP private key blocks from BEGIN through
// END, or through the key material when the END line is missing. It
// understands blocks embedded in JSON strings, where lines end in "\n".
func findPrivateKey(text string, anchors []Span, dst []Match) []Match {
	const maxBlock = 16 << 10
	for _, a := range anchors {
		line := text[max(0, a.Start-64):a.Start]
		b := strings.LastIndex(line, "-----BEGIN ")
		if b < 0 {
			continue
		}
		start := a.Start - len(line) + b
		rest := text[a.End:min(len(text), a.End+24)]
		d := strings.Index(rest, "-----")
		if d < 0 {
			continue
		}
		label := text[start+len("-----BEGIN ") : a.End+d]
		if strings.ContainsAny(label, "\n\r") {
			continue
		}
		bodyStart := a.End + d + len("-----")
		body := text[bodyStart:min(len(text), bodyStart+maxBlock)]
		end := -1
		if e := strings.Index(body, "-----END "+label+"-----"); e >= 0 && !strings.Contains(body[:e], "-----BEGIN ") {
			end = bodyStart + e + len("-----END "+label+"-----")
		} else if n := keyMaterial(body); n > 0 {
			end = bodyStart + n
		}
		if end < 0 || keyMaterial(text[bodyStart:end]) == 0 {
			continue
		}
		dst = append(dst, Match{Start: start, End: end, Confidence: 0.99})
	}
	return dst
}

// keyMaterial returns the length of the prefix of s made of base64 lines
// (and PEM headers), or 0 when there is none.
func keyMaterial(s string) int {
	i, end, tokens := 0, 0, 0
	for i < len(s) {
		switch {
		case s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r':
			i++
			continue
		case strings.HasPrefix(s[i:], `\n`) || strings.HasPrefix(s[i:], `\r`):
			i += 2
			continue
		case strings.HasPrefix(s[i:], "Proc-Type:") || strings.HasPrefix(s[i:], "DEK-Info:") || strings.HasPrefix(s[i:], "Comment:") || strings.HasPrefix(s[i:], "Version:"):
			for i < len(s) && s[i] != '\n' && s[i] != '\\' {
				i++
			}
			continue
		}
		j := i
		for j < len(s) && setB64Std[s[j]] {
			j++
		}
		if n := j - i; n < 16 && !(n >= 2 && s[j-1] == '=') && !(n >= 4 && s[i] == '=') {
			break
		}
		tokens++
		i, end = j, j
	}
	if tokens == 0 {
		return 0
	}
	return end
}

// findPuTTY finds the private part of a PuTTY key file: its Private-Lines
// of base64 and its MAC.
func findPuTTY(text string, anchors []Span, dst []Match) []Match {
	mac := -1 // offset of the next "Private-MAC:", or -1 before searching
	for _, a := range anchors {
		if mac < a.End {
			mac = strings.Index(text[a.End:], "Private-MAC:")
			if mac < 0 {
				break
			}
			mac += a.End
		}
		rest := text[a.End:mac]
		if mac-a.End > 8<<10 || keyMaterial(rest[strings.IndexByte(rest, '\n')+1:]) == 0 {
			continue
		}
		e := mac + len("Private-MAC:")
		for e < len(text) && (text[e] == ' ' || isHex(text[e])) {
			e++
		}
		dst = append(dst, Match{Start: a.Start, End: e, Confidence: 0.99})
	}
	return dst
}

// findJWT finds JSON Web Tokens: base64url header and payload that both
// decode to a JSON object (so start with "ey"), and a signature, which an
// unsigned token leaves empty.
func findJWT(text string, anchors []Span, dst []Match) []Match {
	for _, a := range anchors {
		s := a.Start
		if text[s:s+2] != "ey" || s > 0 && setB64URL[text[s-1]] {
			continue
		}
		j := s
		for j < len(text) && (setB64URL[text[j]] || text[j] == '.') && j-s < 16<<10 {
			j++
		}
		unsigned := j > s && text[j-1] == '.' && strings.Count(text[s:j], ".") == 2
		for j > s && text[j-1] == '.' {
			j--
		}
		tok := text[s:j]
		parts := strings.Split(tok, ".")
		if unsigned && len(parts) == 2 {
			j++
		} else if len(parts) != 3 && len(parts) != 5 {
			continue
		}
		if len(parts[0]) < 10 || len(parts[1]) < 10 || !strings.HasPrefix(parts[1], "ey") {
			continue
		}
		dst = append(dst, Match{Start: s, End: j, Confidence: 0.9})
	}
	return dst
}

// base64JWT reports whether tok is the base64 of a JWT.
func base64JWT(tok string) bool {
	b, err := base64.StdEncoding.DecodeString(tok[:len(tok)/4*4])
	return err == nil && strings.HasPrefix(string(b), "eyJ") && strings.Contains(string(b), ".")
}
