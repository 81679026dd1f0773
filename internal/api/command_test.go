package api_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ferry-ota/ferry/internal/core"
)

type commandJSON struct {
	ID            int64  `json:"id"`
	Product       string `json:"product"`
	Device        string `json:"device"`
	Name          string `json:"name"`
	Payload       string `json:"payload"`
	State         string `json:"state"`
	CreatedBy     string `json:"created_by"`
	Result        string `json:"result"`
	ResultPayload string `json:"result_payload"`
	History       []struct {
		Kind   string `json:"kind"`
		Detail string `json:"detail"`
	} `json:"history"`
}

const commandsPath = "/api/v1/products/p/devices/d1/commands"

func (a *testAPI) queueCommand(t *testing.T, body string) commandJSON {
	t.Helper()
	var c commandJSON
	decodeJSON(t, a.must(t, "POST", commandsPath, body, http.StatusCreated), &c)
	return c
}

func TestCommands(t *testing.T) {
	a := newTestAPI(t)
	c := a.queueCommand(t, `{"name":"set-poll-interval","payload":"2m","expires":"1h","urgent":true}`)
	if c.Device != "d1" || c.Product != "p" || c.Payload != "120s" || c.State != "queued" || c.CreatedBy != "alice" {
		t.Errorf("POST %s = %+v, want queued set-poll-interval 120s for d1 by alice", commandsPath, c)
	}
	other := a.queueCommand(t, `{"name":"reboot"}`)

	var list []commandJSON
	decodeJSON(t, a.must(t, "GET", commandsPath, "", http.StatusOK), &list)
	if len(list) != 2 || list[0].ID != other.ID || list[1].ID != c.ID {
		t.Errorf("GET %s = %+v, want %d then %d", commandsPath, list, other.ID, c.ID)
	}

	p, err := a.svc.Product(t.Context(), "p")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.svc.AckCommand(t.Context(), p, "d1", c.ID, true, "set"); err != nil {
		t.Fatal(err)
	}
	var got commandJSON
	path := commandsPath + "/" + strconv.FormatInt(c.ID, 10)
	decodeJSON(t, a.must(t, "GET", path+"?wait=30s", "", http.StatusOK), &got)
	if got.State != "acknowledged" || got.Result != "ok" || got.ResultPayload != "set" || len(got.History) != 2 {
		t.Errorf("GET %s = %+v, want acknowledged ok: set with two history entries", path, got)
	}

	cancel := commandsPath + "/" + strconv.FormatInt(other.ID, 10) + "/cancel"
	decodeJSON(t, a.must(t, "POST", cancel, "", http.StatusOK), &got)
	if got.State != "canceled" {
		t.Errorf("POST %s = %+v, want canceled", cancel, got)
	}
	a.must(t, "POST", cancel, "", http.StatusConflict)
}

// TestCommandWaitAnswered holds a read with wait and answers the command
// meanwhile: the read returns the answer.
func TestCommandWaitAnswered(t *testing.T) {
	a := newTestAPI(t)
	c := a.queueCommand(t, `{"name":"reboot"}`)
	p, err := a.svc.Product(t.Context(), "p")
	if err != nil {
		t.Fatal(err)
	}
	hub := a.svc.Hub()
	go func() {
		// Answer once the read waits for it.
		for hub.AckWaiters(c.ID) == 0 {
			time.Sleep(time.Millisecond)
		}
		_, _ = a.svc.AckCommand(t.Context(), p, "d1", c.ID, false, "no power")
	}()
	var got commandJSON
	path := commandsPath + "/" + strconv.FormatInt(c.ID, 10) + "?wait=5m"
	decodeJSON(t, a.must(t, "GET", path, "", http.StatusOK), &got)
	if got.State != "failed" || got.ResultPayload != "no power" {
		t.Errorf("GET %s = %+v, want failed: no power", path, got)
	}
}

func TestCommandsBadInput(t *testing.T) {
	a := newTestAPI(t)
	c := a.queueCommand(t, `{"name":"reboot"}`)
	id := strconv.FormatInt(c.ID, 10)
	tests := []struct {
		name, method, path, body string
		want                     int
	}{
		{"bad name", "POST", commandsPath, `{"name":"Reboot!"}`, http.StatusBadRequest},
		{"no name", "POST", commandsPath, `{}`, http.StatusBadRequest},
		{"unknown field", "POST", commandsPath, `{"name":"x","when":"now"}`, http.StatusBadRequest},
		{"oversized payload", "POST", commandsPath, `{"name":"x","payload":"` + strings.Repeat("a", 1025) + `"}`,
			http.StatusBadRequest},
		{"newline payload", "POST", commandsPath, `{"name":"x","payload":"a\nb"}`, http.StatusBadRequest},
		{"bad expiry", "POST", commandsPath, `{"name":"x","expires":"soon"}`, http.StatusBadRequest},
		{"short expiry", "POST", commandsPath, `{"name":"x","expires":"1s"}`, http.StatusBadRequest},
		{"bad poll payload", "POST", commandsPath, `{"name":"set-poll-interval","payload":"fast"}`,
			http.StatusBadRequest},
		{"unknown device", "POST", "/api/v1/products/p/devices/d9/commands", `{"name":"x"}`, http.StatusNotFound},
		{"unknown product", "POST", "/api/v1/products/q/devices/d1/commands", `{"name":"x"}`, http.StatusNotFound},
		{"unknown id", "GET", commandsPath + "/999", "", http.StatusNotFound},
		{"bad id", "GET", commandsPath + "/x", "", http.StatusBadRequest},
		{"negative id", "GET", commandsPath + "/-1", "", http.StatusBadRequest},
		{"other device's id", "GET", "/api/v1/products/p/devices/d2/commands/" + id, "", http.StatusNotFound},
		{"bad wait", "GET", commandsPath + "/" + id + "?wait=forever", "", http.StatusBadRequest},
		{"long wait", "GET", commandsPath + "/" + id + "?wait=1h", "", http.StatusBadRequest},
		{"negative wait", "GET", commandsPath + "/" + id + "?wait=-1s", "", http.StatusBadRequest},
		{"cancel other device's", "POST", "/api/v1/products/p/devices/d2/commands/" + id + "/cancel", "",
			http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if status, b := a.call(t, a.token, tt.method, tt.path, tt.body); status != tt.want {
				t.Errorf("%s %s %s = %d %s, want %d", tt.method, tt.path, tt.body, status, b, tt.want)
			}
		})
	}
	var list []commandJSON
	decodeJSON(t, a.must(t, "GET", commandsPath, "", http.StatusOK), &list)
	if len(list) != 1 || list[0].State != "queued" {
		t.Errorf("GET %s after bad requests = %+v, want only the first command, still queued", commandsPath, list)
	}
}

func TestCommandRoles(t *testing.T) {
	a := newTestAPI(t)
	viewer, _, err := a.svc.CreateToken(t.Context(), "vic", core.RoleViewer)
	if err != nil {
		t.Fatal(err)
	}
	publisher, _, err := a.svc.CreateToken(t.Context(), "pat", core.RolePublisher)
	if err != nil {
		t.Fatal(err)
	}
	if status, b := a.call(t, viewer, "POST", commandsPath, `{"name":"reboot"}`); status != http.StatusForbidden {
		t.Errorf("viewer POST %s = %d %s, want 403", commandsPath, status, b)
	}
	if status, b := a.call(t, publisher, "POST", commandsPath, `{"name":"reboot"}`); status != http.StatusCreated {
		t.Errorf("publisher POST %s = %d %s, want 201", commandsPath, status, b)
	}
	if status, b := a.call(t, viewer, "GET", commandsPath, ""); status != http.StatusOK {
		t.Errorf("viewer GET %s = %d %s, want 200", commandsPath, status, b)
	}
}
