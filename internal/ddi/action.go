package ddi

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/ferry-ota/ferry/internal/core"
	"github.com/ferry-ota/ferry/internal/httpkit"
)

// handleDeployment describes an update as a deployment: one chunk holding
// the release image. A canceled update is 404, as in hawkBit: the device
// asks for its cancelAction instead.
func (h *Handler) handleDeployment(w http.ResponseWriter, r *http.Request) {
	h.describe(w, r, func(u core.Update) error {
		if u.State == core.StateCanceled {
			return fmt.Errorf("action %d was canceled: %w", u.ID, core.ErrNotFound)
		}
		return nil
	})
}

// handleInstalled describes the update that installed what the device
// runs, for devices that fetch it again.
func (h *Handler) handleInstalled(w http.ResponseWriter, r *http.Request) {
	h.describe(w, r, func(u core.Update) error {
		if u.State != core.StateSucceeded {
			return fmt.Errorf("action %d did not install: it is %s: %w", u.ID, u.State, core.ErrNotFound)
		}
		return nil
	})
}

// describe answers a deploymentBase-shaped description of the update in
// r's path, if check allows it.
func (h *Handler) describe(w http.ResponseWriter, r *http.Request, check func(core.Update) error) {
	p, id, err := h.authorize(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	action, err := actionID(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}

	u, rel, err := h.svc.DeviceUpdate(r.Context(), p, id, action)
	if err == nil {
		err = check(u)
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	a, err := h.artifact(r, p, id, rel)
	if err != nil {
		h.fail(w, r, err)
		return
	}

	// Ferry offers an update when the device should run it now; rollouts
	// already chose the moment, so nothing is left for the device to defer.
	httpkit.JSON(w, http.StatusOK, deploymentResponse{
		ID: strconv.FormatInt(u.ID, 10),
		Deployment: deployment{Download: "forced", Update: "forced", Chunks: []chunk{{
			Part: "bApp", Version: rel.Version, Name: p.Name, Artifacts: []artifact{a},
		}}},
	})
}

// handleFeedback records a device's feedback on an update as a core report.
// Feedback on an update that had finished is kept in the history and
// answered 410; repeating the feedback that finished it is answered 200,
// so that a device retrying after a lost answer is not told otherwise.
func (h *Handler) handleFeedback(w http.ResponseWriter, r *http.Request) {
	var fb feedback
	if err := h.decode(w, r, &fb); err != nil {
		h.fail(w, r, err)
		return
	}
	p, id, err := h.authorize(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	action, err := actionID(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	rep, err := toReport(fb)
	if err != nil {
		h.fail(w, r, err)
		return
	}

	rep.Device, rep.UpdateID, rep.Protocol = id, action, core.ProtocolDDI
	rc, err := h.svc.Record(r.Context(), p, rep)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if rc.Late {
		httpkit.JSONError(w, http.StatusGone, fmt.Sprintf("action %d is %s: the feedback is kept in its history",
			action, rc.Update.State))
		return
	}
	ok(w)
}

// handleCancel tells the device to stop working on an update Ferry canceled.
func (h *Handler) handleCancel(w http.ResponseWriter, r *http.Request) {
	p, id, err := h.authorize(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	action, err := actionID(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}

	u, _, err := h.svc.DeviceUpdate(r.Context(), p, id, action)
	if err == nil && u.State != core.StateCanceled {
		err = fmt.Errorf("action %d is not canceled: %w", action, core.ErrNotFound)
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	sid := strconv.FormatInt(u.ID, 10)
	httpkit.JSON(w, http.StatusOK, cancelResponse{ID: sid, CancelAction: cancelAction{StopID: sid}})
}

// handleCancelFeedback records the device's answer to a cancel. As hawkBit
// does, closed/success (or none) accepts it, as does "canceled";
// closed/failure and "rejected" refuse it; anything else says the device is
// still at it.
func (h *Handler) handleCancelFeedback(w http.ResponseWriter, r *http.Request) {
	var fb feedback
	if err := h.decode(w, r, &fb); err != nil {
		h.fail(w, r, err)
		return
	}
	p, id, err := h.authorize(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	action, err := actionID(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	exec, finished, err := parseStatus(fb)
	if err != nil {
		h.fail(w, r, err)
		return
	}

	ans := core.CancelAnswer{Device: id, UpdateID: action, Detail: details(fb), Protocol: core.ProtocolDDI}
	switch {
	case exec == "closed" && finished == "failure", exec == "rejected":
		ans.Final = true
	case exec == "closed", exec == "canceled":
		ans.Final, ans.Accepted = true, true
	}
	if _, err := h.svc.AnswerCancel(r.Context(), p, ans); err != nil {
		h.fail(w, r, err)
		return
	}
	ok(w)
}

// executions are the values of status.execution. "none" is not hawkBit's
// but some Zephyr versions send it; it is taken as "proceeding".
var executions = map[string]bool{
	"closed": true, "proceeding": true, "canceled": true, "scheduled": true, "rejected": true,
	"resumed": true, "downloaded": true, "download": true, "none": true,
}

// parseStatus validates a feedback's execution and result, both
// case-insensitive; a missing result is "none".
func parseStatus(fb feedback) (exec, finished string, err error) {
	exec = strings.ToLower(fb.Status.Execution)
	finished = strings.ToLower(fb.Status.Result.Finished)
	if !executions[exec] {
		return "", "", errInvalid(fmt.Sprintf("status.execution %q: want closed, proceeding, canceled, "+
			"scheduled, rejected, resumed, downloaded or download", truncate(fb.Status.Execution, 40)))
	}
	switch finished {
	case "":
		finished = "none"
	case "success", "failure", "none":
	default:
		return "", "", errInvalid(fmt.Sprintf("status.result.finished %q: want success, failure or none",
			truncate(fb.Status.Result.Finished, 40)))
	}
	return exec, finished, nil
}

// toReport maps a deployment feedback onto a core report:
//
//	closed + success or none      succeeded (the proof the device runs it)
//	closed + failure              failed
//	canceled                      failed: the device gave the update up
//	download                      downloading
//	downloaded                    downloaded
//	proceeding, resumed           downloading; installing once progress
//	                              says every chunk is done
//	scheduled, rejected           a note in the history; the update stays
//
// hawkBit keeps a rejected action open for the device to take up later,
// and so does Ferry.
func toReport(fb feedback) (core.Report, error) {
	exec, finished, err := parseStatus(fb)
	if err != nil {
		return core.Report{}, err
	}
	rep := core.Report{Detail: details(fb)}
	switch exec {
	case "closed":
		rep.State = string(core.StateSucceeded)
		if finished == "failure" {
			rep.State = string(core.StateFailed)
		}
	case "canceled":
		rep.State, rep.Detail = string(core.StateFailed), withPrefix("the device canceled the update", rep.Detail)
	case "download":
		rep.State = string(core.StateDownloading)
	case "downloaded":
		rep.State = string(core.StateDownloaded)
	case "scheduled", "rejected":
		rep.Note, rep.Detail = true, withPrefix("the device "+exec+" the update", rep.Detail)
	default:
		rep.State = string(core.StateDownloading)
		if pr := fb.Status.Result.Progress; pr != nil && pr.Of > 0 && pr.Cnt >= pr.Of {
			rep.State = string(core.StateInstalling)
		}
	}
	return rep, nil
}

func withPrefix(p, detail string) string {
	if detail == "" {
		return p
	}
	return clip(strings.ToValidUTF8(p+": "+detail, "?"))
}

// details joins a feedback's details and code into one line of history,
// at most core.MaxDetailLen bytes. Clients such as SWUpdate send whole log
// excerpts as details; when they do not fit, the messages that mention an
// error go first, then the others in order, as many as fit whole.
func details(fb feedback) string {
	msgs := fb.Status.Details
	if fb.Status.Code != nil {
		msgs = append(slices.Clone(msgs), "code "+strconv.FormatInt(*fb.Status.Code, 10))
	}
	for i, m := range msgs {
		msgs[i] = clip(strings.ToValidUTF8(m, "?"))
	}
	if s := strings.Join(msgs, "; "); len(s) <= core.MaxDetailLen {
		return s
	}

	var errs, others []string
	for _, m := range msgs {
		if strings.Contains(strings.ToLower(m), "error") {
			errs = append(errs, m)
		} else {
			others = append(others, m)
		}
	}
	var b strings.Builder
	for _, m := range append(errs, others...) {
		if b.Len() > 0 && b.Len()+2+len(m) <= core.MaxDetailLen {
			b.WriteString("; ")
			b.WriteString(m)
		} else if b.Len() == 0 {
			b.WriteString(m)
		}
	}
	return b.String()
}

// clip cuts s to core.MaxDetailLen bytes on a character boundary.
func clip(s string) string {
	if len(s) <= core.MaxDetailLen {
		return s
	}
	i := core.MaxDetailLen
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i]
}
