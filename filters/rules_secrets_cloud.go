package filters

import "regexp"

// Value shapes shared by keyed rules.
const (
	uuidLower = `[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`
	uuidAny   = `(?i)[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`
)

// cloudSecrets are the credentials of cloud and hosting providers.
func cloudSecrets() []secretDef {
	awsKey := &tokenFinder{prefixes: []string{"AKIA", "ASIA", "ABIA", "ACCA"}, body: setUpperNum, min: 16, max: 16, conf: 0.95}
	awsA3T := &tokenFinder{prefixes: []string{"A3T"}, body: setUpperNum, min: 17, max: 17, conf: 0.95}
	return []secretDef{
		def(Rule{ID: "aws-access-key", Type: TypeSecret, Label: "SECRET", Keywords: []string{"AKIA", "ASIA", "ABIA", "ACCA", "A3T"},
			Find: combine(awsKey.Find, awsA3T.Find)}).
			hit("aws_access_key_id = «AKIA{z16}»", "key: «ASIA{z16}» ok", "«A3TX{z16}»", "ＡＫＩＡ{z16}", "AKIA\u200b{z16}").
			miss("AKIAIOSFODNN7EXAMPLE", "Asia is the largest continent; ASIA has many countries.", "AKIA{z15}"),
		def(regexpRule("aws-secret-key", []string{"aws"}, &RegexpFinder{
			Re:    regexp.MustCompile(`(?i)\Aaws[a-z0-9_.\-]{0,20}?(?:secret|sk)[a-z0-9_.\-]{0,20}["']?\s*(?:=|:=|:|=>)\s*["']?([A-Za-z0-9/+]{40})(?:[^A-Za-z0-9/+=]|$)`),
			After: 128, Anchored: true, Confidence: 0.95,
		})).
			hit("aws_secret_access_key = «{s40}»\n", `AWS_SECRET_KEY: "«{s40}»"`).
			miss("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
		def(keyedRule("aws-session-token", []string{"aws_session_token", "aws-session-token", "awssessiontoken", "x-amz-security-token"}, `[A-Za-z0-9/+=]{100,}`, 4)).
			hit("export AWS_SESSION_TOKEN=«{s200}»"),
		def(prefixedRange("aws-bedrock-key", setB64Std, 109, 272, 3, "ABSK")).
			hit(`bedrock_api_token = "«ABSKQmVkcm9ja0FQSUtleS1{s120}»"`),
		def(prefixedRange("aws-bedrock-short-term-key", setB64Std, 28, 4096, 3, "bedrock-api-key-")).
			hit("AWS_BEARER_TOKEN_BEDROCK=«bedrock-api-key-YmVkcm9jay5hbWF6b25hd3MuY29t{s120}»").
			miss("bedrock-api-key-"),
		def(shapeRule("aws-mws-key", []string{"amzn.mws."}, `\Aamzn\.mws\.`+uuidLower, 64, 0.95, nil)).
			hit("mws_auth_token: «amzn.mws.{h8}-{h4}-{h4}-{h4}-{h12}»"),
		def(prefixed("gcp-api-key", setB64URL, 35, 0, "AIza")).
			hit(`"key": "«AIza{b35}»"`, "GEMINI_API_KEY=«AIza{b35}»").
			miss("AIza{b20}"),
		def(regexpRule("gcp-service-account-key", []string{"private_key_id"}, &RegexpFinder{
			Re:     regexp.MustCompile(`"private_key_id"\s*:\s*"([a-f0-9]{40})"`),
			Before: 4, After: 80, Confidence: 0.95,
		})).
			hit(`{"type": "service_account", "private_key_id": "«{h40}»", "client_email": "x@y.iam.gserviceaccount.com"}`),
		def(prefixed("google-oauth-client-secret", setB64URL, 28, 0, "GOCSPX-")).
			hit("client_secret=«GOCSPX-{b28}»"),
		def(prefixedRange("google-oauth-access-token", setB64URL, 50, 2048, 3.5, "ya29.")).
			hit("Authorization: Bearer «ya29.{b120}»"),
		def(prefixedRange("google-oauth-refresh-token", setB64URL, 40, 512, 3.5, "1//0")).
			hit(`"refresh_token": "«1//0{b90}»"`),
		def(regexpRule("azure-storage-key", []string{"accountkey"}, &RegexpFinder{
			Re:     regexp.MustCompile(`(?i)AccountKey=([A-Za-z0-9+/]{86}==)`),
			Before: 4, After: 100, Confidence: 0.95,
		})).
			hit("DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=«{s86}==»;EndpointSuffix=core.windows.net"),
		def(regexpRule("azure-client-secret", []string{"Q~"}, &RegexpFinder{
			Re:     regexp.MustCompile(`(?:^|[^A-Za-z0-9_~.\-])([A-Za-z0-9_~.\-]{3}[0-9]Q~[A-Za-z0-9_~.\-]{31,34})(?:[^A-Za-z0-9_~.\-]|$)`),
			Before: 8, After: 40, Confidence: 0.85,
		})).
			hit("client_secret=«bP88Q~{a34}»", "AZURE_CLIENT_SECRET: «.IQ8Q~{a31}»").
			miss("~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~"),
		def(regexpRule("azure-sas-token", []string{"sig="}, &RegexpFinder{
			Re:     regexp.MustCompile(`(?:sv|se|sp|sr|spr)=[^\s&"']{1,64}&[^\s"'<>]{0,300}?\bsig=([A-Za-z0-9%+/]{40,100}(?:%3D|=){0,2})`),
			Before: 360, After: 120, Confidence: 0.9,
		})).
			hit("https://acct.blob.core.windows.net/c/f.txt?sv=2022-11-02&ss=b&srt=o&sp=r&se=2030-01-01T00:00:00Z&spr=https&sig=«{s43}%3D»"),
		def(shapeRule("azure-shared-access-key", []string{"SharedAccessKey="}, `\A(?i:SharedAccessKey)=([A-Za-z0-9+/]{43}=)`, 80, 0.95, nil)).
			hit("Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=Root;SharedAccessKey=«{s43}=»"),
		def(keyedRule("azure-devops-pat", []string{"azure_devops", "azuredevops", "azure-devops", "ado_pat", "azdo", "devops_pat"}, `[a-z0-9]{52}|[A-Za-z0-9]{84}`, 3.5)).
			hit("AZURE_DEVOPS_EXT_PAT=«{l52}»"),
		def(keyedRule("azure-openai-key", []string{"azure_openai", "azureopenai", "azure-openai", "ocp-apim-subscription-key"}, `[a-fA-F0-9]{32}|[A-Za-z0-9]{84}`, 3)).
			hit("AZURE_OPENAI_API_KEY=«{h32}»", `"Ocp-Apim-Subscription-Key": "«{h32}»"`),
		def(prefixed("alibaba-access-key-id", setAlnum, 20, 2, "LTAI")).
			hit(`alibabaKey := "«LTAI{a20}»"`),
		def(keyedRule("alibaba-secret-key", []string{"alibaba"}, `(?i)[a-z0-9]{30}`, 2)).
			hit("ALIBABA_SECRET=«{l30}»"),
		def(prefixed("tencent-secret-id", setAlnum, 32, 3, "AKID")).
			hit("TENCENTCLOUD_SECRET_ID=«AKID{a32}»"),
		def(keyedRule("ibm-cloud-api-key", []string{"ibm_cloud", "ibmcloud", "ibm-cloud", "ibm_api", "ibmapi"}, `[A-Za-z0-9_-]{44}`, 3.5)).
			hit("IBMCLOUD_API_KEY=«{b44}»"),
		def(tokenRule("digitalocean-token", []string{"dop_v1_", "doo_v1_", "dor_v1_"}, setHexLower, 64, 64, 0.95, nil)).
			hit("«dop_v1_{h64}»", `doToken = "«doo_v1_{h64}»"`, "«dor_v1_{h64}»"),
		def(keyedRule("cloudflare-api-key", []string{"cloudflare"}, `(?i)[a-z0-9_-]{40}`, 2)).
			hit("CLOUDFLARE_API_TOKEN=«{b40}»"),
		def(keyedRule("cloudflare-global-api-key", []string{"cloudflare"}, `(?i)[a-f0-9]{37}`, 2)).
			hit("cloudflare_global_api_key = «{h37}»"),
		def(shapeRule("cloudflare-origin-ca-key", []string{"v1.0-"}, `\Av1\.0-[a-f0-9]{24}-[a-f0-9]{146}`, 200, 0.95, nil)).
			hit("origin_ca_key: «v1.0-{h24}-{h146}»"),
		def(keyedRule("heroku-api-key", []string{"heroku"}, uuidAny, 0)).
			hit("HEROKU_API_KEY=«{h8}-{h4}-{h4}-{h4}-{h12}»"),
		def(prefixed("heroku-api-key-v2", setB64URL, 58, 4, "HRKU-AA")).
			hit("heroku_token: «HRKU-AA{b58}»"),
		def(shapeRule("flyio-token", []string{"fo1_", "fm1a_", "fm1r_", "fm2_"},
			`\A(?:fo1_[\w-]{43}|fm1[ar]_[a-zA-Z0-9+/]{100,}={0,3}|fm2_[a-zA-Z0-9+/]{100,}={0,3})`, 4096, 0.95, minEntropy(4))).
			hit(`flyToken="«fo1_{b43}»"`, "FLY_API_TOKEN=«fm2_{s150}»"),
		def(keyedRule("linode-token", []string{"linode"}, `[a-f0-9]{64}`, 3)).
			hit("LINODE_TOKEN=«{h64}»"),
		def(keyedRule("scaleway-secret-key", []string{"scaleway", "scw_secret"}, uuidLower, 3)).
			hit("SCW_SECRET_KEY=«{h8}-{h4}-{h4}-{h4}-{h12}»"),
		def(keyedRule("vercel-token", []string{"vercel"}, `[A-Za-z0-9]{24}`, 3.5)).
			hit("VERCEL_TOKEN=«{a24}»"),
		def(keyedRule("netlify-token", []string{"netlify"}, `(?i)[a-z0-9=_\-]{40,46}`, 0)).
			hit("NETLIFY_AUTH_TOKEN=«{b43}»"),
		def(prefixed("render-api-key", setAlnum, 32, 3, "rnd_")).
			hit("RENDER_API_KEY=«rnd_{a32}»"),
		def(tokenRule("supabase-token", []string{"sbp_", "sb_secret_"}, setB64URL, 31, 40, 0.95, minEntropy(3))).
			hit("SUPABASE_ACCESS_TOKEN=«sbp_{h40}»", "«sb_secret_{b31}»"),
		def(regexpRule("terraform-cloud-token", []string{".atlasv1."}, &RegexpFinder{
			Re:     regexp.MustCompile(`(?i)\b([a-z0-9]{14}\.(?-i:atlasv1)\.[a-z0-9\-_=]{60,70})`),
			Before: 16, After: 72, Confidence: 0.95,
			Validate: func(_, v string) bool { return entropy(v) >= 3.5 },
		})).
			hit("token = «{l14}.atlasv1.{b67}»"),
		def(tokenRule("vault-token", []string{"hvs.", "hvb."}, setB64URL, 24, 300, 0.9, nil)).
			hit("VAULT_TOKEN=«hvs.{b90}»", "«hvb.{b140}»"),
		def(keyedRule("vault-legacy-token", []string{"vault", "token"}, `s\.[A-Za-z0-9]{24}`, 3.5)).
			hit("export VAULT_TOKEN=«s.{a24}»", "token: «s.{a24}»"),
		def(prefixed("pulumi-token", setHexLower, 40, 2, "pul-")).
			hit("PULUMI_ACCESS_TOKEN=«pul-{h40}»"),
		def(tokenRule("doppler-token", []string{"dp.pt.", "dp.st.", "dp.ct.", "dp.sa.", "dp.scim.", "dp.audit."}, setAlnum, 40, 44, 0.95, nil)).
			hit("DOPPLER_TOKEN=«dp.pt.{a43}»"),
	}
}
