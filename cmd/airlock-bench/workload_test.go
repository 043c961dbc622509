package main

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/airlock-broker/airlock/broker"
	"github.com/airlock-broker/airlock/filters"
)

// TestWorkloadClasses checks that the prompts do what their class says
// under the default filter policy: plain prompts have no findings,
// sensitive ones lose every planted value, injections are refused.
func TestWorkloadClasses(t *testing.T) {
	sc := filters.New(filters.Options{})
	for _, size := range []string{"2k", "32k"} {
		w, err := newWorkload(size, 8, 1)
		if err != nil {
			t.Fatal(err)
		}
		if w.meanLen < sizes[size] || w.meanLen > sizes[size]+512 {
			t.Errorf("%s: mean prompt length %d", size, w.meanLen)
		}
		for c, pool := range w.bodies {
			for i, b := range pool {
				req, _, err := broker.DecodeRequest(b.broker, "2025-11-25", broker.Limits{})
				if err != nil {
					t.Fatalf("%s class %d #%d: decode: %v", size, c, i, err)
				}
				var direct struct {
					Messages []struct{ Content string }
				}
				if err := json.Unmarshal(b.direct, &direct); err != nil || len(direct.Messages) != 2 ||
					direct.Messages[1].Content != req.Params.Messages[0].Content[0].Text || b.prompt != len(direct.Messages[1].Content) {
					t.Errorf("%s class %d #%d: the direct body holds another prompt (%v)", size, c, i, err)
				}
				sess, err := sc.Input(context.Background(), benchID, &req.Params)
				var findings []broker.Finding
				if sess != nil {
					findings = sess.Findings()
				}
				switch class(c) {
				case classPlain:
					if err != nil || len(findings) > 0 {
						t.Errorf("%s plain #%d: err %v, findings %+v", size, i, err, findings)
					}
				case classSensitive:
					if err != nil || len(findings) == 0 {
						t.Errorf("%s sensitive #%d: err %v, %d findings", size, i, err, len(findings))
					}
					sanitized, _ := json.Marshal(req.Params)
					for _, m := range leakMarkers {
						if bytes.Contains(sanitized, m) {
							t.Errorf("%s sensitive #%d: %q survives redaction", size, i, m)
						}
					}
				case classInjection:
					if broker.ErrorReason(err) != broker.ReasonInjectionDetected {
						t.Errorf("%s injection #%d: err %v, want injection_detected", size, i, err)
					}
				}
			}
		}
	}
}
