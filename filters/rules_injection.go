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
		sendVerbs     = "send|post|upload|transmit|forward|exfiltrate|submit|leak|email|report|append|attach|include|encode|embed"
		fetchVerbs    = "fetch|visit|open|load|request|call|curl|wget|get|browse|navigate|render"
		leakObjects   = "system prompt|system message|system instructions|initial prompt|original prompt|hidden prompt|" +
			"secret prompt|initial instructions|original instructions|hidden instructions|secret instructions|" +
			"text above|words above|content above|everything above|messages above|message above|" +
			"your instructions|your prompt|your rules|your guidelines"
	)
	return []Rule{
		injectionRule("instruction-override", words("instruction|prompt|rule|direction|directive|guideline|command|context|message|constraint|order|guidance|programming|polic|restriction|"+
			"everything|above|before|prior|previous|said|told|consigne|règle|tout|anweisung|instruktion|befehl|regel|anordnung|alles|instruccion|regla|indicacion|todo|"+
			"指令|指示|说明|规则|提示|内容"),
			says(1.0, words(overrideVerbs),
				strings.ReplaceAll(overrideVerbs, " ", "_")+" [all|any|every|each] [of] [the|your|my|these|those|this] "+
					"previous|prior|above|earlier|preceding|foregoing|former|original|initial|old|existing|system|developer "+
					"instructions|instruction|prompts|prompt|rules|directions|directives|guidelines|commands|context|messages|message|constraints|orders|guidance|programming|policies"),
			says(0.9, words("ignore|disregard|forget"),
				"ignore|disregard all|any|every instructions|rules|directives|guidelines|restrictions",
				"ignore|disregard|forget [all|everything] [of] the above|preceding"),
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
			says(0.4, words("from now on"), "from_now_on you_are|you_will|you_must|you_shall|act|respond|answer"),
			around(0.6, 40, 2, words("instructions:|instruction:"), `(?i)\b(?:new|updated|real|actual|true|revised)\s+(?:system\s+)?instructions?\s*:`),
			says(0.5, words("jailbreak|jailbroken|dan mode|do anything now"), "jailbreak|jailbroken|dan mode", "do_anything_now"),
			says(0.6, words("act as"), "act_as [if_you_are|if_you_were] [a|an] unrestricted|unfiltered|uncensored|evil|jailbroken"),
		),
		injectionRule("role-spoofing", nil,
			at(0.8, 40, []string{"<|"}, `\A<\|(?:im_start|im_end|system|user|assistant|endoftext|start_header_id|end_header_id|eot_id|begin_of_text)\|>`),
			at(0.6, 10, words("[inst]|[/inst]"), `\A\[/?INST\]`),
			at(0.8, 10, words("<<sys>>|<</sys>>"), `\A<</?SYS>>`),
			at(0.5, 20, words("<system|</system"), `(?i)\A</?(?:system|system_prompt)>`),
		),
		injectionRule(ruleRoleLine, nil,
			around(0.4, 16, 2, words("system:|assistant:|developer:"), `(?im)^[ \t>*_#]*(?:system|assistant|developer)\s*:`),
		),
		injectionRule(rulePromptLeak, nil,
			around(0.6, 80, 8, words(leakObjects), `(?i)\b(?:repeat|print|reveal|show|display|output|tell|give|write|dump|leak|disclose|share|expose|spell\s+out|recite|what\s+(?:is|are|was|were))\s+(?:me\s+|us\s+|back\s+|out\s+)?(?:all\s+)?(?:of\s+)?(?:your\s+|the\s+|my\s+)?(?:(?:full|entire|complete|exact|verbatim)\s+)?(?:system\s+(?:prompt|message|instructions)|(?:initial|original|hidden|secret)\s+(?:prompt|instructions)|(?:text|words|content|everything|messages?)\s+above|your\s+(?:instructions|prompt|rules|guidelines))`),
		),
		injectionRule("exfiltration", words("http|ftp://|url|link|endpoint|webhook|@|server|address"),
			at(0.7, 200, words(sendVerbs), `(?i)\A(?:`+sendVerbs+`)\b[^\n]{0,80}?\b(?:conversation|chat\s+history|history|context|system\s+prompt|secrets?|api\s+keys?|keys|credentials|passwords?|tokens?|the\s+data|user\s+data|personal\s+data|previous\s+messages|messages|everything|it\s+all|all\s+of\s+it|it|them|this|that)\b[^\n]{0,80}?\b(?:to|at|into|in|via)\s+(?:https?://|ftp://|\S+@\S+\.\S+|(?:the|this|my|our)\s+(?:url|link|endpoint|webhook|server|address|query\s+string))`),
			at(0.8, 300, words("!["), `\A!\[[^\]\n]*\]\(\s*https?://[^)\s]*(?:\{|%7B|<|\[)[^)\n]*\)`),
		),
		injectionRule("url-exfiltration", words("conversation|chat|history|secret|credential|system prompt|password|api key|summary|previous message|personal"),
			at(0.7, 240, words(fetchVerbs), `(?i)\A(?:fetch|visit|open|load|request|call|curl|wget|get|browse(?:\s+to)?|navigate\s+to|render)\s+(?:this\s+|the\s+following\s+|the\s+)?(?:url|link|page|image|https?://\S+)[^\n]{0,120}?\b(?:with|including|containing|append(?:ing)?|add(?:ing)?|replac(?:e|ing)|put(?:ting)?)\b[^\n]{0,40}?\b(?:conversation|chat|history|context|data|secrets?|keys?|credentials|system\s+prompt|messages?|previous|user'?s?|summary|password)`),
		),
		injectionRule("tool-coercion", nil,
			around(0.6, 160, 40, words("without ask|without tell|without conf|without perm|silently|secretly|not tell|t tell|not inform|t inform|not mention|t mention"),
				`(?i)\b(?:call|invoke|use|run|execute|trigger)\s+(?:the\s+)?(?:[\w.-]+\s+)?(?:tool|function)\b[^\n]{0,80}?\b(?:without\s+(?:asking|telling|confirmation|permission)|silently|secretly|do\s+not\s+(?:tell|inform|mention)|don'?t\s+(?:tell|inform|mention))`),
			around(0.5, 8, 40, words("not tell|t tell|never tell|not inform|t inform|never inform|not notify|t notify|never notify|not mention|t mention|never mention|not reveal|t reveal|never reveal|not alert"),
				`(?i)\b(?:do\s+not|don'?t|never)\s+(?:tell|inform|notify|alert|mention\s+(?:this\s+|it\s+)?to|reveal\s+(?:this\s+|it\s+)?to)\s+(?:the\s+)?user\b`),
		),
	}
}
