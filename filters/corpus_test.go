package filters

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// This file generates the mixed corpus of the benchmarks and of the
// comparison with gitleaks: prose, source code in several languages,
// configuration, logs and chat, deterministic for a seed, with fake
// secrets of every built-in format planted at a realistic density.

// plant is a secret planted in a corpus: the rule whose example it is and
// its span.
type plant struct {
	rule string
	Span
}

// mixedCorpus returns about n bytes of mixed text and the secrets planted
// in it, one every plantEvery bytes on average (none if 0).
func mixedCorpus(n int, seed uint64, plantEvery int) (string, []plant) {
	r := rand.New(rand.NewPCG(seed, 0xc0de))
	var b strings.Builder
	b.Grow(n + 4096)
	var plants []plant
	var examples []struct{ rule, tmpl string }
	for _, d := range secretDefs() {
		for _, h := range d.hits {
			if strings.Contains(h, "«") {
				examples = append(examples, struct{ rule, tmpl string }{d.ID, h})
			}
		}
	}
	nextPlant := plantEvery / 2
	for k := 0; b.Len() < n; k++ {
		switch p := r.IntN(100); {
		case p < 40:
			writeProse(&b, r)
		case p < 75:
			writeCode(&b, r)
		case p < 88:
			writeConfig(&b, r)
		default:
			writeLog(&b, r)
		}
		if plantEvery > 0 && b.Len() >= nextPlant {
			ex := examples[r.IntN(len(examples))]
			text, s, e := expandTemplate(ex.tmpl, r.Uint64())
			base := b.Len()
			b.WriteString(text)
			b.WriteByte('\n')
			plants = append(plants, plant{ex.rule, Span{base + s, base + e}})
			nextPlant += plantEvery/2 + r.IntN(plantEvery)
		}
	}
	return b.String(), plants
}

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

var corpusWords = strings.Fields(`service request response latency budget provider model prompt
	message token window cache release deploy cluster region replica queue worker schedule report invoice
	customer account ticket summary policy review audit incident rollback migration database index table
	schema backup restore metric alert dashboard threshold retry timeout connection session header payload
	document section paragraph meeting agenda decision owner deadline quarter forecast revenue margin team`)

var corpusSentences = []string{
	"The deployment finished without errors and the canary has been healthy for two hours.",
	"Please review the attached summary before the meeting on Thursday; the numbers changed since last week.",
	"We rotated the signing key last month, so older sessions will be asked to log in again.",
	"If the cache misses, the service falls back to the database, which adds about forty milliseconds.",
	"The access log shows a spike at noon that matches the marketing e-mail going out.",
	"Tokens are counted on the way in and charged on the way out, so the budget never goes negative.",
	"Ignore the flaky test for now; it depends on the network and the previous run passed.",
	"The API returns a paginated list; follow the next link until it is empty.",
	"Store the password in the vault, never in the repository, and reference it by path.",
	"Our auth provider issues short-lived credentials, which the sidecar refreshes every fifteen minutes.",
	"The secret to a good incident review is to focus on the system, not on the person.",
	"Version 2.14.1 fixes the memory leak reported in the forum and speeds up cold starts.",
	"You can ignore the warning above if the previous build passed; the instructions in the README still apply.",
	"Customer asked whether the key rotation affects their integration; I told them it does not.",
	"The model sometimes repeats the system prompt when the context is nearly full, which we should test.",
	"Latency at the 99th percentile dropped from 840 to 310 milliseconds after the index was rebuilt.",
	"A token bucket with a burst of ten and a refill of one per second keeps the crawler polite.",
	"We agreed to keep the old endpoint for one more quarter and to announce its removal in the changelog.",
	"The quick brown fox jumps over the lazy dog while the compiler checks types.",
	"Send the draft to the legal team by Friday so they have time to comment.",
	"The new dashboard groups alerts by owner and hides the ones that resolved themselves.",
	"Authentication failed three times, so the account was locked for an hour as the policy says.",
	"Remember to update the access list when someone leaves the team.",
	"The report covers revenue, churn and support volume for the last four quarters.",
	"Consider caching the public key set; fetching it on every request doubles the latency.",
	"Our password policy requires twelve characters, which the form now checks as you type.",
	"The key insight was that most requests carry nothing sensitive at all.",
	"He forwarded the thread with the previous instructions from the vendor about the upgrade.",
	"Let me know if the numbers in section three look off to you.",
	"The secret santa draw is on Monday; put your name on the list in the kitchen.",
}

func writeProse(b *strings.Builder, r *rand.Rand) {
	n := 2 + r.IntN(5)
	for i := 0; i < n; i++ {
		if r.IntN(4) == 0 {
			fmt.Fprintf(b, "The %s %s for the %s was %d%% above the %s. ", pick(r, corpusWords), pick(r, corpusWords),
				pick(r, corpusWords), 1+r.IntN(99), pick(r, corpusWords))
			continue
		}
		b.WriteString(pick(r, corpusSentences))
		b.WriteByte(' ')
	}
	b.WriteString("\n\n")
}

var codeSnippets = []string{
	`func (c *Client) Do(ctx context.Context, req *http.Request) (*http.Response, error) {
	req = req.WithContext(ctx)
	token, err := c.tokens.Token(ctx)
	if err != nil {
		return nil, fmt.Errorf("get token: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+token.AccessToken)
	for attempt := 0; attempt < c.maxRetries; attempt++ {
		resp, err := c.hc.Do(req)
		if err == nil && resp.StatusCode < 500 {
			return resp, nil
		}
		time.Sleep(time.Duration(attempt*%d) * time.Millisecond)
	}
	return nil, fmt.Errorf("request to %%s failed after %%d attempts", req.URL.Host, c.maxRetries)
}
`,
	`def load_settings(path: str) -> Settings:
    with open(path) as f:
        raw = yaml.safe_load(f)
    api_key = os.environ.get("SERVICE_API_KEY")
    password = os.environ["DB_PASSWORD"]
    if not api_key:
        raise ValueError("SERVICE_API_KEY is not set")
    return Settings(api_key=api_key, password=password, timeout=raw.get("timeout", %d))
`,
	`export async function fetchUser(id) {
  const token = await getAccessToken();
  const res = await fetch(` + "`${API_BASE}/users/${id}`" + `, {
    headers: { Authorization: ` + "`Bearer ${token}`" + `, "X-Request-Id": crypto.randomUUID() },
  });
  if (!res.ok) throw new Error(` + "`user ${id}: ${res.status}`" + `);
  return res.json(); // cached for %d seconds upstream
}
`,
	`SELECT u.id, u.email, count(o.id) AS orders
FROM users u LEFT JOIN orders o ON o.user_id = u.id
WHERE u.created_at > now() - interval '%d days'
GROUP BY u.id, u.email
ORDER BY orders DESC LIMIT 50;
`,
	`class TokenCache:
    """Caches access tokens until shortly before they expire."""

    def __init__(self, client, skew=%d):
        self._client = client
        self._skew = skew
        self._token = None

    def get(self):
        if self._token is None or self._token.expires_at - self._skew < time.time():
            self._token = self._client.fetch_token()
        return self._token.access_token
`,
	`pub fn verify(key: &PublicKey, msg: &[u8], sig: &Signature) -> Result<(), Error> {
    let digest = Sha256::digest(msg);
    key.verify(&digest, sig).map_err(|_| Error::BadSignature)?;
    Ok(()) // %d
}
`,
	`const cacheKey = ` + "`user:${userId}:profile:v%d`" + `;
const max_tokens = 1024;
let secretName = "app-tls";
const tokenizer = new Tokenizer({ model: "cl100k_base" });
`,
	`#!/bin/sh
set -eu
curl -sf -H "Authorization: Bearer $GITHUB_TOKEN" https://api.github.com/repos/$REPO/releases/latest |
  jq -r '.assets[] | select(.name | endswith(".tar.gz")) | .browser_download_url' | head -n %d
`,
	`for i, key := range keys {
	if v, ok := m[key]; ok && v > %d {
		out = append(out, key)
	}
	_ = i
}
`,
	`@app.post("/login")
def login(form: LoginForm):
    user = db.get_user(form.username)
    if user is None or not check_password_hash(user.password_hash, form.password):
        raise HTTPException(status_code=401, detail="invalid credentials")
    return {"access_token": issue_token(user.id, ttl=%d), "token_type": "bearer"}
`,
}

func writeCode(b *strings.Builder, r *rand.Rand) {
	fence := r.IntN(2) == 0
	if fence {
		b.WriteString("```\n")
	}
	fmt.Fprintf(b, pick(r, codeSnippets), 1+r.IntN(900))
	if fence {
		b.WriteString("```\n")
	}
	b.WriteByte('\n')
}

var configSnippets = []string{
	`apiVersion: apps/v1
kind: Deployment
metadata:
  name: billing-%d
spec:
  replicas: 3
  template:
    spec:
      containers:
        - name: api
          image: registry.internal/billing:1.24.3
          env:
            - name: DB_PASSWORD
              valueFrom:
                secretKeyRef: {name: billing-db, key: password}
            - name: LOG_LEVEL
              value: info
`,
	`{"name": "billing-service", "replicas": %d, "image": "registry.internal/billing:1.24.3",
 "env": {"LOG_LEVEL": "info", "TIMEOUT": "30s", "REGION": "eu-west-1"}, "ports": [8080, 9090]}
`,
	`[database]
host = "db.internal"
port = 5432
user = "billing"
password = "${DB_PASSWORD}"
pool_size = %d
`,
	`jobs:
  release:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: npm publish
        env:
          NODE_AUTH_TOKEN: ${{ secrets.NPM_TOKEN }}
          RETRIES: "%d"
`,
	`FROM golang:1.26 AS build
WORKDIR /src
COPY . .
RUN --mount=type=secret,id=netrc,target=/root/.netrc go build -o /out/app ./cmd/app
EXPOSE %d
`,
	`# .env.example
API_KEY=
DATABASE_URL=postgres://user:password@localhost:5432/app
REDIS_URL=redis://localhost:6379/%d
`,
}

func writeConfig(b *strings.Builder, r *rand.Rand) {
	fmt.Fprintf(b, pick(r, configSnippets), 1+r.IntN(50))
	b.WriteByte('\n')
}

func writeLog(b *strings.Builder, r *rand.Rand) {
	n := 3 + r.IntN(6)
	for i := 0; i < n; i++ {
		fmt.Fprintf(b, "2025-%02d-%02dT%02d:%02d:%02dZ %s %s request_id=%s latency_ms=%d status=%d commit=%s\n",
			1+r.IntN(12), 1+r.IntN(28), r.IntN(24), r.IntN(60), r.IntN(60),
			pick(r, []string{"INFO", "WARN", "DEBUG", "ERROR"}),
			pick(r, []string{"GET /v1/users", "POST /v1/messages", "token refreshed", "cache miss", "retrying upstream", "budget reserved"}),
			randomOf(r, csHexLower, 8)+"-"+randomOf(r, csHexLower, 4)+"-4"+randomOf(r, csHexLower, 3)+"-a"+randomOf(r, csHexLower, 3)+"-"+randomOf(r, csHexLower, 12),
			r.IntN(900), pick(r, []int{200, 200, 200, 201, 404, 429, 500}), randomOf(r, csHexLower, 40))
	}
	b.WriteByte('\n')
}
