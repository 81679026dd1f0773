package ddi_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/ferry-ota/ferry/internal/core"
)

// A device retrying the same closed/success many times at once (lost
// answers on a bad link) and sending its attributes in parallel: every
// retry is answered 200, the report is recorded once, and no attribute
// is lost.
func TestConcurrentFeedbackAndConfigData(t *testing.T) {
	s := startDDI(t)
	s.poll(t, "d1", s.tok)
	base, auth := "/gw/controller/v1/d1", "TargetToken "+s.tok
	dev, _ := s.svc.Device(t.Context(), "gw", "d1")
	id := fmt.Sprint(dev.Updates[0].ID)
	success := `{"status":{"execution":"closed","result":{"finished":"success"},"details":["Update Installed."]}}`

	const n = 10
	codes := make(chan string, 2*n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if a := s.do(t, "POST", base+"/deploymentBase/"+id+"/feedback", auth, success); a.code != 200 {
				codes <- fmt.Sprintf("closed/success = %d %s, want 200", a.code, a.body)
			}
		})
		wg.Go(func() {
			body := fmt.Sprintf(`{"data":{"k%d":"v"}}`, i)
			if a := s.do(t, "PUT", base+"/configData", auth, body); a.code != 200 {
				codes <- fmt.Sprintf("configData %s = %d %s, want 200", body, a.code, a.body)
			}
		})
	}
	wg.Wait()
	close(codes)
	for c := range codes {
		t.Error(c)
	}

	d, _ := s.svc.Device(t.Context(), "gw", "d1")
	reports := 0
	for _, e := range d.Events {
		if e.Kind == core.EventReport {
			reports++
		}
	}
	if reports != 1 || d.Updates[0].State != core.StateSucceeded || d.Version != "1.0.0" {
		t.Errorf("after %d identical closed/success: %d reports, update %s, device on %q; "+
			"want 1, succeeded, 1.0.0", n, reports, d.Updates[0].State, d.Version)
	}
	if len(d.Attributes) != n {
		t.Errorf("after %d parallel configData merges: attributes %v, want %d", n, d.Attributes, n)
	}
}

// Feedback out of order keeps the furthest state and every report in the
// history.
func TestFeedbackOutOfOrder(t *testing.T) {
	s := startDDI(t)
	s.poll(t, "d1", s.tok)
	base, auth := "/gw/controller/v1/d1", "TargetToken "+s.tok
	dev, _ := s.svc.Device(t.Context(), "gw", "d1")
	id := fmt.Sprint(dev.Updates[0].ID)

	steps := []struct {
		body string
		want core.State
	}{
		{`{"status":{"execution":"downloaded"}}`, core.StateDownloaded},
		{`{"status":{"execution":"download"}}`, core.StateDownloaded},
		{`{"status":{"execution":"proceeding","result":{"progress":{"cnt":1,"of":1}}}}`, core.StateInstalling},
		{`{"status":{"execution":"proceeding","result":{"progress":{"cnt":0,"of":1}}}}`, core.StateInstalling},
		{`{"status":{"execution":"scheduled"}}`, core.StateInstalling},
		{`{"status":{"execution":"downloaded"}}`, core.StateInstalling},
	}
	for i, st := range steps {
		a := s.do(t, "POST", base+"/deploymentBase/"+id+"/feedback", auth, st.body)
		d, _ := s.svc.Device(t.Context(), "gw", "d1")
		if a.code != 200 || d.Updates[0].State != st.want {
			t.Errorf("feedback %d %s = %d, update %s; want 200, %s", i, st.body, a.code, d.Updates[0].State, st.want)
		}
	}
	d, _ := s.svc.Device(t.Context(), "gw", "d1")
	reports := 0
	for _, e := range d.Events {
		if e.Kind == core.EventReport {
			reports++
		}
	}
	if reports != len(steps) || d.Version != "" {
		t.Errorf("history holds %d reports, device on %q; want %d, and no version before closed/success",
			reports, d.Version, len(steps))
	}
}
