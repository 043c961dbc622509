package broker

// decodeWire decodes a well-formed sampling request in one pass over body,
// straight into the broker's types. It reports false, and DecodeRequest takes
// the careful path, for anything outside the plain shape: a request it would
// refuse, JSON that is not valid, a value of the wrong type, a duplicate key,
// or a key that encoding/json would match to a field only case-insensitively.
// Where it succeeds it produces exactly what the careful path would; the
// differential tests and FuzzDecodeRequest hold it to that.
//
// body must be valid UTF-8, which strings are copied as is. The reader
// checks the nesting against maxDepth itself, so a body it takes passes
// checkJSON.
func decodeWire(body []byte, maxDepth int) (*Request, bool) {
	r := wireReader{data: body, maxDepth: maxDepth, words: schemaWords}
	req := &Request{}
	var jsonrpc, method string
	var params bool
	for f := range r.fields(envelopeFields) {
		switch f {
		case "jsonrpc":
			jsonrpc = r.str()
		case "id":
			req.ID = r.id()
		case "method":
			method = r.str()
		case "params":
			params = r.next() == '{' // the careful path refuses null params
			r.params(&req.Params)
		}
	}
	if r.next(); r.off != len(r.data) || r.bad {
		return nil, false
	}
	if jsonrpc != "2.0" || method != MethodCreateMessage || !params || validID(req.ID) == nil {
		return nil, false
	}
	return req, true
}

// The JSON names of the fields decodeWire fills, one list per type; a test
// checks them against the struct tags. An object may hold each at most once.
var (
	envelopeFields   = []string{"jsonrpc", "id", "method", "params"}
	paramsFields     = []string{"messages", "modelPreferences", "systemPrompt", "includeContext", "temperature", "maxTokens", "stopSequences", "metadata", "tools", "toolChoice", "_meta"}
	messageFields    = []string{"role", "content", "_meta"}
	contentFields    = []string{"type", "text", "data", "mimeType", "id", "name", "input", "toolUseId", "content", "structuredContent", "isError", "uri", "resource", "annotations", "_meta"}
	preferenceFields = []string{"hints", "costPriority", "speedPriority", "intelligencePriority"}
	hintFields       = []string{"name"}
	toolFields       = []string{"name", "title", "description", "inputSchema", "outputSchema", "annotations", "_meta"}
	toolChoiceFields = []string{"mode"}
)

// schemaWords are the values of the schema's enumerations, most of the short
// strings in a request.
var schemaWords = []string{
	"2.0", MethodCreateMessage, string(RoleUser), string(RoleAssistant),
	ContentText, ContentImage, ContentAudio, ContentToolUse, ContentToolResult, ContentResourceLink, ContentResource,
	ContextNone, ContextThisServer, ContextAllServers, ToolChoiceAuto, ToolChoiceRequired,
}

// The readers below mirror what encoding/json does with a fresh value: null
// leaves a string, number or struct as it is (zero), and sets a pointer or a
// slice to nil; a json.RawMessage keeps the literal null; an empty array is
// an empty, non-nil slice.

func (r *wireReader) params(p *CreateMessageParams) {
	var maxTokens []byte
	for f := range r.fields(paramsFields) {
		switch f {
		case "messages":
			p.Messages = wireArray(r, r.message)
		case "modelPreferences":
			if !r.null() {
				p.ModelPreferences = new(ModelPreferences)
				r.preferences(p.ModelPreferences)
			}
		case "systemPrompt":
			p.SystemPrompt = r.str()
		case "includeContext":
			p.IncludeContext = r.str()
		case "temperature":
			p.Temperature = r.float()
		case "maxTokens":
			maxTokens = r.value()
		case "stopSequences":
			p.StopSequences = wireArray(r, func(s *string) { *s = r.str() })
		case "metadata":
			p.Metadata = r.raw()
		case "tools":
			p.Tools = wireArray(r, r.tool)
		case "toolChoice":
			if !r.null() {
				p.ToolChoice = new(ToolChoice)
				for range r.fields(toolChoiceFields) {
					p.ToolChoice.Mode = r.str()
				}
			}
		case "_meta":
			p.Meta = r.raw()
		}
	}
	p.MaxTokens, p.maxTokensErr = maxTokensOf(maxTokens)
}

// message reads a sampling message. The careful path refuses a null
// message and absent or null content, so this gives up on them.
func (r *wireReader) message(m *SamplingMessage) {
	if r.next() != '{' {
		r.fail()
		return
	}
	content := false
	for f := range r.fields(messageFields) {
		switch f {
		case "role":
			m.Role = Role(r.str())
		case "content":
			content = true
			switch r.next() {
			case '[':
				m.Content = wireArray(r, r.content)
				m.contentArray = true
			case '{':
				m.Content = make([]Content, 1)
				r.content(&m.Content[0])
			default:
				r.fail()
			}
		case "_meta":
			m.Meta = r.raw()
		}
	}
	if !content {
		r.fail()
	}
}

func (r *wireReader) content(c *Content) {
	for f := range r.fields(contentFields) {
		switch f {
		case "type":
			c.Type = r.str()
		case "text":
			c.Text = r.str()
		case "data":
			c.Data = r.str()
		case "mimeType":
			c.MIMEType = r.str()
		case "id":
			c.ID = r.str()
		case "name":
			c.Name = r.str()
		case "input":
			c.Input = r.raw()
		case "toolUseId":
			c.ToolUseID = r.str()
		case "content":
			c.Content = wireArray(r, r.content)
		case "structuredContent":
			c.StructuredContent = r.raw()
		case "isError":
			c.IsError = r.bool()
		case "uri":
			c.URI = r.str()
		case "resource":
			c.Resource = r.raw()
		case "annotations":
			c.Annotations = r.raw()
		case "_meta":
			c.Meta = r.raw()
		}
	}
}

func (r *wireReader) preferences(mp *ModelPreferences) {
	for f := range r.fields(preferenceFields) {
		switch f {
		case "hints":
			mp.Hints = wireArray(r, r.hint)
		case "costPriority":
			mp.CostPriority = r.float()
		case "speedPriority":
			mp.SpeedPriority = r.float()
		case "intelligencePriority":
			mp.IntelligencePriority = r.float()
		}
	}
}

func (r *wireReader) hint(h *ModelHint) {
	for range r.fields(hintFields) {
		h.Name = r.str()
	}
}

func (r *wireReader) tool(t *Tool) {
	for f := range r.fields(toolFields) {
		switch f {
		case "name":
			t.Name = r.str()
		case "title":
			t.Title = r.str()
		case "description":
			t.Description = r.str()
		case "inputSchema":
			t.InputSchema = r.raw()
		case "outputSchema":
			t.OutputSchema = r.raw()
		case "annotations":
			t.Annotations = r.raw()
		case "_meta":
			t.Meta = r.raw()
		}
	}
}
