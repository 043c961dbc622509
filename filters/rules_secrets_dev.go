package filters

import (
	"regexp"
	"strings"
)

// devSecrets are the credentials of code hosting, package registries, CI,
// and the tools developers wire into them: monitoring, issue trackers,
// secret managers.
func devSecrets() []secretDef {
	return []secretDef{
		def(tokenRule("github-token", []string{"ghp_", "gho_", "ghu_", "ghs_", "ghr_"}, setAlnum, 36, 251, 0.95, nil)).
			hit("token «ghp_{a36}»", "GITHUB_TOKEN=«gho_{a36}»", "«ghs_{a36}».", "«ghu_{a36}»", "«ghr_{a36}»").
			miss("ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "ghp_{a20}"),
		def(tokenRule("github-fine-grained-token", []string{"github_pat_"}, setAlnumU, 60, 251, 0.95, nil)).
			hit("«github_pat_{a22}_{a59}»"),
		def(shapeRule("gitlab-token", []string{"glpat-", "gldt-", "glrt-", "glptt-"},
			`\A(?:glpat-[0-9A-Za-z_-]{20,300}(?:\.[0-9a-z]{2}[0-9a-z]{7})?|gldt-[0-9A-Za-z_-]{20,255}|glrt-[0-9A-Za-z_-]{20,300}(?:\.[0-9a-z]{2}[0-9a-z]{7})?|glptt-[0-9a-f]{40})`,
			320, 0.95, nil)).
			hit("«glpat-{b20}»", "gitlabToken = «glpat-{b27}.01{l7}»", "«gldt-{b20}»", "«glrt-t1_{b27}.01{l7}»", "«glptt-{h40}»").
			miss("glpat-XXXXXXXXXXX-XXXXXXXX", "glpat-{b10}"),
		def(prefixed("gitlab-cicd-job-token", setB64URL, 20, 3, "glcbt-").
			withFind(shape(`\Aglcbt-[0-9a-zA-Z]{1,5}_[0-9a-zA-Z_-]{20}`))).
			hit("CI_JOB_TOKEN=«glcbt-{a3}_{b20}»"),
		def(prefixed("gitlab-feature-flag-token", setB64URL, 20, 3, "glffct-")).hit("«glffct-{b20}»"),
		def(prefixed("gitlab-feed-token", setB64URL, 20, 3, "glft-")).hit("«glft-{b20}»"),
		def(prefixed("gitlab-incoming-mail-token", setB64URL, 25, 3, "glimt-")).hit("«glimt-{b25}»"),
		def(prefixed("gitlab-agent-token", setB64URL, 50, 3, "glagent-")).hit("«glagent-{b50}»"),
		def(prefixed("gitlab-oauth-secret", setB64URL, 64, 3, "gloas-")).hit("«gloas-{b64}»"),
		def(prefixed("gitlab-scim-token", setB64URL, 20, 3, "glsoat-")).hit("«glsoat-{b20}»"),
		def(prefixed("gitlab-runner-registration-token", setB64URL, 20, 3, "GR1348941")).hit("registration-token: «GR1348941{b20}»"),
		def(shapeRule("gitlab-session-cookie", []string{"_gitlab_session="}, `\A_gitlab_session=([0-9a-z]{32})`, 64, 0.9, minEntropy(3))).
			hit("Cookie: _gitlab_session=«{l32}»"),
		def(keyedRule("bitbucket-client-id", []string{"bitbucket"}, `(?i)[a-z0-9]{32}`, 0)).hit("BITBUCKET_CLIENT_ID=«{l32}»"),
		def(keyedRule("bitbucket-client-secret", []string{"bitbucket"}, `(?i)[a-z0-9=_\-]{64}`, 0)).hit("bitbucket_secret: «{b64}»"),
		def(prefixed("bitbucket-app-password", setAlnum, 32, 3.5, "ATBB")).hit("BITBUCKET_APP_PASSWORD=«ATBB{a32}»"),
		def(Rule{ID: "atlassian-api-token", Type: TypeSecret, Label: "SECRET",
			Keywords: []string{"ATATT3", "atlassian", "confluence", "jira"},
			Find: combine(
				(&tokenFinder{prefixes: []string{"ATATT3"}, body: setB64URLEq, min: 150, max: 255, conf: 0.95}).Find,
				(&keyedFinder{re: regexp.MustCompile(`\A(?i)[a-z0-9]{20}[a-f0-9]{4}`), minEntropy: 3.5, conf: 0.8}).Find)}).
			hit("JIRA_API_TOKEN=«ATATT3{b186}»", "atlassian_token: '«{l20}{h4}»'").
			miss("getPagesInConfluenceSpace,searchConfluenceUsingCql"),
		def(tokenRule("npm-token", []string{"npm_"}, setAlnum, 36, 36, 0.95, nil)).
			hit("//registry.npmjs.org/:_authToken=«npm_{a36}»"),
		def(prefixedRange("pypi-token", setB64URL, 50, 1000, 0, "pypi-AgEIcHlwaS5vcmc")).
			hit("«pypi-AgEIcHlwaS5vcmc{b60}»"),
		def(prefixed("rubygems-token", setHexLower, 48, 2, "rubygems_")).hit("GEM_HOST_API_KEY=«rubygems_{h48}»"),
		def(prefixed("nuget-api-key", setLowerNum, 43, 3.5, "oy2")).hit("nuget push x.nupkg -k «oy2{l43}»"),
		def(prefixed("clojars-token", setAlnum, 60, 2, "CLOJARS_")).hit("«CLOJARS_{l60}»"),
		def(tokenRule("docker-hub-token", []string{"dckr_pat_", "dckr_oat_"}, setB64URL, 27, 36, 0.95, minEntropy(3))).
			hit("docker login -u me -p «dckr_pat_{b27}»"),
		def(keyedRule("jfrog-api-key", []string{"jfrog", "artifactory", "bintray", "xray"}, `(?i)[a-z0-9]{73}`, 0)).hit("ARTIFACTORY_API_KEY=«{l73}»"),
		def(keyedRule("jfrog-identity-token", []string{"jfrog", "artifactory", "bintray", "xray"}, `(?i)[a-z0-9]{64}`, 0)).hit("JFROG_TOKEN=«{l64}»"),
		def(prefixed("artifactory-api-key", setAlnum, 69, 4.5, "AKCp")).hit(`artifactoryApiKey := "«AKCp{a69}»"`),
		def(prefixed("artifactory-reference-token", setAlnum, 59, 4.5, "cmVmd")).hit(`ref := "«cmVmd{a59}»"`),
		def(shapeRule("circleci-token", []string{"CCIPAT_", "CCIPRJ_"}, `\ACCIP(?:AT|RJ)_[A-Za-z0-9]{22}_[a-f0-9]{40}`, 80, 0.95, nil)).
			hit("CIRCLE_TOKEN=«CCIPAT_{a22}_{h40}»"),
		def(keyedRule("travisci-token", []string{"travis"}, `(?i)[a-z0-9]{22}`, 0)).hit("TRAVIS_TOKEN=«{l22}»"),
		def(keyedRule("droneci-token", []string{"droneci"}, `(?i)[a-z0-9]{32}`, 0)).hit("DRONECI_TOKEN=«{l32}»"),
		def(keyedRule("codecov-token", []string{"codecov"}, `(?i)[a-z0-9]{32}`, 0)).hit("CODECOV_TOKEN=«{l32}»"),
		def(prefixed("buildkite-token", setHexLower, 40, 3, "bkua_")).hit("BUILDKITE_API_TOKEN=«bkua_{h40}»"),
		def(keyedRule("snyk-token", []string{"snyk"}, uuidAny, 0)).hit("SNYK_TOKEN=«{h8}-{h4}-{h4}-{h4}-{h12}»"),
		def(Rule{ID: "sonar-token", Type: TypeSecret, Label: "SECRET", Keywords: []string{"sonar", "squ_", "sqp_", "sqa_"},
			Find: combine(
				(&tokenFinder{prefixes: []string{"squ_", "sqp_", "sqa_"}, body: setHexLower, min: 40, max: 40, conf: 0.95}).Find,
				(&keyedFinder{re: regexp.MustCompile(`\A(?i)(?:squ_|sqp_|sqa_)?[a-z0-9=_\-]{40}`), minEntropy: 3, conf: 0.8}).Find)}).
			hit("SONAR_TOKEN=«{l40}»", "sonar.login=«squ_{h40}»"),
		def(Rule{ID: "sourcegraph-token", Type: TypeSecret, Label: "SECRET", Keywords: []string{"sgp_", "sourcegraph"},
			Find: combine(
				(&shapeFinder{re: regexp.MustCompile(`\Asgp_(?:[a-fA-F0-9]{16}_[a-fA-F0-9]{40}|local_[a-fA-F0-9]{40}|[a-fA-F0-9]{40})`), max: 80, conf: 0.95}).Find,
				(&keyedFinder{re: regexp.MustCompile(`\A[a-fA-F0-9]{40}`), minEntropy: 3, conf: 0.8}).Find)}).
			hit("SRC_ACCESS_TOKEN=«sgp_{h16}_{h40}»", "sourcegraph_token = «{h40}»"),
		def(prefixed("postman-api-key", setHexDash, 59, 0, "PMAK-")).hit("«PMAK-{h24}-{h34}»"),
		def(shapeRule("harness-api-key", []string{"pat.", "sat."}, `\A(?:pat|sat)\.[a-zA-Z0-9_-]{22}\.[a-zA-Z0-9]{24}\.[a-zA-Z0-9]{20}`, 80, 0.95, nil)).
			hit("HARNESS_API_KEY=«pat.{b22}.{a24}.{a20}»"),
		def(prefixed("octopus-deploy-api-key", setUpperNum, 26, 3, "API-")).hit("OCTOPUS_API_KEY=«API-{A26}»"),
		def(prefixed("prefect-api-key", setAlnum, 36, 2, "pnu_")).hit("PREFECT_API_KEY=«pnu_{a36}»"),
		def(prefixed("readme-api-key", setLowerNum, 70, 2, "rdme_")).hit("README_API_KEY=«rdme_{l70}»"),
		def(prefixed("infracost-api-key", setAlnum, 32, 3, "ico-")).hit("INFRACOST_API_KEY=«ico-{a32}»"),
		def(prefixed("scalingo-token", setB64URL, 48, 2, "tk-us-")).hit("SCALINGO_API_TOKEN=«tk-us-{b48}»"),
		def(tokenRule("planetscale-token", []string{"pscale_tkn_", "pscale_oauth_", "pscale_pw_"}, setAlnumDot, 32, 64, 0.95, minEntropy(3))).
			hit("PLANETSCALE_TOKEN=«pscale_tkn_{b43}»", "password: «pscale_pw_{b43}»"),
		def(tokenRule("databricks-token", []string{"dapi"}, setHexLower, 32, 32, 0.9, nil)).hit("DATABRICKS_TOKEN=«dapi{h32}»"),
		def(tokenRule("grafana-token", []string{"glsa_", "glc_"}, setB64Std, 32, 400, 0.9, nil)).
			hit("«glsa_{a32}_{h8}»", "GRAFANA_CLOUD_TOKEN=«glc_{s60}»"),
		def(prefixedRange("grafana-api-key", setAlnum, 70, 400, 3, "eyJrIjoi")).hit(`"apiKey": "«eyJrIjoi{a80}»"`),
		def(tokenRule("new-relic-key", []string{"NRAK-"}, setUpperNum, 27, 27, 0.95, nil)).hit("NEW_RELIC_API_KEY=«NRAK-{A27}»"),
		def(prefixed("new-relic-browser-key", setHexLower, 19, 2, "NRJS-")).hit("newrelic_browser_key: «NRJS-{h19}»"),
		def(shapeRule("new-relic-insert-key", []string{"NRII-"}, `\ANRII-[A-Za-z0-9_-]{32}`, 40, 0.95, nil)).hit("NEW_RELIC_INSERT_KEY=«NRII-{b32}»"),
		def(keyedRule("new-relic-user-api-id", []string{"new-relic", "newrelic", "new_relic"}, `(?i)[a-z0-9]{64}`, 0)).hit("NEWRELIC_API_ID=«{l64}»"),
		def(shapeRule("sentry-org-token", []string{"sntrys_"}, `\Asntrys_eyJpYXQiO[a-zA-Z0-9+/]{10,200}(?:LCJyZWdpb25fdXJs|InJlZ2lvbl91cmwi|cmVnaW9uX3VybCI6)[a-zA-Z0-9+/]{10,200}={0,2}_[a-zA-Z0-9+/]{43}`, 512, 0.95, nil)).
			hit("SENTRY_AUTH_TOKEN=«sntrys_eyJpYXQiO{s40}LCJyZWdpb25fdXJs{s40}_{s43}»"),
		def(prefixed("sentry-user-token", setHexLower, 64, 3.5, "sntryu_")).hit("SENTRY_AUTH_TOKEN=«sntryu_{h64}»"),
		def(keyedRule("sentry-access-token", []string{"sentry"}, `[a-f0-9]{64}`, 3)).hit("SENTRY_TOKEN=«{h64}»"),
		def(keyedRule("datadog-access-token", []string{"datadog", "dd_api_key", "dd_app_key", "dd-api-key"}, `(?i)[a-z0-9]{40}|[a-f0-9]{32}`, 0)).
			hit("DATADOG_APP_KEY=«{l40}»", "DD_API_KEY=«{h32}»"),
		def(shapeRule("dynatrace-token", []string{"dt0c01."}, `\Adt0c01\.[A-Za-z0-9]{24}\.[A-Za-z0-9]{64}`, 100, 0.95, minEntropy(4))).
			hit("DT_API_TOKEN=«dt0c01.{a24}.{a64}»"),
		def(keyedRuleExact("sumologic-access-id", []string{"SUMO", "Sumo", "sumo"}, `su[a-zA-Z0-9]{12}`, 3)).hit("SUMO_ACCESS_ID=«su{a12}»"),
		def(keyedRuleExact("sumologic-access-token", []string{"SUMO", "Sumo", "sumo"}, `(?i)[a-z0-9]{64}`, 3)).hit("SUMO_ACCESS_KEY=«{a64}»"),
		def(keyedRule("honeycomb-api-key", []string{"honeycomb"}, `[A-Za-z0-9]{22}|[a-f0-9]{32}`, 3)).hit("HONEYCOMB_API_KEY=«{a22}»"),
		def(keyedRule("pagerduty-token", []string{"pagerduty"}, `[A-Za-z0-9_+-]{20}`, 3)).hit("PAGERDUTY_TOKEN=«u+{a18}»"),
		def(keyedRule("rollbar-token", []string{"rollbar"}, `[a-f0-9]{32}`, 3)).hit("ROLLBAR_ACCESS_TOKEN=«{h32}»"),
		def(keyedRule("bugsnag-api-key", []string{"bugsnag"}, `[a-f0-9]{32}`, 3)).hit("BUGSNAG_API_KEY=«{h32}»"),
		def(keyedRule("splunk-hec-token", []string{"splunk"}, uuidAny, 3)).hit("SPLUNK_HEC_TOKEN=«{h8}-{h4}-{h4}-{h4}-{h12}»"),
		def(tokenRule("linear-api-key", []string{"lin_api_"}, setAlnum, 40, 40, 0.95, nil)).hit("«lin_api_{a40}»"),
		def(keyedRule("linear-client-secret", []string{"linear"}, `(?i)[a-f0-9]{32}`, 2)).hit("LINEAR_CLIENT_SECRET=«{h32}»"),
		def(shapeRule("notion-token", []string{"ntn_"}, `\Antn_[0-9]{11}[A-Za-z0-9]{35}`, 60, 0.95, minEntropy(4))).hit("NOTION_TOKEN=«ntn_{d11}{a35}»"),
		def(keyedRule("asana-client-id", []string{"asana"}, `[0-9]{16}`, 0)).hit("ASANA_CLIENT_ID=«{d16}»"),
		def(keyedRule("asana-client-secret", []string{"asana"}, `(?i)[a-z0-9]{32}`, 0)).hit("asana_secret: «{l32}»"),
		def(keyedRule("airtable-api-key", []string{"airtable"}, `(?i)[a-z0-9]{17}`, 0)).hit("AIRTABLE_API_KEY=«{l17}»"),
		def(tokenRule("airtable-personal-access-token", []string{"pat"}, setAlnumPeriod, 79, 79, 0.95, func(t string) bool {
			return t[17] == '.' && isHexString(t[18:]) && strings.IndexByte(t[3:17], '.') < 0
		})).
			hit("AIRTABLE_TOKEN=«pat{a14}.{h64}»").miss("path.join(a, b)", "pattern = re.compile(x)"),
		def(keyedRule("contentful-delivery-token", []string{"contentful"}, `(?i)[a-z0-9=_\-]{43}`, 0)).hit("CONTENTFUL_DELIVERY_TOKEN=«{b43}»"),
		def(keyedRule("typeform-token", []string{"typeform", "tfp_"}, `(?i)tfp_[a-z0-9\-_.=]{59}`, 0)).hit("TYPEFORM_TOKEN=«tfp_{b59}»"),
		def(keyedRule("launchdarkly-token", []string{"launchdarkly"}, `(?i)[a-z0-9=_\-]{40}`, 0)).hit("LAUNCHDARKLY_ACCESS_TOKEN=«{b40}»"),
		def(keyedRuleExact("okta-token", []string{"OKTA", "Okta", "okta"}, `00[\w=\-]{40}`, 4)).hit("OKTA_API_TOKEN=«00{b40}»"),
		def(shapeRule("1password-secret-key", []string{"A3-"}, `\AA3-[A-Z0-9]{6}-(?:[A-Z0-9]{11}|[A-Z0-9]{6}-[A-Z0-9]{5})-[A-Z0-9]{5}-[A-Z0-9]{5}-[A-Z0-9]{5}`, 48, 0.95, minEntropy(3.8))).
			hit("1password_token: «A3-{A6}-{A11}-{A5}-{A5}-{A5}»").miss("A3-XXXXXX-XXXXXXXXXXX-XXXXX-XXXXX-XXXXX"),
		def(prefixedRange("1password-service-account-token", setB64Std, 250, 4096, 4, "ops_eyJ")).hit("OP_SERVICE_ACCOUNT_TOKEN=«ops_eyJ{s260}»"),
		def(tokenRule("age-secret-key", []string{"AGE-SECRET-KEY-1"}, setBech32, 58, 58, 0.99, nil)).hit("«AGE-SECRET-KEY-1{e58}»"),
		def(regexpRule("authress-key", []string{".acc_", ".acc-"}, &RegexpFinder{
			Re:     regexp.MustCompile(`\b((?:sc|ext|scauth|authress)_(?i)[a-z0-9]{5,30}\.[a-z0-9]{4,6}\.(?-i:acc)[_-][a-z0-9-]{10,32}\.[a-z0-9+/_=-]{30,120})`),
			Before: 56, After: 160, Confidence: 0.95,
		})).hit(`authressToken = '«sc_{l10}.{l4}.acc_{l10}.{b40}»'`),
		def(prefixed("clickhouse-cloud-key", setAlnum, 38, 3, "4b1d")).hit(`ClickHouse_TOKEN = "«4b1d{a38}»"`),
		def(tokenRule("intra42-client-secret", []string{"s-s4t2ud-", "s-s4t2af-"}, setHex, 64, 64, 0.95, minEntropy(3))).hit("«s-s4t2ud-{h64}»"),
		def(regexpRule("maxmind-license-key", []string{"_mmk"}, &RegexpFinder{
			Re:     regexp.MustCompile(`\b([A-Za-z0-9]{6}_[A-Za-z0-9]{29}_mmk)\b`),
			Before: 40, After: 4, Confidence: 0.95,
			Validate: func(_, v string) bool { return entropy(v) >= 4 },
		})).hit("MAXMIND_LICENSE_KEY=«{a6}_{a29}_mmk»"),
		def(tokenRule("settlemint-token", []string{"sm_aat_", "sm_pat_", "sm_sat_"}, setAlnum, 16, 16, 0.95, minEntropy(3))).hit("«sm_pat_{a16}»"),
		def(keyedRule("defined-networking-token", []string{"dnkey"}, `(?i)dnkey-[a-z0-9=_\-]{26}-[a-z0-9=_\-]{52}`, 0)).hit("DNKEY=«dnkey-{b26}-{b52}»"),
		def(shapeRule("frameio-token", []string{"fio-u-"}, `\Afio-u-(?i)[a-z0-9\-_=]{64}`, 72, 0.95, nil)).hit("FRAMEIO_TOKEN=«fio-u-{b64}»"),
		def(prefixed("adobe-client-secret", setAlnum, 32, 2, "p8e-")).hit(`adobeClient := "«p8e-{a32}»"`),
		def(tokenRule("openshift-user-token", []string{"sha256~"}, setB64URL, 43, 43, 0.95, minEntropy(3.5))).hit("oc login --token=«sha256~{b43}»"),
		def(keyedRule("gitter-token", []string{"gitter"}, `(?i)[a-z0-9_-]{40}`, 0)).hit("GITTER_TOKEN=«{b40}»"),
	}
}

// withFind replaces the finder of a rule, keeping its keywords.
func (r Rule) withFind(f func(string, []Span, []Match) []Match) Rule {
	r.Find = f
	return r
}

// shape is a shapeFinder's Find for expr, a \A-anchored token.
func shape(expr string) func(string, []Span, []Match) []Match {
	return (&shapeFinder{re: regexp.MustCompile(expr), max: 512, conf: 0.95}).Find
}
