package broker

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// decodeReference is DecodeRequest without the one-pass reader: what every
// body went through before it, and what the reader must agree with.
func decodeReference(body []byte, version string, lim Limits) (*Request, json.RawMessage, error) {
	if err := checkJSON(body, lim.WithDefaults()); err != nil {
		return nil, nil, err
	}
	return decodeCareful(body, version)
}

// diffDecode compares DecodeRequest with decodeReference on body and
// returns what differs, or "".
func diffDecode(body []byte, version string, lim Limits) string {
	wantReq, wantID, wantErr := decodeReference(body, version, lim)
	gotReq, gotID, gotErr := DecodeRequest(body, version, lim)
	if d := cmp.Diff(errorFields(wantErr), errorFields(gotErr)); d != "" {
		return "error (-want +got):\n" + d
	}
	if !bytes.Equal(wantID, gotID) {
		return "id: got " + string(gotID) + ", want " + string(wantID)
	}
	return cmp.Diff(wantReq, gotReq, cmp.AllowUnexported(CreateMessageParams{}, SamplingMessage{}))
}

func errorFields(err error) map[string]any {
	if err == nil {
		return nil
	}
	e := AsError(err)
	return map[string]any{"reason": e.Reason, "code": e.RPCCode(), "msg": e.Msg, "error": err.Error()}
}

// agreementBodies are bodies on which the one-pass reader and the careful
// path must agree: the common shapes, and every oddity the reader gives up
// on or must read exactly as encoding/json does.
var agreementBodies = append(slices.Clone(wireBodies), oddBodies...)

// wireBodies are the shapes the reader is for: it must take them.
var wireBodies = []string{
	string(req(params(textMsg))),
	string(req(params(textMsg, toolUseMsg, toolResMsg))),
	string(req(params(imageMsg, audioMsg, arrayMsg))),
	string(req(`{"messages":[` + textMsg + `],"maxTokens":1,"tools":[` + weatherTool + `],"toolChoice":{"mode":"auto"},"modelPreferences":{"hints":[{"name":"gpt"}],"costPriority":0}}`)),
	`{"jsonrpc":"2.0","id":"x","method":"sampling/createMessage","params":{"messages":[{"role":"user","content":[{"type":"tool_result","toolUseId":"a","content":[{"type":"resource","resource":{"uri":"a","text":"b"}}]}]}],"maxTokens":1e3}}`,
	" \r\n\t{ \"jsonrpc\" : \"2.0\" , \"id\" : -1.5e+3 , \"method\" : \"sampling/createMessage\" , \"params\" : { \"messages\" : [ { \"role\" : \"user\" , \"content\" : [ ] } ] , \"maxTokens\" : 7 } } \n",
	`{"params":{"maxTokens":2,"messages":[]},"method":"sampling/createMessage","id":"α","jsonrpc":"2.0","extra":[1,{"a":null},true,false,"s"]}`,

	// Every field, including the ones kept raw, and nulls where a value goes.
	everyField,
	string(req(`{"messages":[{"role":null,"content":{"type":null,"text":null,"isError":null,"content":null,"input":null,"_meta":null},"_meta":null}],"maxTokens":null,"modelPreferences":null,"systemPrompt":null,"includeContext":null,"temperature":null,"stopSequences":null,"metadata":null,"tools":null,"toolChoice":null,"_meta":null}`)),
	string(req(`{"messages":[{"role":"user","content":[null,{"type":"text","text":"a"}]}],"tools":[null],"modelPreferences":{"hints":[null,{"name":null}],"costPriority":null},"stopSequences":[null,"x"],"toolChoice":{"mode":null},"maxTokens":1}`)),

	// Strings: every escape, surrogates paired and not, non-ASCII.
	string(req(`{"messages":[{"role":"user","content":{"type":"text","text":"a\"b\\c\/d\be\ff\ng\rh\ti\u0000j\u00e9k\u20acl\ud83d\ude00m"}}],"maxTokens":1}`)),
	string(req(`{"messages":[{"role":"user","content":{"type":"text","text":"\ud800 \udc00 \ud800\u0041 \ud800\ud800\udc00 \ud83d"}}],"maxTokens":1}`)),
	string(req("{\"messages\":[{\"role\":\"user\",\"content\":{\"type\":\"text\",\"text\":\"\x7f é 日本 \U0001F600 \uFFFD\"}}],\"maxTokens\":1}")),
}

// oddBodies are what the reader gives up on, or must read exactly as
// encoding/json does.
var oddBodies = []string{
	string(req(`{"messages":null,"maxTokens":1}`)),
	string(req(`{"messages":[null],"maxTokens":1}`)),
	string(req(`{"messages":[{"role":"user","content":null}],"maxTokens":1}`)),
	string(req(`{"messages":[{"role":"user"}],"maxTokens":1}`)),
	string(req(`{"messages":[{"role":"user","content":"hi"}],"maxTokens":1}`)),
	string(req(`{"messages":[{"role":"user","content":{"type":"tool_result","content":{"type":"text"}}}],"maxTokens":1}`)),
	`{"jsonrpc":"2.0","id":1,"method":"sampling/createMessage","params":null}`,
	`{"jsonrpc":"2.0","id":1,"method":"sampling/createMessage","params":[]}`,
	`{"jsonrpc":"2.0","id":1,"method":"sampling/createMessage"}`,
	`null`, `[]`, `{}`, `"x"`, `1`, ``, ` `,

	// Strings: bad escapes, control characters, invalid UTF-8.
	string(req(`{"messages":[{"role":"user","content":{"type":"text","text":"\u12"}}],"maxTokens":1}`)),
	string(req(`{"messages":[{"role":"user","content":{"type":"text","text":"\uGGGG"}}],"maxTokens":1}`)),
	string(req(`{"messages":[{"role":"user","content":{"type":"text","text":"\x"}}],"maxTokens":1}`)),
	string(req(`{"messages":[{"role":"user","content":{"type":"text","text":"\'"}}],"maxTokens":1}`)),
	string(req("{\"messages\":[{\"role\":\"user\",\"content\":{\"type\":\"text\",\"text\":\"tab\there\"}}],\"maxTokens\":1}")),
	string(req("{\"messages\":[{\"role\":\"user\",\"content\":{\"type\":\"text\",\"text\":\"unit\x1fseparator\"}}],\"maxTokens\":1}")),
	string(req("{\"messages\":[{\"role\":\"user\",\"content\":{\"type\":\"text\",\"text\":\"nul\x00\"}}],\"maxTokens\":1}")),
	"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"sampling/createMessage\",\"params\":{\"messages\":[],\"maxTokens\":1,\"systemPrompt\":\"\xff\"}}",

	// Keys: duplicates, case, escapes, non-ASCII.
	`{"jsonrpc":"2.0","id":1,"id":2,"method":"sampling/createMessage","params":{"messages":[],"maxTokens":1}}`,
	`{"jsonrpc":"2.0","id":1,"method":"sampling/createMessage","params":{"messages":[` + textMsg + `],"maxTokens":5},"params":{"systemPrompt":"x"}}`,
	`{"jsonrpc":"2.0","id":1,"method":"sampling/createMessage","params":{"messages":"bad"},"params":{"messages":[` + textMsg + `],"maxTokens":5}}`,
	string(req(`{"messages":[` + textMsg + `],"messages":[{"content":{"type":"text","text":"x"}}],"maxTokens":1}`)),
	string(req(`{"messages":[{"role":"user","role":"assistant","content":{"type":"text","text":"x"}}],"maxTokens":1}`)),
	string(req(`{"messages":[{"role":"user","content":{"type":"text","text":"x","text":"y"}}],"maxTokens":1,"maxTokens":2}`)),
	`{"JSONRPC":"2.0","Id":1,"METHOD":"sampling/createMessage","Params":{"Messages":[{"ROLE":"user","Content":{"TYPE":"text","Text":"x"}}],"MaxTokens":1}}`,
	string(req(`{"messages":[` + textMsg + `],"maxtokens":3}`)),
	string(req(`{"messages":[` + textMsg + `],"maxToKens":3}`)), // Kelvin sign
	string(req(`{"messageſ":[` + textMsg + `],"maxTokens":3}`)), // long s
	string(req(`{"\u006dessages":[` + textMsg + `],"max\u0054okens":3}`)),
	string(req(`{"messages":[` + textMsg + `],"maxTokens":3,"ünknown":1,"":2}`)),

	// Numbers.
	string(req(`{"messages":[` + textMsg + `],"maxTokens":1,"temperature":1e400}`)),
	string(req(`{"messages":[` + textMsg + `],"maxTokens":1,"temperature":1e-400}`)),
	string(req(`{"messages":[` + textMsg + `],"maxTokens":1,"temperature":-0.0}`)),
	string(req(`{"messages":[` + textMsg + `],"maxTokens":1,"temperature":"1"}`)),
	string(req(`{"messages":[` + textMsg + `],"maxTokens":01}`)),
	string(req(`{"messages":[` + textMsg + `],"maxTokens":1.}`)),
	string(req(`{"messages":[` + textMsg + `],"maxTokens":.5}`)),
	string(req(`{"messages":[` + textMsg + `],"maxTokens":+1}`)),
	string(req(`{"messages":[` + textMsg + `],"maxTokens":1e}`)),
	string(req(`{"messages":[` + textMsg + `],"maxTokens":-}`)),
	string(req(`{"messages":[` + textMsg + `],"maxTokens":0x10}`)),
	string(req(`{"messages":[` + textMsg + `],"maxTokens":Infinity}`)),
	string(req(`{"messages":[` + textMsg + `],"maxTokens":1E+2}`)),
	string(req(`{"messages":[` + textMsg + `],"maxTokens":9007199254740993}`)),
	string(req(`{"messages":[` + textMsg + `],"maxTokens":true}`)),
	string(req(`{"messages":[` + textMsg + `],"maxTokens":{"a":1}}`)),
	string(req(`{"messages":[` + textMsg + `],"maxTokens":[1]}`)),
	string(req(`{"messages":[{"role":"user","content":{"type":"tool_result","toolUseId":"a","isError":1}}],"maxTokens":1}`)),
	string(req(`{"messages":[{"role":"user","content":{"type":"tool_result","toolUseId":"a","isError":true}}],"maxTokens":1}`)),

	// Envelope and ids.
	`{"jsonrpc":"2.0","id":null,"method":"sampling/createMessage","params":{}}`,
	`{"jsonrpc":"2.0","id":{},"method":"sampling/createMessage","params":{}}`,
	`{"jsonrpc":"2.0","id":true,"method":"sampling/createMessage","params":{}}`,
	`{"jsonrpc":"2.0","id":"` + strings.Repeat("a", 300) + `","method":"sampling/createMessage","params":{}}`,
	`{"jsonrpc":"2.0","id":"\u0041\n","method":"sampling/createMessage","params":{}}`,
	`{"jsonrpc":"1.0","id":1,"method":"sampling/createMessage","params":{}}`,
	`{"jsonrpc":2,"id":1,"method":"sampling/createMessage","params":{}}`,
	`{"jsonrpc":null,"id":1,"method":"sampling/createMessage","params":{}}`,
	`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{}}`,
	`{"jsonrpc":"2.0","id":1,"method":null,"params":{}}`,
	`{"jsonrpc":"2.0","id":1,"params":{}}`,

	// Syntax.
	string(req(params(textMsg))) + `x`,
	string(req(params(textMsg))) + "\x00",
	string(req(params(textMsg))) + `{}`,
	`{"jsonrpc":"2.0","id":1,"method":"sampling/createMessage","params":{"messages":[],"maxTokens":1,}}`,
	`{"jsonrpc":"2.0","id":1,"method":"sampling/createMessage","params":{"messages":[,],"maxTokens":1}}`,
	`{"jsonrpc":"2.0","id":1,"method":"sampling/createMessage","params":{"messages":[] "maxTokens":1}}`,
	`{"jsonrpc":"2.0","id":1,"method":"sampling/createMessage","params":{"messages":[],"maxTokens"1}}`,
	`{"jsonrpc":"2.0","id":1,"method":"sampling/createMessage","params":{"messages":[],"maxTokens":1,"x":tru}}`,
	`{"jsonrpc":"2.0","id":1,"method":"sampling/createMessage","params":{"messages":[],"maxTokens":1,"x":[1 2]}}`,
	`{"jsonrpc":"2.0","id":1,"method":"sampling/createMessage","params":{"messages":[],"maxTokens":1,"x":{1:2}}}`,
	`{"jsonrpc":"2.0","id":1,"method":"sampling/createMessage","params":{"messages":[],"maxTokens":1,"x":"]"}`,
	`{"jsonrpc":"2.0","id":1,"method":"sampling/createMessage","params":{"messages":[],"maxTokens":1,"x":"\"}"}}`,
	`{"jsonrpc":"2.0","id":1,"method":"sampling/createMessage","params":{"messages":[],"maxTokens":1}`,
	`{"jsonrpc":"2.0","id":1,"method":"sampling/createMessage","params":{"messages":[],"maxTokens":1}}}`,
	`{"jsonrpc":"2.0","id":1,"method":"sampling/createMessage","params":{"messages":[],"maxTokens":1,"x":"`,

	// Nesting around the default limit of 32.
	string(req(`{"messages":[],"maxTokens":1,"_meta":` + strings.Repeat("[", 29) + strings.Repeat("]", 29) + `}`)),
	string(req(`{"messages":[],"maxTokens":1,"_meta":` + strings.Repeat("[", 30) + strings.Repeat("]", 30) + `}`)),
	string(req(`{"messages":[],"maxTokens":1,"_meta":` + strings.Repeat(`{"a":`, 31) + "1" + strings.Repeat("}", 31) + `}`)),
}

// everyField is a request with every field the reader fills.
const everyField = `{"jsonrpc":"2.0","id":"req-1","method":"sampling/createMessage","params":{
	"messages":[
		{"role":"user","content":{"type":"text","text":"hi","annotations":{"audience":["user"]},"_meta":{"k":1}},"_meta":{"m":true}},
		{"role":"user","content":[{"type":"image","data":"aGVsbG8=","mimeType":"image/png"},{"type":"audio","data":"aGVsbG8=","mimeType":"audio/wav"}]},
		{"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"get_weather","input":{"city":"Paris"}}]},
		{"role":"user","content":[{"type":"tool_result","toolUseId":"t1","isError":false,"structuredContent":{"t":21},
			"content":[{"type":"text","text":"sunny"},{"type":"resource_link","uri":"file:///a","name":"a"},{"type":"resource","resource":{"uri":"a","text":"b"}}]}]}
	],
	"modelPreferences":{"hints":[{"name":"claude"},{"name":"gpt"}],"costPriority":0.1,"speedPriority":0.2,"intelligencePriority":0.9},
	"systemPrompt":"Be brief.","includeContext":"none","temperature":0.5,"maxTokens":100,"stopSequences":["\n\n","END"],
	"metadata":{"a":[1,2]},
	"tools":[{"name":"get_weather","title":"Weather","description":"Gets it.","inputSchema":{"type":"object"},"outputSchema":{"type":"object"},"annotations":{"readOnlyHint":true},"_meta":{"x":1}}],
	"toolChoice":{"mode":"auto"},"_meta":{"progressToken":3}}}`

func TestDecodeAgreement(t *testing.T) {
	lims := []Limits{{}, {MaxDepth: 3}, {MaxBodyBytes: 100}}
	for _, body := range agreementBodies {
		for _, lim := range lims {
			for _, v := range append(slices.Clone(Versions), "1999-01-01") {
				if d := diffDecode([]byte(body), v, lim); d != "" {
					t.Errorf("body %q, version %s, limits %+v:\n%s", body, v, lim, d)
				}
			}
		}
	}
}

// TestDecodeWireTakesCommonShapes checks that the bodies the reader is for
// do not fall through to the careful path. With everyField among them, it
// also checks that the reader reads every field it lists (one it skipped
// would leave the rest unread); TestDecodeAgreement, that it lists every
// field it should.
func TestDecodeWireTakesCommonShapes(t *testing.T) {
	bodies := slices.Clone(wireBodies)
	for _, s := range benchSizes {
		bodies = append(bodies, string(benchBody(s.size)))
	}
	for _, body := range bodies {
		if _, ok := decodeWire([]byte(body), Limits{}.WithDefaults().MaxDepth); !ok {
			t.Errorf("the one-pass reader gives up on %q", body)
		}
	}
}

// TestDecodeWireFieldNames pins the reader's field lists to the JSON names
// of the types they fill: a field added to a type must be added to the
// reader too, or every request with it would take the careful path.
func TestDecodeWireFieldNames(t *testing.T) {
	tests := []struct {
		typ   any
		names []string
	}{
		{rpcEnvelope{}, envelopeFields},
		{CreateMessageParams{}, paramsFields},
		{wireMessage{}, messageFields},
		{Content{}, contentFields},
		{ModelPreferences{}, preferenceFields},
		{ModelHint{}, hintFields},
		{Tool{}, toolFields},
		{ToolChoice{}, toolChoiceFields},
	}
	for _, tc := range tests {
		typ := reflect.TypeOf(tc.typ)
		var want []string
		for i := 0; i < typ.NumField(); i++ {
			if f := typ.Field(i); f.IsExported() {
				want = append(want, strings.Split(f.Tag.Get("json"), ",")[0])
			}
		}
		if d := cmp.Diff(want, tc.names); d != "" {
			t.Errorf("%s (-tags +reader):\n%s", typ.Name(), d)
		}
	}
}

// TestDecodeAgreementRandom checks the reader against the careful path on
// generated requests: mostly well-formed, with the oddities the reader must
// give up on or read exactly (nulls, escapes, duplicate and case-folded
// keys, wrong types, odd numbers) sprinkled in.
func TestDecodeAgreementRandom(t *testing.T) {
	n := 5000
	if testing.Short() {
		n = 500
	}
	taken := 0
	for seed := range uint64(n) {
		body := genRequest(seed)
		if d := diffDecode(body, LatestVersion, Limits{}); d != "" {
			t.Fatalf("seed %d, body %s:\n%s", seed, body, d)
		}
		if _, ok := decodeWire(body, 32); ok {
			taken++
		}
	}
	// The generator is worth little if the reader gives up on everything.
	if taken < n/5 {
		t.Errorf("the reader took %d of %d generated requests", taken, n)
	}
}

// genRequest returns a random sampling request, the same for the same seed.
func genRequest(seed uint64) []byte {
	g := &gen{r: rand.New(rand.NewPCG(seed, 1))}
	g.obj(
		always("jsonrpc", func() { g.pick(`"2.0"`, `"1.0"`, `2`, `null`, `"2\u002e0"`) }),
		always("id", func() { g.pick(`1`, `"a"`, `-7`, `1.5e3`, `null`, `{}`, `"\u0041"`) }),
		always("method", func() { g.pick(`"sampling/createMessage"`, `"tools/call"`, `null`) }),
		always("params", func() {
			if g.rare() {
				g.pick(`null`, `[]`, `"x"`)
				return
			}
			g.obj(
				always("messages", func() { g.arr(g.message) }),
				field("maxTokens", func() {
					g.pick(`100`, `100`, `1`, `0`, `-5`, `1.5`, `100.0`, `1e3`, `1E+2`, `1e400`, `9007199254740993`, `"100"`, `null`, `true`, `[1]`)
				}),
				field("systemPrompt", g.str),
				field("includeContext", func() { g.pick(`"none"`, `"thisServer"`, `"allServers"`, `"x"`, `null`, `1`) }),
				field("temperature", g.num),
				field("stopSequences", func() { g.arr(g.str) }),
				field("metadata", g.any),
				field("modelPreferences", func() {
					g.obj(
						field("hints", func() { g.arr(func() { g.obj(field("name", g.str)) }) }),
						field("costPriority", g.num),
						field("speedPriority", g.num),
						field("intelligencePriority", g.num),
					)
				}),
				field("tools", func() {
					g.arr(func() {
						g.obj(field("name", g.str), field("title", g.str), field("description", g.str),
							field("inputSchema", g.any), field("outputSchema", g.any), field("annotations", g.any), field("_meta", g.any))
					})
				}),
				field("toolChoice", func() { g.obj(field("mode", func() { g.pick(`"auto"`, `"none"`, `"required"`, `null`, `3`) })) }),
				field("_meta", g.any),
			)
		}),
	)
	return g.b
}

type gen struct {
	r     *rand.Rand
	b     []byte
	depth int
}

type genField struct {
	name  string
	value func()
	keep  bool // always written
}

func field(name string, value func()) genField  { return genField{name, value, false} }
func always(name string, value func()) genField { return genField{name, value, true} }

func (g *gen) rare() bool { return g.r.IntN(100) == 0 }

// pick writes mostly the first of s, else any.
func (g *gen) pick(s ...string) {
	if g.r.IntN(8) != 0 {
		g.write(s[0])
	} else {
		g.write(s[g.r.IntN(len(s))])
	}
}

func (g *gen) write(s string) {
	if g.r.IntN(10) == 0 {
		g.b = append(g.b, []string{" ", "\n", "\t ", "\r\n  "}[g.r.IntN(4)]...)
	}
	g.b = append(g.b, s...)
}

// obj writes an object with a random subset of fields in random order,
// now and then a field twice, a name in another case or escaped, an
// unknown member, or null instead of a value.
func (g *gen) obj(fields ...genField) {
	if g.rare() {
		g.write("null")
		return
	}
	g.write("{")
	first := true
	comma := func() {
		if !first {
			g.write(",")
		}
		first = false
	}
	for _, i := range g.r.Perm(len(fields)) {
		f := fields[i]
		if !f.keep && g.r.IntN(3) == 0 || f.keep && g.rare() {
			continue
		}
		times := 1
		if g.rare() {
			times = 2
		}
		for range times {
			comma()
			name := f.name
			switch {
			case g.rare():
				name = strings.ToUpper(name[:1]) + name[1:]
			case g.rare():
				name = `\u00` + strconv.FormatInt(int64(name[0]), 16) + name[1:]
			}
			g.write(`"` + name + `":`)
			if g.rare() {
				g.write("null")
			} else {
				f.value()
			}
		}
	}
	if g.r.IntN(8) == 0 {
		comma()
		g.write(`"x-vendor":`)
		g.any()
	}
	g.write("}")
}

func (g *gen) arr(elem func()) {
	if g.rare() {
		g.write("null")
		return
	}
	g.write("[")
	for i := range g.r.IntN(4) {
		if i > 0 {
			g.write(",")
		}
		if g.rare() {
			g.write("null")
		} else {
			elem()
		}
	}
	g.write("]")
}

func (g *gen) message() {
	g.obj(
		field("role", func() { g.pick(`"user"`, `"assistant"`, `"system"`, `5`) }),
		always("content", func() {
			switch g.r.IntN(20) {
			case 0:
				g.pick(`"hi"`, `null`, `1`)
			case 1, 2, 3:
				g.content(0)
			default:
				g.arr(func() { g.content(0) })
			}
		}),
		field("_meta", g.any),
	)
}

func (g *gen) content(depth int) {
	g.obj(
		field("type", func() {
			g.pick(`"text"`, `"text"`, `"image"`, `"audio"`, `"tool_use"`, `"tool_result"`, `"resource"`, `"resource_link"`, `"x"`)
		}),
		field("text", g.str), field("data", g.str), field("mimeType", g.str),
		field("id", g.str), field("name", g.str), field("input", g.any), field("toolUseId", g.str),
		field("content", func() {
			if depth < 2 && g.r.IntN(3) == 0 {
				g.arr(func() { g.content(depth + 1) })
			} else {
				g.pick(`[]`, `{}`, `null`)
			}
		}),
		field("structuredContent", g.any), field("isError", func() { g.pick(`true`, `false`, `null`, `1`) }),
		field("uri", g.str), field("resource", g.any), field("annotations", g.any), field("_meta", g.any),
	)
}

func (g *gen) str() {
	if g.rare() {
		g.pick(`1`, `true`, `{}`)
		return
	}
	parts := []string{
		"plain", "é日本😀", `\"`, `\\`, `\/`, `\n`, `\t`, `\b\f\r`, `\u0000`, `\u00e9`, `\u20AC`,
		`\ud83d\ude00`, `\ud800`, `\udc00x`, `\ud800\u0041`, `<&>`, "\u2028", " ",
	}
	var s strings.Builder
	for range g.r.IntN(5) {
		s.WriteString(parts[g.r.IntN(len(parts))])
	}
	g.write(`"` + s.String() + `"`)
}

func (g *gen) num() {
	switch g.r.IntN(3) {
	case 0:
		g.pick(`0`, `1e400`, `"1"`, `null`)
	case 1:
		g.pick(`0.5`, `-0`, `1e-400`, `-0.1`)
	default:
		g.pick(`1`, `1.5e-1`, `2E0`, `10`)
	}
}

// any writes a value of any type, nested no more than a few levels.
func (g *gen) any() {
	g.depth++
	defer func() { g.depth-- }()
	switch n := g.r.IntN(8); {
	case n == 0 && g.depth < 4:
		g.write(`{"a":`)
		g.any()
		g.write(`, "b" : [`)
		g.any()
		g.write(`]}`)
	case n == 1 && g.depth < 4:
		g.arr(g.any)
	case n == 2:
		g.str()
	case n == 3:
		g.num()
	default:
		g.pick(`{"type":"object"}`, `{}`, `[]`, `true`, `false`, `null`, `"<\u2028>"`, `{ "k" : [ 1 , 2 ] }`)
	}
}
