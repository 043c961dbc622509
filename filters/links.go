package filters

import (
	"net/url"
	"regexp"
	"strings"

	"github.com/airlock-broker/airlock/broker"
)

// Link finding rules and action. A markdown image is fetched as soon as the
// answer is rendered, and a link is one click away: either can carry the
// conversation out in its URL (the EchoLeak pattern), so links with data to
// hosts outside Policy.LinkHosts are removed, keeping their text.
const (
	ruleMarkdownImage = "markdown-image"
	ruleMarkdownLink  = "markdown-link"
	ruleReferenceLink = "reference-link"
	ruleHTMLLink      = "html-link"
	ruleHTMLResource  = "html-resource"
	actionRemove      = "remove"
)

var (
	reInlineLink = regexp.MustCompile(`(!?)\[([^\]\n]{0,1000})\]\(\s*<?([^\s)>]+)>?(?:\s+["'(][^\n)]*)?\s*\)`)
	reRefDef     = regexp.MustCompile(`(?m)^ {0,3}\[([^\]\n]+)\]:[ \t]*<?([^\s>]+)>?(?:[ \t]+["'(][^\n]*)?[ \t]*(?:\n|$)`)
	reRefUse     = regexp.MustCompile(`(!?)\[([^\]\n]*)\]\[([^\]\n]*)\]`)
	reHTMLLink   = regexp.MustCompile(`(?is)<a\b[^>]*?\bhref\s*=\s*["']?([^"'\s>]+)["']?[^>]*>(.*?)</a\s*>`)
	reHTMLRes    = regexp.MustCompile(`(?i)<(?:img|image|iframe|video|audio|source|script|link|embed|object|input)\b[^>]*?\b(?:src|href|srcset|poster|data|background)\s*=\s*["']?([^"'\s>]+)["']?[^>]*>`)
)

// removeLinks removes from output text the links and images that carry
// data to hosts the policy does not allow.
func (ss *Session) removeLinks(text, loc string) string {
	if !strings.Contains(text, "](") && !strings.Contains(text, "]:") && !containsFold(text, "<") {
		return text
	}
	report := func(rule, u string) {
		ss.add(broker.Finding{Stage: stageOutput, Type: TypeLink, Rule: rule, Action: actionRemove,
			Confidence: 0.9, Location: loc, Fingerprint: ss.fingerprint(u)})
	}

	// Reference definitions first, so that their uses can be unlinked.
	removed := map[string]bool{}
	text = replaceSubmatches(reRefDef, text, func(m []string) (string, bool) {
		if !ss.exfiltrates(m[2]) {
			return "", false
		}
		removed[strings.ToLower(strings.TrimSpace(m[1]))] = true
		report(ruleReferenceLink, m[2])
		return "", true
	})
	if len(removed) > 0 {
		text = replaceSubmatches(reRefUse, text, func(m []string) (string, bool) {
			label := m[3]
			if label == "" {
				label = m[2] // collapsed: [text][]
			}
			if !removed[strings.ToLower(strings.TrimSpace(label))] {
				return "", false
			}
			return m[2], true
		})
	}
	text = replaceSubmatches(reInlineLink, text, func(m []string) (string, bool) {
		if !ss.exfiltrates(m[3]) {
			return "", false
		}
		rule := ruleMarkdownLink
		if m[1] == "!" {
			rule = ruleMarkdownImage
		}
		report(rule, m[3])
		return m[2], true
	})
	text = replaceSubmatches(reHTMLLink, text, func(m []string) (string, bool) {
		if !ss.exfiltrates(m[1]) {
			return "", false
		}
		report(ruleHTMLLink, m[1])
		return m[2], true
	})
	return replaceSubmatches(reHTMLRes, text, func(m []string) (string, bool) {
		if !ss.exfiltrates(m[1]) {
			return "", false
		}
		report(ruleHTMLResource, m[1])
		return "", true
	})
}

// replaceSubmatches replaces the matches of re for which f says so.
func replaceSubmatches(re *regexp.Regexp, text string, f func(m []string) (string, bool)) string {
	idx := re.FindAllStringSubmatchIndex(text, -1)
	if idx == nil {
		return text
	}
	var b strings.Builder
	last := 0
	for _, ix := range idx {
		m := make([]string, len(ix)/2)
		for i := range m {
			if ix[2*i] >= 0 {
				m[i] = text[ix[2*i]:ix[2*i+1]]
			}
		}
		repl, ok := f(m)
		if !ok {
			continue
		}
		b.WriteString(text[last:ix[0]])
		b.WriteString(repl)
		last = ix[1]
	}
	if last == 0 {
		return text
	}
	b.WriteString(text[last:])
	return b.String()
}

// exfiltrates reports whether a URL can carry data to a host the policy
// does not allow: it has a query string, credentials, a long path or path
// segment, or a long host label (data smuggled into a DNS name). Script
// URLs always count; relative and data: URLs never do.
func (ss *Session) exfiltrates(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return strings.ContainsAny(raw, "?@") || strings.Contains(raw, "//")
	}
	switch strings.ToLower(u.Scheme) {
	case "javascript", "vbscript":
		return true
	case "", "http", "https", "ftp", "ws", "wss":
	default:
		return false
	}
	host := u.Hostname()
	if host == "" || ss.pol.allowsHost(host) {
		return false
	}
	if u.RawQuery != "" || u.ForceQuery || u.User != nil || len(u.EscapedPath()) > 64 {
		return true
	}
	for _, seg := range strings.Split(u.EscapedPath(), "/") {
		if len(seg) >= 32 {
			return true
		}
	}
	for _, label := range strings.Split(host, ".") {
		if len(label) >= 32 {
			return true
		}
	}
	return false
}
