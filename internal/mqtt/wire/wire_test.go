package wire

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		topic string
		want  Address
		ok    bool
	}{
		{"ferry/sensor/d1/in/checkin", Address{"sensor", "d1", In, CheckIn}, true},
		{"site/ferry/sensor/d1/out/cmd", Address{}, false}, // under "ferry" only
		{"ferry/sensor/d1/in", Address{}, false},
		{"ferry/sensor/d1/in/checkin/extra", Address{}, false},
		{"ferry//d1/in/checkin", Address{}, false},
		{"ferry/sensor//in/checkin", Address{}, false},
		{"other/sensor/d1/in/checkin", Address{}, false},
	} {
		got, err := Parse("ferry", tc.topic)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v, ok %v", tc.topic, got, err, tc.want, tc.ok)
		}
	}
	if got, err := Parse("site/ferry", "site/ferry/sensor/d1/out/cmd"); err != nil || got.Kind != Cmd {
		t.Errorf("Parse with a two-segment prefix = %+v, %v", got, err)
	}
}

func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		in, problem string
	}{
		{`{"v":"1.0.0"}`, ""},
		{`{"v":"1.0.0","future":1}`, ""},
		{`{"v":"1.0.0"} `, ""},
		{``, "ends too early"},
		{`{"v":1}`, `field "v" must be a string`},
		{`{"v":"1"}{}`, "data after"},
		{`{"v":"1"`, "ends too early"},
		{`nonsense`, "malformed at byte"},
		{strings.Repeat(" ", MaxPayload+1), "at most"},
	} {
		var m CheckInMsg
		err := Decode([]byte(tc.in), &m)
		switch {
		case tc.problem == "" && err != nil:
			t.Errorf("Decode(%.20q) = %v, want no error", tc.in, err)
		case tc.problem != "" && (err == nil || !strings.Contains(err.Error(), tc.problem)):
			t.Errorf("Decode(%.20q) = %v, want an error saying %q", tc.in, err, tc.problem)
		}
	}
}

// publishSize is the bytes of an MQTT 3.1.1 PUBLISH of payload on topic:
// fixed header (type and a remaining length of one or two bytes), topic
// length and topic, a packet id for QoS 1, the payload.
func publishSize(topic string, payload []byte, qos byte) int {
	n := 2 + len(topic) + len(payload)
	if qos > 0 {
		n += 2
	}
	if n > 127 {
		return n + 3
	}
	return n + 2
}

// pubAck is a PUBACK's size: the broker's answer to a QoS 1 PUBLISH.
const pubAck = 4

// TestPayloadSizes measures what a device pays per exchange over MQTT and
// keeps it small; docs/mqtt.md quotes these figures (go test -v -run
// TestPayloadSizes ./internal/mqtt/wire).
func TestPayloadSizes(t *testing.T) {
	sha := strings.Repeat("ab", 32)
	enc := func(v any) []byte {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	in := func(kind string) string { return Topic(DefaultPrefix, "sensor", "d1", In, kind) }
	out := func(kind string) string { return Topic(DefaultPrefix, "sensor", "d1", Out, kind) }

	checkIn := enc(CheckInMsg{Version: "1.0.0"})
	idle := publishSize(in(CheckIn), checkIn, 1) + pubAck + publishSize(out(Poll), []byte("3600"), 0)
	offer := enc(OfferMsg{Update: 1234, Version: "1.1.0", Size: 245760, SHA256: sha, CRC32: "0badcafe",
		URL: "/device/v1/sensor/img/" + sha + "?id=d1", Poll: 300})
	status := enc(StatusMsg{Update: 1234, State: "downloading", Progress: 61440})
	cmd := enc(CommandMsg{ID: 42, Name: "set-poll-interval", Payload: "90s"})
	ack := enc(AckMsg{ID: 42, OK: true})

	for _, tc := range []struct {
		what  string
		bytes int
		max   int
	}{
		{"idle check-in and its poll hint", idle, 100},
		{"offer payload", len(offer), 260},
		{"status report payload", len(status), 50},
		{"command payload", len(cmd), 50},
		{"acknowledgement payload", len(ack), 20},
	} {
		t.Logf("%s: %d bytes", tc.what, tc.bytes)
		if tc.bytes > tc.max {
			t.Errorf("%s: %d bytes, want at most %d", tc.what, tc.bytes, tc.max)
		}
	}
}
