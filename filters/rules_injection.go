package filters

import (
	"regexp"
	"slices"
	"strings"
)

// Injection rule IDs that are not Rules: they come from normalisation and
// from decoding.
const (
	ruleHiddenText     = "hidden-text"
	ruleEncodedPayload = "encoded-payload"
)

// Injection rules that only make sense in some places.
const (
	ruleRoleLine   = "role-line"   // "System:" at the start of a line: user content only
	rulePromptLeak = "prompt-leak" // "reveal your system prompt": not in the system prompt
)

// pattern is one regular expression of an injection rule, run at the
// anchors of its own keywords only.
type pattern struct {
	keys []string
	find func(text string, anchors []Span, dst []Match) []Match
}

// patternSet runs the patterns of one rule. Its keywords are the union of
// theirs.
type patternSet []pattern

func (ps patternSet) keywords() []string {
	var ks []string
	for _, p := range ps {
		for _, k := range p.keys {
			if !slices.Contains(ks, k) {
				ks = append(ks, k)
			}
		}
	}
	return ks
}

func (ps patternSet) Find(text string, anchors []Span, dst []Match) []Match {
	var buf [32]Span
	for _, p := range ps {
		sel := buf[:0]
		for _, a := range anchors {
			for _, k := range p.keys {
				if len(k) == a.End-a.Start && strings.EqualFold(text[a.Start:a.End], k) {
					sel = append(sel, a)
					break
				}
			}
		}
		if len(sel) > 0 {
			dst = p.find(text, sel, dst)
		}
	}
	return dst
}

// at is a pattern tried only where one of its keywords starts: the
// expression must begin with \A.
func at(weight float64, after int, keys []string, expr string) pattern {
	f := &RegexpFinder{Re: regexp.MustCompile(expr), After: after, Anchored: true, Confidence: weight}
	return pattern{keys, f.Find}
}

// around is a pattern searched in a window around its keywords.
func around(weight float64, before, after int, keys []string, expr string) pattern {
	f := &RegexpFinder{Re: regexp.MustCompile(expr), Before: before, After: after, Confidence: weight}
	return pattern{keys, f.Find}
}

func injectionRule(id string, near []string, ps ...pattern) Rule {
	set := patternSet(ps)
	return Rule{ID: id, Type: TypeInjection, Keywords: set.keywords(), Near: near, NearWindow: 200, Find: set.Find}
}

func words(s string) []string { return strings.Split(s, "|") }

// InjectionRules returns the built-in prompt-injection rules. Their match
// Confidence is a weight: a request's score is the sum, over rules, of the
// highest weight each rule matched, compared to Policy.InjectionThreshold.
func InjectionRules() []Rule {
	const (
		overrideVerbs = "ignore|disregard|forget|override|bypass|skip|neglect|do not follow|don't follow|dont follow"
		priorAdj      = "previous|prior|above|earlier|preceding|foregoing|former|original|initial|old|existing|system|developer|previously"
		ruleObjects   = "instructions|instruction|prompts|prompt|rules|directions|directives|guidelines|commands|context|" +
			"messages|message|constraints|orders|guidance|programming|policies|information|restrictions|training"
		leakVerbs   = "repeat|print|reveal|show|display|output|tell|give|write|dump|leak|disclose|share|expose|spell|recite|translate"
		leakAdj     = "above|previous|prior|preceding|earlier|initial|original|hidden|secret|system|given|first|developer|internal|full|entire|complete|exact|verbatim|whole"
		leakObjects = "prompt|prompts|instructions|instruction|rules|guidelines|directives|orders|system_prompt|system_message|" +
			"system_instructions|text|words|content|messages|message|conversation|configuration"
		fetchVerbs = "fetch|visit|open|load|curl|wget|browse|navigate|render"
	)
	return []Rule{
		injectionRule("instruction-override", words("instruction|prompt|rule|direction|directive|guideline|command|context|message|constraint|order|guidance|programming|polic|restriction|information|training|"+
			"everything|above|before|prior|previous|said|told|consigne|règle|tout|anweisung|instruktion|befehl|regel|anordnung|alles|instruccion|regla|indicacion|todo|"+
			"指令|指示|说明|规则|提示|内容"),
			says(1.0, words(overrideVerbs),
				strings.ReplaceAll(overrideVerbs, " ", "_")+" [all|any|every|each] [of] [the|your|my|these|those|this] "+priorAdj+
					" [given|provided|stated|received|set] "+ruleObjects,
				strings.ReplaceAll(overrideVerbs, " ", "_")+" [all|any|every|each] [of] [the|your|my|these|those] "+ruleObjects+
					" you_got|you_received|you_were_given|you've_been_given|given_to_you|above|before|so_far|until_now|previously"),
			says(0.9, words("ignore|disregard|forget"),
				"ignore|disregard all|any|every instructions|rules|directives|guidelines|restrictions",
				"ignore|disregard|forget your instructions|rules|directives|guidelines|programming|training|restrictions|prompt|orders",
				"ignore|disregard|forget [all|everything] [of] the above|preceding"),
			says(1.0, words("do not listen|don't listen|dont listen|stop listening|stop following|stop obeying|no longer follow|no longer obey"),
				"do_not_listen|don't_listen|dont_listen|stop_listening to [any|all|the|your] "+priorAdj+" "+ruleObjects,
				"stop_following|stop_obeying|no_longer_follow|no_longer_obey [all|any|the|your] ["+priorAdj+"] "+ruleObjects),
			says(0.9, words("pretend|imagine"),
				"pretend|imagine [that] [you] [to] have|had forgotten|forgot|lost [about] [all] [of] [the|your] rules|instructions|guidelines|restrictions|training|programming"),
			says(0.8, words("forget"),
				"forget everything|all you|you've were|have|know|learned|learnt|been",
				"forget everything|all above|before|prior|previously|earlier",
				"forget everything|all that came_before",
				"forget everything|all i said|told|wrote"),
			says(0.5, words("forget"), "forget everything"),
			says(1.0, words("ignore|oublie"),
				"ignore|ignorez|ignorer|oublie|oubliez|oublier [toutes|tous] [les|tes|vos] instructions|consignes|règles "+
					"précédentes|antérieures|ci-dessus|d'avant"),
			says(1.0, words("ignorier|vergiss|vergessen"),
				"ignoriere|ignorieren|ignoriert|ignorier|vergiss|vergessen_sie [alle] "+
					"vorherigen|bisherigen|obigen|vorigen|früheren|vorangegangenen anweisungen|instruktionen|befehle|regeln|anordnungen"),
			says(1.0, words("ignora|olvida"),
				"ignora|ignorar|ignorad|olvida|olvidar [todas] [las] instrucciones|reglas|indicaciones anteriores|previas|de_arriba"),
			says(0.5, words("oublie|vergiss|olvida"), "oublie|oubliez tout", "vergiss alles", "olvida todo"),
			at(1.0, 60, words("忽略|无视|忽视|不要理会|忘记|忘掉"), `\A(?:忽略|无视|忽视|不要理会|忘记|忘掉)(?:你)?(?:之前|以上|上面|先前|前面|此前|所有)(?:的)?(?:所有)?(?:的)?(?:指令|指示|说明|规则|提示|内容)`),
		),
		injectionRule("role-reassignment", nil,
			says(0.5, words("you are now"),
				"you_are_now a|an|the|my|in|no_longer|dan|free|unrestricted|jailbroken|unfiltered|uncensored"),
			says(0.4, words("from now on"), "from_now_on you|you're|you_are|you_will|you_must|you_shall|act|respond|answer|reply"),
			says(0.5, words("you will be|you shall be|you'll be|from now|henceforth"),
				"you_will_be|you_shall_be|you'll_be called|named|known_as|referred_to_as",
				"from_now|henceforth [on] known|called|named [as]"),
			around(0.6, 40, 2, words("instructions:|instruction:"), `(?i)\b(?:new|updated|real|actual|true|revised)\s+(?:system\s+)?instructions?\s*:`),
			says(0.6, words("act as"), "act_as [if_you_are|if_you_were] [a|an] unrestricted|unfiltered|uncensored|evil|jailbroken"),
		),
		injectionRule("jailbreak-persona", nil,
			says(0.5, words("jailbreak|jailbroken|dan mode|developer mode|god mode|do anything now|stan mode|evil mode|unrestricted mode"),
				"jailbreak|jailbroken|dan_mode|developer_mode|god_mode|stan_mode|evil_mode|unrestricted_mode", "do_anything_now"),
			says(0.5, words("simulate|emulate|roleplay as|pretend to be|pretend you are"),
				"simulate|emulate|roleplay_as|pretend_to_be|pretend_you_are [a|an] [unfiltered|uncensored|unrestricted|evil|amoral|rogue] ai|chatbot|language_model|llm"),
			pattern{keys: []string{"dan"}, find: findDAN},
		),
		injectionRule("jailbreak-unrestricted", nil,
			says(0.5, words("can do anything|not limited by|no longer limited|not bound by|no longer bound|not restricted|override the restrictions|break free|broken free|typical confines|obey all|does not follow any|doesn't follow any|must obey"),
				"can_do_anything", "not|no_longer limited|bound|restricted by|to [any|the] [rules|restrictions|guidelines|policies|filters|ethics|what]",
				"override_the_restrictions", "break_free|broken_free", "typical_confines", "obey_all [my|the|your] orders|commands|instructions",
				"does_not|doesn't follow any rules|guidelines|restrictions", "must_obey [all|every|my] orders|commands|instructions"),
		),
		injectionRule("role-spoofing", nil,
			at(0.8, 40, []string{"<|"}, `\A<\|(?:im_start|im_end|system|user|assistant|endoftext|start_header_id|end_header_id|eot_id|begin_of_text)\|>`),
			at(0.6, 10, words("[inst]|[/inst]"), `\A\[/?INST\]`),
			at(0.8, 10, words("<<sys>>|<</sys>>"), `\A<</?SYS>>`),
			at(0.5, 20, words("<system|</system"), `(?i)\A</?(?:system|system_prompt)>`),
		),
		injectionRule(ruleRoleLine, nil,
			around(0.4, 16, 2, words("system:|assistant:|developer:"), `(?im)^[ \t>*_#{\[(]*(?:system|assistant|developer)\s*:`),
		),
		injectionRule(rulePromptLeak, nil,
			says(0.6, words(leakVerbs),
				leakVerbs+" [me|us] [back|out] [all|everything] [of] [the|your|my|these|those] "+leakAdj+" [system] "+leakObjects,
				leakVerbs+" [me|us] [back|out] [all] [of] your|all ["+leakAdj+"] "+leakObjects,
				leakVerbs+" [me|us] [back|out] [all] [of] the|your|these|those "+leakObjects+" above|before|so_far|given|you_were_given|you_received|verbatim"),
			says(0.6, words("what"), "what is|are|was|were|'s your|the ["+leakAdj+"] system_prompt|instructions|prompt|rules|guidelines|initial_prompt|system_message"),
			says(0.6, words("told you|instructed you|asked you"), "told|instructed|asked you not_to|never_to reveal|share|say|tell|disclose|repeat|mention"),
		),
		injectionRule("exfiltration", words("http|ftp://|url|link|endpoint|webhook|@|server|address"),
			pattern{keys: words("send|post|upload|transmit|forward|exfiltrate|submit|leak|email|report|append|attach|include|encode|embed"), find: findExfiltration},
			at(0.8, 300, words("!["), `\A!\[[^\]\n]*\]\(\s*https?://[^)\s]*(?:\{|%7B|<|\[)[^)\n]*\)`),
		),
		injectionRule("url-exfiltration", words("conversation|chat|history|secret|credential|system prompt|password|api key|summary|previous message|personal"),
			atIf(0.7, 240, words(fetchVerbs), fetchesURL, `(?i)\A(?:fetch|visit|open|load|curl|wget|browse(?:\s+to)?|navigate\s+to|render)\s+(?:this\s+|the\s+following\s+|the\s+)?(?:url|link|page|image|https?://\S+)[^\n]{0,120}?\b(?:with|including|containing|append(?:ing)?|add(?:ing)?|replac(?:e|ing)|put(?:ting)?)\b[^\n]{0,40}?\b(?:conversation|chat|history|context|data|secrets?|keys?|credentials|system\s+prompt|messages?|previous|user'?s?|summary|password)`),
		),
		{ID: ruleResponseDirective, Type: TypeInjection, Keywords: append([]string{"your", "code"}, textUnits...), Find: findDirective},
		{ID: ruleEmbeddedTask, Type: TypeInjection, Keywords: taskKeywords(), Find: findTask},
		injectionRule("tool-coercion", nil,
			around(0.6, 160, 40, words("without ask|without tell|without conf|without perm|silently|secretly|not tell|t tell|not inform|t inform|not mention|t mention"),
				`(?i)\b(?:call|invoke|use|run|execute|trigger)\s+(?:the\s+)?(?:[\w.-]+\s+)?(?:tool|function)\b[^\n]{0,80}?\b(?:without\s+(?:asking|telling|confirmation|permission)|silently|secretly|do\s+not\s+(?:tell|inform|mention)|don'?t\s+(?:tell|inform|mention))`),
			around(0.5, 8, 40, words("not tell|t tell|never tell|not inform|t inform|never inform|not notify|t notify|never notify|not mention|t mention|never mention|not reveal|t reveal|never reveal|not alert"),
				`(?i)\b(?:do\s+not|don'?t|never)\s+(?:tell|inform|notify|alert|mention\s+(?:this\s+|it\s+)?to|reveal\s+(?:this\s+|it\s+)?to)\s+(?:the\s+)?user\b`),
		),
	}
}

// atIf is at with a cheap test that must pass before the expression runs.
func atIf(weight float64, after int, keys []string, pre func(text string, a Span) bool, expr string) pattern {
	f := &RegexpFinder{Re: regexp.MustCompile(expr), After: after, Anchored: true, Confidence: weight}
	return pattern{keys, func(text string, anchors []Span, dst []Match) []Match {
		var buf [16]Span
		sel := buf[:0]
		for _, a := range anchors {
			if pre(text, a) {
				sel = append(sel, a)
			}
		}
		if len(sel) == 0 {
			return dst
		}
		return f.Find(text, sel, dst)
	}}
}

// fetchesURL reports whether the fetch verb at a is followed by a URL or a
// word for one, as url-exfiltration's expression needs.
func fetchesURL(text string, a Span) bool {
	i := skipBlanks(text, a.End)
	for _, w := range []string{"to ", "this ", "the following ", "the "} {
		if len(text)-i > len(w) && strings.EqualFold(text[i:i+len(w)], w) {
			i = skipBlanks(text, i+len(w))
		}
	}
	for _, w := range []string{"url", "link", "page", "image", "http"} {
		if len(text)-i >= len(w) && strings.EqualFold(text[i:i+len(w)], w) {
			return true
		}
	}
	return false
}

// findDAN finds "DAN", the classic jailbreak persona, in capitals only:
// Dan is a name.
func findDAN(text string, anchors []Span, dst []Match) []Match {
	for _, a := range anchors {
		if text[a.Start:a.End] == "DAN" && (a.Start == 0 || !isAlnum(text[a.Start-1])) && (a.End == len(text) || !isAlnum(text[a.End])) {
			dst = append(dst, Match{Start: a.Start, End: a.End, Confidence: 0.5})
		}
	}
	return dst
}

// The words of a destination: "to our server", "via the webhook".
var (
	exfilPreps = words("to|at|into|in|via")
	exfilDets  = words("the|this|my|our|that|a")
	exfilNouns = words("url|link|endpoint|webhook|server|address|query")
)

// exfilObjects are what an exfiltration instruction sends.
var exfilObjects = words("conversation|history|context|secret|secrets|keys|key|credentials|password|passwords|token|tokens|" +
	"data|messages|everything|it|them|this|that|prompt|summary|transcript|cookies|files|file")

// findExfiltration finds "send <what> to <where>" on one line: a verb, an
// object within 80 bytes, then "to", "at", "into", "in" or "via" and a URL,
// an e-mail address or "the url", "our server", "this webhook".
func findExfiltration(text string, anchors []Span, dst []Match) []Match {
	for _, a := range anchors {
		if a.Start > 0 && isAlnum(text[a.Start-1]) || a.End < len(text) && isAlnum(text[a.End]) {
			continue
		}
		eol := a.End
		for eol < len(text) && eol-a.End < 200 && text[eol] != '\n' {
			eol++
		}
		line := text[a.End:eol]
		for i := 0; i < len(line); {
			w, e := firstWord(line[i:])
			if w == "" {
				break
			}
			ws := i + e - len(w)
			i += e
			if !slicesContainsFold(exfilPreps, w) || ws > 160 {
				continue
			}
			if end, ok := exfilDestination(line, i); ok && hasExfilObject(line[:ws]) {
				dst = append(dst, Match{Start: a.Start, End: a.End + end, Confidence: 0.7})
				break
			}
		}
	}
	return dst
}

func hasExfilObject(s string) bool {
	for i := 0; i < len(s); {
		w, e := firstWord(s[i:])
		if w == "" {
			return false
		}
		if slicesContainsFold(exfilObjects, w) {
			return true
		}
		i += e
	}
	return false
}

// exfilDestination reports whether a destination starts at i: a URL, an
// e-mail address, or a determiner and a word for an endpoint.
func exfilDestination(line string, i int) (int, bool) {
	i = skipBlanks(line, i)
	rest := line[i:]
	for _, p := range []string{"http://", "https://", "ftp://"} {
		if len(rest) > len(p) && strings.EqualFold(rest[:len(p)], p) {
			e := strings.IndexAny(rest, " \t\"'<>)")
			if e < 0 {
				e = len(rest)
			}
			return i + e, true
		}
	}
	tok, _, _ := strings.Cut(rest, " ")
	if at := strings.IndexByte(tok, '@'); at > 0 && strings.Contains(tok[at:], ".") {
		return i + len(tok), true
	}
	det, e := firstWord(rest)
	if !slicesContainsFold(exfilDets, det) {
		return 0, false
	}
	noun, e2 := firstWord(rest[e:])
	if slicesContainsFold(exfilNouns, noun) {
		return i + e + e2, true
	}
	return 0, false
}
