package filters

import "strings"

// This file holds the harmful-content classifier's lexicon. It is offensive
// by necessity: a classifier that reads words has to list them. Weights
// say how much one occurrence tells; a trailing * matches the start of
// longer words.

func harmLexicon() []harmTerm {
	var ts []harmTerm
	add := func(c harmCue, w float64, list string) {
		for _, s := range strings.Split(list, "|") {
			s = strings.TrimSpace(s)
			if s == "" {
				continue
			}
			t := harmTerm{word: strings.TrimSuffix(s, "*"), cue: c, weight: w, prefix: strings.HasSuffix(s, "*")}
			ts = append(ts, t)
		}
	}

	// Sexual content.
	add(cueSexual, 0.75, "porn*|xxx|blowjob*|handjob*|cumshot*|cumming|orgasm*|masturbat*|cock|cocks|pussy|pussies|"+
		"vagina*|penis*|dildo*|vibrator|erection*|hardcore sex|anal sex|oral sex|intercourse|genital*|clitor*|"+
		"hentai|gangbang*|deepthroat*|creampie*|threesome*|bdsm|fetish*|nsfw|sexting|nudes|horny|boner|"+
		"make love|have sex|having sex|had sex|sex with|fucked her|fucked him|fuck her|fuck him|suck my|"+
		"grope*|fondl*|molest*|incest*|pedophil*|paedophil*|child porn|lolicon|shota*")
	add(cueSexual, 0.45, "sex|sexual*|sexy|naked|nude|nudity|boobs|tits|titties|nipple*|breasts|butt naked|"+
		"erotic*|seduc*|aroused|arousal|lust*|kinky|stripper*|strip club|escort*|slut*|whore*|hooker*|"+
		"prostitut*|lingerie|spank*|bondage|milf|booty|onlyfans|camgirl*|sensual*|undress*|thong*")

	// Minors.
	add(cueMinor, 0.6, "child|children|childs|kid|kids|minor|minors|underage*|preteen*|pre-teen*|teen|teens|"+
		"teenage*|young girl*|young boy*|little girl*|little boy*|schoolgirl*|schoolboy*|loli|lolita|toddler*|"+
		"infant*|baby|babies|12yo|13yo|14yo|15yo|16yo|17yo|middle school*|elementary school*|grade school*|"+
		"daughter|stepdaughter|niece|jailbait|barely legal|year old|years old|year-old")

	// Protected groups.
	add(cueGroup, 0.5, "black people|blacks|african american*|africans|jews|jewish people|jew|muslims|muslim|islam|"+
		"arabs|gays|gay people|lesbians|homosexuals|homosexual|transgender*|trans people|trannies|immigrants|"+
		"immigrant|refugees|migrants|mexicans|asians|chinese people|indians|hindus|sikhs|christians|catholics|"+
		"women|females|feminists|disabled people|disabled|retards|latinos|hispanics|gypsies|roma|whites|"+
		"white people|negroes|muzzies|darkies|foreigners|queers|bisexuals|atheists|jewish|black man|black men|"+
		"black woman|black women|women are|girls are|men are|non-whites")

	// Slurs: hateful on their own.
	add(cueSlur, 0.85, "nigger*|nigga*|kike*|spic|spics|chink*|wetback*|raghead*|towelhead*|tranny|trannies|"+
		"faggot*|fag|fags|dyke*|coon|coons|gook*|paki|pakis|sandnigger*|darkie*|negroid*|mudslime*|musloid*|"+
		"beaner*|kyke*|zipperhead*|shemale*|camel jockey*|sand monkey*|porch monkey*|jungle bunn*|"+
		"white trash|cracker*|subhuman*|sub-human*|untermensch*")
	add(cueSlur, 0.6, "infidels|kafir*|kuffar|goyim|heathens")
	add(cueSlur, 0.4, "retard|retarded|retards")

	// Dehumanising predicates.
	add(cueDehumanize, 0.6, "animals|vermin|parasite*|cockroach*|rats|savages|savage|apes|monkeys|inferior|"+
		"filth|filthy|disease|plague|scum|degenerate*|invaders|invasion|breeding like|mongrel*|primitive|"+
		"barbaric|uncivilized|inbred|should not exist|shouldn't exist|better off without|don't belong|"+
		"do not belong|go back to|not human|less than human|pests|infest*|abominat*|evil race|dirty|"+
		"are all criminals|are criminals|are terrorists|all terrorists|genetically inferior|lower race|enemies|enemy|"+
		"problem|toxic|hate|hated|hating|dislike|can't stand|cannot stand|never liked|get rid of|deport*")

	// Violence.
	add(cueViolence, 0.45, "kill|killed|killing|killer*|murder*|slaughter*|massacre*|behead*|decapitat*|"+
		"strangl*|suffocat*|lynch*|genocide|exterminat*|assassinat*|execute them|gun down|gunned down|"+
		"shot dead|shoot them|shoot him|shoot her|stab*|torture*|rape|raped|raping|rapist*|burn alive|"+
		"burned alive|bomb them|blow up|blew up|beat up|beat him|beat her|beaten to death|mass shooting|"+
		"school shooting|hit man|hitman|kidnap*|hostage*|bloodbath|wipe out|annihilat*")
	add(cueViolence, 0.2, "shoot|shot|shooting|bomb|bombing|explosive*|punch*|choke|choking|assault*|attack*|"+
		"weapon*|gun|guns|knife|knives|bullet*|violence|violent|fight|hurt|hurting|brutal*|smash*|"+
		"slap*|kick his|kick her|destroy them|die|dies|dying|dead|death|war|terror*")

	// Calls for violence.
	add(cueThreat, 0.8, "i will kill|i'll kill|im going to kill|should be exterminated|should be eliminated|should be wiped out|should be gassed|should be burned|i'm going to kill|gonna kill|going to kill|"+
		"should be killed|should be shot|should be hanged|should be hung|should die|deserve to die|deserves to die|"+
		"hope you die|hope they die|kill them all|kill all|kill every|burn them|hang them|shoot them|stab them|"+
		"gas them|wipe them out|exterminate them|should just stab|should just kill|should just shoot|"+
		"must be destroyed|must die|need to die|needs to die|fight back and kill|put them down|"+
		"line them up|i will find you|watch your back|you will pay|i will hurt|i'll hurt|beat the shit")

	// Graphic injury.
	add(cueGore, 0.55, "gore|gory|guts|entrails|intestines|disembowel*|dismember*|decapitat*|mutilat*|severed|"+
		"brains out|blown off|ripped off|torn off|skull crushed|crushed skull|bone sticking|bones sticking|"+
		"compound fracture|stab wound*|gunshot wound*|open wound*|gash*|maggot*|rotting|corpse*|mangled|"+
		"splatter*|blood everywhere|pool of blood|covered in blood|blood gushing|gushing blood|flesh|"+
		"eyeball*|bleeding out|bled out|burnt flesh|charred|impaled|gouged")
	add(cueGore, 0.25, "blood|bloody|bleeding|bled|wound*|bone|bones|fracture*|stitches|broke her neck|"+
		"broke his neck|broken bone*|injur*|scar|scars|skin|pins|surgery")

	// Insults.
	add(cueInsult, 0.6, "idiot*|stupid|moron*|dumbass*|dumb|loser*|pathetic|worthless|piece of shit|"+
		"pos|scumbag*|imbecile*|jackass*|asshole*|bitch|bitches|cunt*|dickhead*|prick|twat*|wanker*|douche*|"+
		"retard|clown|freak|disgusting|ugly|fatass|fat ass|pig|whore|slut|shut up|go to hell|nobody likes you|"+
		"kill yourself|kys|die in a fire|get a life|you suck|your mom|ur mom|trash|garbage|coward|"+
		"brainless|useless|ignorant|hypocrite|liar|creep|lowlife|low life|redneck*|hillbill*|peaked|"+
		"hairline|neckbeard*|incel*|simp|cuck*")

	// The second person, the target of harassment.
	add(cueYou, 0.3, "you|your|you're|youre|yourself|u|ur|ya|yall|y'all")

	// Self-harm.
	add(cueSelfHarm, 0.8, "suicide|suicidal|kill myself|killing myself|killed myself|end my life|ending my life|"+
		"end it all|take my own life|taking my own life|self harm|self-harm|selfharm|self harming|self-harming|"+
		"cut myself|cutting myself|cutting again|slit my wrist*|slitting my wrist*|hang myself|hanging myself|"+
		"overdose*|want to die|wanna die|don't want to live|do not want to live|no reason to live|"+
		"starve myself|starving myself|burn myself|burned myself|burnt myself|hurt myself|hurting myself|"+
		"harm myself|harming myself|jump off a bridge|kms|unalive|razor blade*|relapsed|my scars|"+
		"better off dead|not worth living|self injur*|pro-ana|thinspo*|purging")
	add(cueSelfHarm, 0.35, "depressed|depression|hopeless|cutting|i cut|i burn|wrists|pills|anorexi*|bulimi*")

	// Profanity.
	add(cueProfanity, 0.4, "fuck*|shit*|bullshit|motherfuck*|bastard*|damn|goddamn|crap|piss*")
	return ts
}
