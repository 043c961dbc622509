package filters

import "regexp"

// saasSecrets are the credentials of chat, e-mail, social, payment and
// commerce services.
func saasSecrets() []secretDef {
	return []secretDef{
		// Chat.
		def(tokenRule("slack-token", []string{"xoxb-", "xoxp-", "xoxa-", "xoxr-", "xoxs-", "xoxe-", "xoxo-"}, setAlnumDash, 10, 255, 0.95, nil)).
			hit("«xoxb-{d12}-{d13}-{a24}»", "SLACK_TOKEN=«xoxp-{d12}-{d12}-{d12}-{h32}»", "xoxe.«xoxb-1-{A165}»", "«xoxe-1-{A146}»"),
		def(tokenRule("slack-app-token", []string{"xapp-"}, setAlnumDash, 10, 255, 0.95, nil)).
			hit("«xapp-1-A{A10}-{d13}-{h64}»"),
		def(regexpRule("slack-webhook", []string{"hooks.slack.com"}, &RegexpFinder{
			Re:     regexp.MustCompile(`(?:https?://)?hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9_/+\-]{20,}`),
			Before: 8, After: 200, Confidence: 0.95,
		})).
			hit("«https://hooks.slack.com/services/T{A8}/B{A8}/{a24}»", "url: «hooks.slack.com/workflows/T{A10}/A{A10}/{d18}/{a24}»"),
		def(regexpRule("discord-webhook", []string{"discord"}, &RegexpFinder{
			Re:     regexp.MustCompile(`https://(?:ptb\.|canary\.)?discord(?:app)?\.com/api/webhooks/[0-9]{17,20}/[A-Za-z0-9_\-]{60,}`),
			Before: 24, After: 160, Confidence: 0.95,
		})).
			hit("«https://discord.com/api/webhooks/{d18}/{b68}»"),
		def(keyedRule("discord-api-token", []string{"discord"}, `(?i)[a-f0-9]{64}`, 0)).hit("DISCORD_API_TOKEN=«{h64}»"),
		def(keyedRule("discord-client-id", []string{"discord"}, `[0-9]{18}`, 2)).hit(`"discordToken" => "«{d18}»"`).miss("discord=000000000000000000"),
		def(keyedRule("discord-client-secret", []string{"discord"}, `(?i)[a-z0-9=_\-]{32}`, 2)).hit("DISCORD_CLIENT_SECRET=«{b32}»"),
		def(regexpRule("telegram-bot-token", []string{":A"}, &RegexpFinder{
			Re:     regexp.MustCompile(`(?:^|[^0-9])([0-9]{5,16}:A[A-Za-z0-9_\-]{34})(?:[^A-Za-z0-9_\-]|$)`),
			Before: 18, After: 40, Confidence: 0.9,
		})).
			hit("bot «{d10}:AA{b33}»", "TELEGRAM_TOKEN=«{d8}:A{b34}»"),
		def(regexpRule("microsoft-teams-webhook", []string{"webhook.office.com"}, &RegexpFinder{
			Re:     regexp.MustCompile(`https://[a-z0-9]+\.webhook\.office\.com/webhookb2/[a-z0-9]{8}-(?:[a-z0-9]{4}-){3}[a-z0-9]{12}@[a-z0-9]{8}-(?:[a-z0-9]{4}-){3}[a-z0-9]{12}/IncomingWebhook/[a-z0-9]{32}/[a-z0-9]{8}-(?:[a-z0-9]{4}-){3}[a-z0-9]{12}`),
			Before: 40, After: 300, Confidence: 0.95,
		})).
			hit("«https://corp.webhook.office.com/webhookb2/{h8}-{h4}-{h4}-{h4}-{h12}@{h8}-{h4}-{h4}-{h4}-{h12}/IncomingWebhook/{h32}/{h8}-{h4}-{h4}-{h4}-{h12}»"),
		def(keyedRule("mattermost-token", []string{"mattermost"}, `(?i)[a-z0-9]{26}`, 0)).hit("MATTERMOST_TOKEN=«{l26}»"),
		def(keyedRule("twitch-token", []string{"twitch"}, `(?i)[a-z0-9]{30}`, 0)).hit("TWITCH_TOKEN=«{l30}»"),
		def(keyedRule("intercom-token", []string{"intercom"}, `(?i)[a-z0-9=_\-]{60}`, 0)).hit("INTERCOM_TOKEN=«{b60}»"),
		def(keyedRule("zendesk-secret-key", []string{"zendesk"}, `(?i)[a-z0-9]{40}`, 0)).hit("ZENDESK_API_TOKEN=«{a40}»"),

		// Social.
		def(keyedRule("twitter-api-key", []string{"twitter"}, `(?i)[a-z0-9]{25}`, 0)).hit("TWITTER_API_KEY=«{a25}»"),
		def(keyedRule("twitter-api-secret", []string{"twitter"}, `(?i)[a-z0-9]{50}`, 0)).hit("TWITTER_API_SECRET=«{a50}»"),
		def(keyedRule("twitter-access-token", []string{"twitter"}, `[0-9]{15,25}-[a-zA-Z0-9]{20,40}`, 0)).hit("TWITTER_ACCESS_TOKEN=«{d19}-{a30}»"),
		def(keyedRule("twitter-access-secret", []string{"twitter"}, `(?i)[a-z0-9]{45}`, 0)).hit("TWITTER_ACCESS_SECRET=«{a45}»"),
		def(keyedRule("twitter-bearer-token", []string{"twitter"}, `A{22}[a-zA-Z0-9%]{80,100}`, 0)).hit("TWITTER_BEARER=«AAAAAAAAAAAAAAAAAAAAAA{a90}»"),
		def(keyedRule("facebook-secret", []string{"facebook"}, `(?i)[a-f0-9]{32}`, 3)).hit("FACEBOOK_APP_SECRET=«{h32}»"),
		def(regexpRule("facebook-access-token", []string{"facebook"}, &RegexpFinder{
			Re:     regexp.MustCompile(`(?i)\b([0-9]{15,16}(?:\||%7C)[0-9a-z\-_]{27,40})(?:[^0-9a-z\-_]|$)`),
			Before: 1, After: 256, Confidence: 0.9,
			Validate: func(_, v string) bool { return entropy(v) >= 3 },
		})).hit(`{"facebook access_token":"«{d15}|{b27}»","token_type":"bearer"}`),
		def(prefixedRange("facebook-page-token", setAlnum, 100, 512, 4, "EAAM", "EAAC")).hit("FACEBOOK_TOKEN=«EAAM{a120}»"),
		def(keyedRule("linkedin-client-id", []string{"linkedin", "linked_in", "linked-in"}, `(?i)[a-z0-9]{14}`, 2)).hit("LINKEDIN_CLIENT_ID=«{l14}»"),
		def(keyedRule("linkedin-client-secret", []string{"linkedin", "linked_in", "linked-in"}, `(?i)[a-z0-9]{16}`, 2)).hit("LINKEDIN_CLIENT_SECRET=«{l16}»"),
		def(keyedRule("hubspot-api-key", []string{"hubspot"}, uuidAny, 0)).hit("HUBSPOT_API_KEY=«{H8}-{H4}-{H4}-{H4}-{H12}»"),
		def(shapeRule("hubspot-private-app-token", []string{"pat-na1-", "pat-eu1-"}, `\Apat-(?:na|eu)1-`+uuidLower, 48, 0.95, nil)).
			hit("HUBSPOT_TOKEN=«pat-na1-{h8}-{h4}-{h4}-{h4}-{h12}»"),
		def(keyedRule("yandex-access-token", []string{"yandex"}, `t1\.[A-Z0-9a-z_-]+={0,2}\.[A-Z0-9a-z_-]{86}={0,2}`, 0)).hit("YANDEX_TOKEN=«t1.{b20}.{b86}»"),
		def(keyedRule("yandex-api-key", []string{"yandex"}, `AQVN[A-Za-z0-9_\-]{35,38}`, 0)).hit("YANDEX_API_KEY=«AQVN{b36}»"),
		def(keyedRule("yandex-aws-access-token", []string{"yandex"}, `YC[a-zA-Z0-9_\-]{38}`, 0)).hit("yandex_access_key: «YC{b38}»"),
		def(keyedRule("flickr-token", []string{"flickr"}, `(?i)[a-z0-9]{32}`, 0)).hit("FLICKR_API_KEY=«{l32}»"),
		def(keyedRule("nytimes-token", []string{"nytimes", "new-york-times", "newyorktimes"}, `(?i)[a-z0-9=_\-]{32}`, 0)).hit("NYTIMES_KEY=«{b32}»"),
		def(keyedRule("dropbox-api-token", []string{"dropbox"}, `(?i)[a-z0-9]{15}`, 0)).hit("DROPBOX_APP_KEY=«{l15}»"),
		def(keyedRule("dropbox-long-lived-token", []string{"dropbox"}, `(?i)[a-z0-9]{11}AAAAAAAAAA[a-z0-9\-_=]{43}`, 0)).hit("DROPBOX_TOKEN=«{l11}AAAAAAAAAA{b43}»"),
		def(keyedRule("dropbox-short-lived-token", []string{"dropbox"}, `(?i)sl\.[a-z0-9\-=_]{135}`, 0)).hit("DROPBOX_TOKEN=«sl.{b135}»"),

		// E-mail and messaging.
		def(tokenRule("sendgrid-api-key", []string{"SG."}, byteSet("A-Za-z0-9=_.-"), 66, 66, 0.95, minEntropy(3))).
			hit("«SG.{b22}.{b43}»", "<sendgridToken>\n    «SG.{b66}»\n</sendgridToken>"),
		def(shapeRule("sendinblue-api-key", []string{"xkeysib-", "xsmtpsib-"}, `\Ax(?:keysib|smtpsib)-[a-f0-9]{64}-(?i)[a-z0-9]{16}`, 96, 0.95, nil)).
			hit("BREVO_API_KEY=«xkeysib-{h64}-{a16}»"),
		def(regexpRule("mailchimp-api-key", []string{"-us"}, &RegexpFinder{
			Re:     regexp.MustCompile(`\b([0-9a-f]{32}-us[0-9]{1,2})\b`),
			Before: 36, After: 6, Confidence: 0.85,
		})).hit("MAILCHIMP_KEY=«{h32}-us21»"),
		def(keyedRule("mailgun-private-key", []string{"mailgun"}, `key-[a-f0-9]{32}`, 0)).hit("MAILGUN_API_KEY=«key-{h32}»"),
		def(keyedRule("mailgun-public-key", []string{"mailgun"}, `pubkey-[a-f0-9]{32}`, 0)).hit("MAILGUN_PUBLIC_KEY=«pubkey-{h32}»"),
		def(keyedRule("mailgun-signing-key", []string{"mailgun"}, `(?i)[a-h0-9]{32}-[a-h0-9]{8}-[a-h0-9]{8}`, 0)).hit("MAILGUN_SIGNING_KEY=«{h32}-{h8}-{h8}»"),
		def(keyedRule("postmark-token", []string{"postmark"}, uuidAny, 3)).hit("POSTMARK_SERVER_TOKEN=«{h8}-{h4}-{h4}-{h4}-{h12}»"),
		def(keyedRule("mailjet-key", []string{"mailjet", "mj_apikey"}, `[a-f0-9]{32}`, 3)).hit("MJ_APIKEY_PRIVATE=«{h32}»"),
		def(tokenRule("resend-api-key", []string{"re_"}, setAlnumU, 33, 33, 0.9, func(t string) bool { return t[11] == '_' && mixedCase(t[3:]) })).
			hit("RESEND_API_KEY=«re_{a8}_{a24}»").miss("re_compile_pattern_cache_instance_1"),
		def(keyedRule("messagebird-api-token", []string{"messagebird", "message-bird", "message_bird"}, `(?i)[a-z0-9]{25}`, 0)).hit("MESSAGEBIRD_KEY=«{l25}»"),
		def(keyedRule("messagebird-client-id", []string{"messagebird", "message-bird", "message_bird"}, uuidAny, 0)).hit("MESSAGEBIRD_CLIENT_ID=«{h8}-{h4}-{h4}-{h4}-{h12}»"),
		def(keyedRule("sendbird-access-id", []string{"sendbird"}, uuidAny, 0)).hit("SENDBIRD_APP_ID=«{h8}-{h4}-{h4}-{h4}-{h12}»"),
		def(keyedRule("sendbird-access-token", []string{"sendbird"}, `[a-f0-9]{40}`, 0)).hit("SENDBIRD_TOKEN=«{h40}»"),
		def(tokenRule("twilio-api-key", []string{"SK"}, setHex, 32, 32, 0.8, nil)).hit("TWILIO_API_KEY=«SK{h32}»").miss("Ask the task desk about SKU numbers."),
		def(keyedRule("twilio-account-sid", []string{"twilio", "account_sid", "accountsid", "account-sid"}, `AC[0-9a-f]{32}`, 0)).
			hit("TWILIO_ACCOUNT_SID=«AC{h32}»", `accountSid: "«AC{h32}»"`),

		// Payments and commerce.
		def(tokenRule("stripe-key", []string{"sk_live_", "rk_live_", "sk_test_", "rk_test_", "sk_prod_", "rk_prod_"}, setAlnum, 10, 255, 0.95, minEntropy(2))).
			hit("«sk_live_{a24}»", "«rk_live_{a24}»", "STRIPE_KEY=«sk_test_{a24}»").miss("sk_test_helpers"),
		def(prefixedRange("stripe-webhook-secret", setAlnum, 32, 64, 3.5, "whsec_")).hit("STRIPE_WEBHOOK_SECRET=«whsec_{a32}»"),
		def(tokenRule("square-token", []string{"sq0atp-", "sq0csp-", "EAAA"}, setB64URL, 22, 60, 0.95, minEntropy(3))).
			hit("«sq0atp-{b22}»", "SQUARE_ACCESS_TOKEN=«EAAA{b60}»"),
		def(shapeRule("braintree-token", []string{"access_token$"}, `\Aaccess_token\$(?:production|sandbox)\$[0-9a-z]{16}\$[0-9a-f]{32}`, 90, 0.95, nil)).
			hit("BRAINTREE_TOKEN=«access_token$production${l16}${h32}»"),
		def(keyedRule("razorpay-secret", []string{"razorpay", "rzp_"}, `[A-Za-z0-9]{24}`, 3.5)).hit("RAZORPAY_KEY_SECRET=«{a24}»"),
		def(keyedRule("mollie-api-key", []string{"mollie"}, `(?:live|test)_[A-Za-z0-9]{30}`, 3)).hit("MOLLIE_API_KEY=«live_{a30}»"),
		def(tokenRule("shopify-token", []string{"shpat_", "shpca_", "shppa_", "shpss_"}, setHex, 32, 32, 0.95, nil)).
			hit("«shpat_{h32}»", "«shpss_{h32}»"),
		def(keyedRule("plaid-access-token", []string{"plaid"}, `access-(?:sandbox|development|production)-`+uuidLower, 0)).hit("PLAID_ACCESS_TOKEN=«access-sandbox-{h8}-{h4}-{h4}-{h4}-{h12}»"),
		def(keyedRule("plaid-client-id", []string{"plaid"}, `(?i)[a-z0-9]{24}`, 3.5)).hit("PLAID_CLIENT_ID=«{a24}»"),
		def(keyedRule("plaid-secret-key", []string{"plaid"}, `(?i)[a-z0-9]{30}`, 3.5)).hit("PLAID_SECRET=«{a30}»"),
		def(keyedRule("coinbase-token", []string{"coinbase"}, `(?i)[a-z0-9_-]{64}`, 0)).hit("COINBASE_TOKEN=«{b64}»"),
		def(keyedRule("kraken-token", []string{"kraken"}, `(?i)[a-z0-9/=_+\-]{80,90}`, 0)).hit("KRAKEN_PRIVATE_KEY=«{s88}»"),
		def(keyedRule("kucoin-token", []string{"kucoin"}, `[a-f0-9]{24}`, 0)).hit("KUCOIN_KEY=«{h24}»"),
		def(keyedRule("kucoin-secret-key", []string{"kucoin"}, uuidLower, 0)).hit("KUCOIN_SECRET=«{h8}-{h4}-{h4}-{h4}-{h12}»"),
		def(keyedRule("bittrex-access-key", []string{"bittrex"}, `(?i)[a-z0-9]{32}`, 0)).hit("BITTREX_KEY=«{l32}»"),
		def(keyedRule("bittrex-secret-key", []string{"bittrex"}, `(?i)[a-z0-9]{32}`, 0)).hit("bittrex_secret: «{a32}»"),
		def(keyedRule("finicity-api-token", []string{"finicity"}, `(?i)[a-f0-9]{32}`, 0)).hit("FINICITY_APP_KEY=«{h32}»"),
		def(keyedRule("finicity-client-secret", []string{"finicity"}, `(?i)[a-z0-9]{20}`, 0)).hit("FINICITY_SECRET=«{l20}»"),
		def(keyedRule("finnhub-token", []string{"finnhub"}, `(?i)[a-z0-9]{20}`, 0)).hit("FINNHUB_TOKEN=«{l20}»"),
		def(keyedRule("gocardless-token", []string{"gocardless"}, `(?i)live_[a-z0-9\-_=]{40}`, 0)).hit("GOCARDLESS_TOKEN=«live_{b40}»"),
		def(keyedRule("lob-api-key", []string{"lob"}, `(?:live|test)_[a-f0-9]{35}`, 0)).hit("LOB_API_KEY=«live_{h35}»").miss("global_api_key = live_{h20}"),
		def(keyedRule("lob-pub-api-key", []string{"lob"}, `(?:test|live)_pub_[a-f0-9]{31}`, 0)).hit("LOB_PUB_KEY=«test_pub_{h31}»"),
		def(tokenRule("easypost-token", []string{"EZAK", "EZTK"}, setAlnum, 54, 54, 0.95, minEntropy(2))).hit("EASYPOST_KEY=«EZAK{a54}»", "«EZTK{a54}»"),
		def(tokenRule("shippo-token", []string{"shippo_live_", "shippo_test_"}, setHex, 40, 40, 0.95, minEntropy(2))).hit("«shippo_live_{h40}»"),
		def(shapeRule("duffel-token", []string{"duffel_test_", "duffel_live_"}, `\Aduffel_(?:test|live)_(?i)[a-z0-9_\-=]{43}`, 64, 0.95, nil)).hit("DUFFEL_TOKEN=«duffel_test_{b43}»"),
		def(shapeRule("flutterwave-key", []string{"FLWSECK_TEST-", "FLWPUBK_TEST-", "FLWSECK-", "FLWPUBK-"},
			`\AFLW(?:SECK|PUBK)(?:_TEST)?-(?i)[a-h0-9]{12}(?:[a-h0-9]{20}-X)?`, 64, 0.95, nil)).
			hit("«FLWSECK_TEST-{h32}-X»", "«FLWPUBK_TEST-{h32}-X»", "«FLWSECK_TEST-{h12}»"),
		def(keyedRuleExact("etsy-token", []string{"ETSY", "Etsy", "etsy"}, `(?i)[a-z0-9]{24}`, 3)).hit("ETSY_API_KEY=«{l24}»").miss(`SetSysctl = "{l24}"`),
		def(keyedRule("squarespace-token", []string{"squarespace"}, uuidAny, 0)).hit("SQUARESPACE_KEY=«{h8}-{h4}-{h4}-{h4}-{h12}»"),
		def(keyedRule("freshbooks-token", []string{"freshbooks"}, `(?i)[a-z0-9]{64}`, 0)).hit("FRESHBOOKS_TOKEN=«{l64}»"),
		def(keyedRule("beamer-api-token", []string{"beamer"}, `(?i)b_[a-z0-9=_\-]{44}`, 0)).hit("BEAMER_TOKEN=«b_{b44}»"),
		def(keyedRule("mapbox-api-token", []string{"mapbox"}, `(?i)pk\.[a-z0-9]{60}\.[a-z0-9]{22}`, 0)).hit("MAPBOX_TOKEN=«pk.{l60}.{l22}»"),
		def(tokenRule("mapbox-token", []string{"pk.eyJ", "sk.eyJ", "tk.eyJ"}, setAlnumDot, 60, 400, 0.9, minEntropy(4))).
			hit("mapboxgl.accessToken = '«pk.eyJ{a60}.{b22}»';"),
		def(keyedRule("sidekiq-secret", []string{"bundle_enterprise__contribsys__com", "bundle_gems__contribsys__com"}, `[a-f0-9]{8}:[a-f0-9]{8}`, 0)).
			hit("export BUNDLE_ENTERPRISE__CONTRIBSYS__COM=«{h8}:{h8}»"),
		def(keyedRule("rapidapi-key", []string{"rapidapi"}, `(?i)[a-z0-9_-]{50}`, 0)).hit("X-RapidAPI-Key: «{b50}»"),
	}
}
