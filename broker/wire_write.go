package broker

import (
	"encoding/json"
	"strconv"
)

// wireWriter writes content blocks, messages and results as JSON in one
// pass, byte for byte as encoding/json wrote them through the struct tags:
// fields in struct order, empty optional ones left out, strings escaped
// with HTML escaping on, raw values compacted. The first error, an invalid
// raw value, is kept in err and the output is then of no use.
type wireWriter struct {
	b   []byte
	err error
}

func (w *wireWriter) bytes() ([]byte, error) {
	if w.err != nil {
		return nil, w.err
	}
	return w.b, nil
}

// name writes a member's name and colon, after a comma: it is never the
// first member, which every writer below writes itself.
func (w *wireWriter) name(name string) {
	w.b = append(w.b, ',', '"')
	w.b = append(w.b, name...)
	w.b = append(w.b, '"', ':')
}

// str writes an omitempty string member.
func (w *wireWriter) str(name, s string) {
	if s != "" {
		w.name(name)
		w.b = AppendJSONString(w.b, s)
	}
}

// raw writes an omitempty json.RawMessage member. Raw values are rare and
// small, so encoding/json itself compacts and escapes them.
func (w *wireWriter) raw(name string, raw json.RawMessage) {
	if len(raw) == 0 {
		return
	}
	v, err := json.Marshal(raw)
	if err != nil {
		if w.err == nil {
			w.err = err
		}
		return
	}
	w.name(name)
	w.b = append(w.b, v...)
}

// content writes c as Content.MarshalJSON does.
func (w *wireWriter) content(c *Content) {
	w.b = append(w.b, `{"type":`...)
	w.b = AppendJSONString(w.b, c.Type)
	w.str("data", c.Data)
	w.str("mimeType", c.MIMEType)
	w.str("id", c.ID)
	w.str("name", c.Name)
	w.raw("input", c.Input)
	w.str("toolUseId", c.ToolUseID)
	if len(c.Content) > 0 {
		w.name("content")
		w.contents(c.Content, true)
	}
	w.raw("structuredContent", c.StructuredContent)
	if c.IsError != nil {
		w.name("isError")
		w.b = strconv.AppendBool(w.b, *c.IsError)
	}
	w.str("uri", c.URI)
	w.raw("resource", c.Resource)
	w.raw("annotations", c.Annotations)
	w.raw("_meta", c.Meta)
	// Text comes last: it used to be written through a field that shadowed
	// the struct's own, which encoding/json puts after the embedded ones.
	if c.Type == ContentText || c.Text != "" {
		w.name("text")
		w.b = AppendJSONString(w.b, c.Text)
	}
	w.b = append(w.b, '}')
}

// contents writes one block as an object unless asArray, else an array.
func (w *wireWriter) contents(blocks []Content, asArray bool) {
	if len(blocks) == 1 && !asArray {
		w.content(&blocks[0])
		return
	}
	w.b = append(w.b, '[')
	for i := range blocks {
		if i > 0 {
			w.b = append(w.b, ',')
		}
		w.content(&blocks[i])
	}
	w.b = append(w.b, ']')
}

// contentSize guesses the length of blocks as JSON, to allocate once.
func contentSize(blocks []Content) int {
	n := 2
	for i := range blocks {
		c := &blocks[i]
		n += 64 + len(c.Text) + len(c.Data) + len(c.Input) + len(c.StructuredContent) + len(c.Meta) + contentSize(c.Content)
	}
	return n + n/16
}
