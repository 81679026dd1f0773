package ddi

import (
	"encoding/json"
	"testing"
	"unicode/utf8"

	"github.com/ferry-ota/ferry/internal/core"
)

// FuzzFeedback maps arbitrary feedback bodies onto core reports. Whatever
// the body, the mapping must not panic, and a report it accepts has a
// state a device may report (or is a note) and a detail within the core's
// bound, in valid UTF-8, so the core never refuses it for its detail.
func FuzzFeedback(f *testing.F) {
	for _, s := range []string{
		`{"status":{"execution":"proceeding","result":{"finished":"none","progress":{"cnt":0,"of":1}},` +
			`"details":["Installing Update Chunk Artifacts."]}}`,
		`{"id":"","time":"20261204T150020","status":{"execution":"closed","result":{"finished":"success"}}}`,
		`{"status":{"execution":"closed","result":{"finished":"failure"},"code":-1,"details":["a","b"]}}`,
		`{"status":{"execution":"REJECTED","details":["\xff\xfe"]}}`,
		`{"status":{"execution":"canceled","details":["` + string(make([]byte, 2000)) + `"]}}`,
		`{"status":{"execution":"scheduled"}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var fb feedback
		if json.Unmarshal(body, &fb) != nil {
			return
		}
		rep, err := toReport(fb)
		if err != nil {
			return
		}
		if len(rep.Detail) > core.MaxDetailLen || !utf8.ValidString(rep.Detail) {
			t.Errorf("toReport(%q) detail has %d bytes, valid UTF-8 %v; want at most %d, valid", body,
				len(rep.Detail), utf8.ValidString(rep.Detail), core.MaxDetailLen)
		}
		if !rep.Note {
			if _, err := core.ParseReportState(rep.State); err != nil {
				t.Errorf("toReport(%q) state %q: %v", body, rep.State, err)
			}
		}
	})
}
