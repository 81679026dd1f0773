package client_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"reflect"
	"testing"
	"time"

	"github.com/ferry-ota/ferry/client"
)

const (
	rolloutJSON = `{"id":3,"product":"p","version":"1.1.0","tags":["eu"],"devices":[],"phases":"1%,100%",` +
		`"phase":0,"state":"paused","reason":"paused by alice: odd","auto_advance":true,"soak":"1h0m0s",` +
		`"success_rate":0.95,"max_concurrent":5,"offers_per_minute":0,"fail_percent":3,"fail_min_finished":20,` +
		`"fail_count":0,"created_by":"alice","created_at":"2025-01-02T03:04:05Z",` +
		`"updated_at":"2025-01-02T03:04:05Z","phase_started_at":"2025-01-02T03:04:05Z"}`
	phaseJSON = `{"label":"1%","reached":true,"selected":4,"pending":1,"states":{"downloading":1},` +
		`"succeeded":1,"failed":1,"reasons":{"boom":1},"success_rate":0.5,"median_seconds":12.5,"bytes_served":9}`
)

func TestRolloutRequests(t *testing.T) {
	soak := 90 * time.Minute
	beta, pin, none := "beta", "1.0.0", ""
	no := false
	poll, zero := 30*time.Minute, time.Duration(0)
	since := time.Date(2025, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600))
	tests := []struct {
		name      string
		status    int
		answer    string
		call      func(ctx context.Context, o *client.Operator) (any, error)
		method    string
		path      string
		query     url.Values
		body      string // JSON; empty for no body
		wantField func(v any) any
		want      any
	}{
		{
			name: "create rollout", status: http.StatusCreated, answer: rolloutJSON,
			call: func(ctx context.Context, o *client.Operator) (any, error) {
				return o.CreateRollout(ctx, client.RolloutOptions{
					Product: "p", Version: "1.1.0", Tags: []string{"eu"}, Phases: "1%,100%", AutoAdvance: true,
					Soak: soak, SuccessRate: 0.95, MaxConcurrent: 5, FailPercent: 3, FailMinFinished: 20,
				})
			},
			method: "POST", path: "/api/v1/products/p/rollouts",
			body: `{"version":"1.1.0","tags":["eu"],"phases":"1%,100%","auto_advance":true,"soak":"1h30m0s",` +
				`"success_rate":0.95,"max_concurrent":5,"fail_percent":3,"fail_min_finished":20}`,
			wantField: func(v any) any { r := v.(client.Rollout); return []any{r.ID, r.Soak, r.State} },
			want:      []any{int64(3), "1h0m0s", "paused"},
		},
		{
			name: "create rollout, least", status: http.StatusCreated, answer: rolloutJSON,
			call: func(ctx context.Context, o *client.Operator) (any, error) {
				return o.CreateRollout(ctx, client.RolloutOptions{Product: "a b", Version: "1.1.0",
					Devices: []string{"d1"}, Channel: "beta", OffersPerMinute: 2, FailCount: 4})
			},
			method: "POST", path: "/api/v1/products/a%20b/rollouts",
			body:      `{"version":"1.1.0","channel":"beta","devices":["d1"],"offers_per_minute":2,"fail_count":4}`,
			wantField: func(v any) any { return v.(client.Rollout).Tags }, want: []string{"eu"},
		},
		{
			name: "rollouts of a product", answer: `{"rollouts":[` + rolloutJSON + `]}`,
			call:   func(ctx context.Context, o *client.Operator) (any, error) { return o.Rollouts(ctx, "p") },
			method: "GET", path: "/api/v1/rollouts", query: url.Values{"product": {"p"}},
			wantField: func(v any) any { return v.([]client.Rollout)[0].CreatedBy }, want: "alice",
		},
		{
			name: "all rollouts", answer: `{"rollouts":[]}`,
			call:   func(ctx context.Context, o *client.Operator) (any, error) { return o.Rollouts(ctx, "") },
			method: "GET", path: "/api/v1/rollouts",
			wantField: func(v any) any { return len(v.([]client.Rollout)) }, want: 0,
		},
		{
			name:   "rollout status",
			answer: rolloutJSON[:len(rolloutJSON)-1] + `,"status":[` + phaseJSON + `],"total":` + phaseJSON + `}`,
			call:   func(ctx context.Context, o *client.Operator) (any, error) { return o.Rollout(ctx, 3) },
			method: "GET", path: "/api/v1/rollouts/3",
			wantField: func(v any) any {
				st := v.(client.RolloutStatus)
				return []any{st.Version, st.Status[0].States["downloading"], st.Total.Reasons["boom"],
					st.Total.MedianSeconds}
			},
			want: []any{"1.1.0", 1, 1, 12.5},
		},
		{
			name: "pause with reason", answer: rolloutJSON,
			call: func(ctx context.Context, o *client.Operator) (any, error) {
				return o.ChangeRollout(ctx, 3, client.ActionPause, "odd")
			},
			method: "POST", path: "/api/v1/rollouts/3/pause", body: `{"reason":"odd"}`,
			wantField: func(v any) any { return v.(client.Rollout).Reason }, want: "paused by alice: odd",
		},
		{
			name: "advance", answer: rolloutJSON,
			call: func(ctx context.Context, o *client.Operator) (any, error) {
				return o.ChangeRollout(ctx, 3, client.ActionAdvance, "")
			},
			method: "POST", path: "/api/v1/rollouts/3/advance", body: `{}`,
			wantField: func(v any) any { return v.(client.Rollout).ID }, want: int64(3),
		},
		{
			name: "configure device", answer: deviceJSON,
			call: func(ctx context.Context, o *client.Operator) (any, error) {
				return o.ConfigureDevice(ctx, "p", "d/1", client.DeviceSettings{
					AddTags: []string{"eu"}, RemoveTags: []string{"old"}, Channel: &beta, Pin: &pin,
					Excluded: &no, Poll: &poll,
				})
			},
			method: "PATCH", path: "/api/v1/products/p/devices/d%2F1",
			body: `{"add_tags":["eu"],"remove_tags":["old"],"channel":"beta","pin":"1.0.0","excluded":false,` +
				`"poll":"30m0s"}`,
			wantField: func(v any) any { return v.(client.DeviceInfo).ID }, want: "d/1",
		},
		{
			name: "unpin device", answer: deviceJSON,
			call: func(ctx context.Context, o *client.Operator) (any, error) {
				return o.ConfigureDevice(ctx, "p", "d1", client.DeviceSettings{Pin: &none, Poll: &zero})
			},
			method: "PATCH", path: "/api/v1/products/p/devices/d1", body: `{"pin":"","poll":"0s"}`,
			wantField: func(v any) any { return v.(client.DeviceInfo).Product }, want: "p",
		},
		{
			name:   "configure product",
			answer: `{"name":"p","access":"public","created_at":"2025-01-02T03:04:05Z","poll_idle":"2h0m0s"}`,
			call: func(ctx context.Context, o *client.Operator) (any, error) {
				idle := 2 * time.Hour
				return o.ConfigureProduct(ctx, "p", client.ProductSettings{PollIdle: &idle})
			},
			method: "PATCH", path: "/api/v1/products/p", body: `{"poll_idle":"2h0m0s"}`,
			wantField: func(v any) any { return v.(client.Product).PollIdle }, want: "2h0m0s",
		},
		{
			name: "set webhook", answer: `{"url":"https://127.0.0.1/x","secret":"fwh_s"}`,
			call: func(ctx context.Context, o *client.Operator) (any, error) {
				return o.SetWebhook(ctx, "p", "https://127.0.0.1/x", "")
			},
			method: "PUT", path: "/api/v1/products/p/webhook", body: `{"url":"https://127.0.0.1/x"}`,
			wantField: func(v any) any { return v.(client.Webhook).Secret }, want: "fwh_s",
		},
		{
			name: "remove webhook", status: http.StatusNoContent,
			call: func(ctx context.Context, o *client.Operator) (any, error) {
				return nil, o.RemoveWebhook(ctx, "p")
			},
			method: "DELETE", path: "/api/v1/products/p/webhook",
			wantField: func(v any) any { return v }, want: nil,
		},
		{
			name: "deliveries",
			answer: `{"deliveries":[{"id":9,"event":"update.failed","attempts":2,"next_at":"2025-01-02T03:04:05Z",` +
				`"last_error":"502","created_at":"2025-01-02T03:04:05Z"}]}`,
			call: func(ctx context.Context, o *client.Operator) (any, error) {
				return o.Deliveries(ctx, "p", 10)
			},
			method: "GET", path: "/api/v1/products/p/webhook/deliveries", query: url.Values{"limit": {"10"}},
			wantField: func(v any) any {
				d := v.([]client.Delivery)[0]
				return []any{d.Event, d.Attempts, d.DeliveredAt.IsZero()}
			},
			want: []any{"update.failed", 2, true},
		},
		{
			name: "audit",
			answer: `{"entries":[{"id":1,"at":"2025-01-02T03:04:05Z","actor":"alice","action":"rollout.pause",` +
				`"product":"p","object":"3","detail":{"reason":"odd"}}]}`,
			call: func(ctx context.Context, o *client.Operator) (any, error) {
				return o.Audit(ctx, client.AuditQuery{Product: "p", Since: since, Limit: 5})
			},
			method: "GET", path: "/api/v1/audit",
			query: url.Values{"product": {"p"}, "since": {"2025-01-02T02:04:05Z"}, "limit": {"5"}},
			wantField: func(v any) any {
				e := v.([]client.AuditEntry)[0]
				return []any{e.Actor, string(e.Detail)}
			},
			want: []any{"alice", `{"reason":"odd"}`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status := tt.status
			if status == 0 {
				status = http.StatusOK
			}
			rec := newRecorder(t, status, tt.answer)
			o := client.NewOperator(rec.srv.URL, "sekrit", nil)

			got, err := tt.call(t.Context(), o)
			if err != nil {
				t.Fatalf("call: %v", err)
			}
			if f := tt.wantField(got); !reflect.DeepEqual(f, tt.want) {
				t.Errorf("decoded field = %#v, want %#v", f, tt.want)
			}

			req := rec.only(t)
			if req.Method != tt.method || req.Path != tt.path {
				t.Errorf("request = %s %s, want %s %s", req.Method, req.Path, tt.method, tt.path)
			}
			if (len(req.Query) > 0 || len(tt.query) > 0) && !reflect.DeepEqual(req.Query, tt.query) {
				t.Errorf("query = %v, want %v", req.Query, tt.query)
			}
			if tt.body == "" && len(req.Body) != 0 {
				t.Errorf("body = %q, want none", req.Body)
			}
			if tt.body != "" && !jsonEqual(t, req.Body, tt.body) {
				t.Errorf("body = %s, want %s", req.Body, tt.body)
			}
		})
	}
}

func TestRolloutArgumentsCheckedLocally(t *testing.T) {
	rec := newRecorder(t, http.StatusOK, "{}")
	o := client.NewOperator(rec.srv.URL, "t", nil)
	if _, err := o.CreateRollout(t.Context(), client.RolloutOptions{Product: "p"}); err == nil {
		t.Error("CreateRollout without a version = nil error, want one")
	}
	if _, err := o.ChangeRollout(t.Context(), 3, "explode", ""); err == nil {
		t.Error(`ChangeRollout(3, "explode") = nil error, want one`)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.reqs) != 0 {
		t.Errorf("server saw %d requests, want none", len(rec.reqs))
	}
}

func TestChangeRolloutConflict(t *testing.T) {
	rec := newRecorder(t, http.StatusConflict, `{"error":"rollout 3 is paused, not running"}`)
	o := client.NewOperator(rec.srv.URL, "t", nil)
	_, err := o.ChangeRollout(t.Context(), 3, client.ActionPause, "")
	var ce *client.Error
	if !errors.As(err, &ce) || ce.Status != http.StatusConflict {
		t.Errorf("ChangeRollout of a paused rollout = %v, want a 409 *client.Error", err)
	}
}
