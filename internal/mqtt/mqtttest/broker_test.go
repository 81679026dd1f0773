package mqtttest_test

import (
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/ferry-ota/ferry/internal/mqtt/mqtttest"
)

// wait bounds each exchange with the broker; it only ends a hung test.
const wait = 10 * time.Second

// collector subscribes to filter and hands over each message's topic and
// payload as "topic payload".
func collector(t *testing.T, c paho.Client, filter string) <-chan string {
	t.Helper()
	got := make(chan string, 64)
	tok := c.Subscribe(filter, 1, func(_ paho.Client, m paho.Message) {
		got <- m.Topic() + " " + string(m.Payload())
	})
	if !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("subscribe %s: %v", filter, tok.Error())
	}
	return got
}

func publish(t *testing.T, c paho.Client, topic, payload string) {
	t.Helper()
	tok := c.Publish(topic, 1, false, payload)
	if !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("publish %s: %v", topic, tok.Error())
	}
}

// next returns the next message, failing the test if none comes.
func next(t *testing.T, got <-chan string) string {
	t.Helper()
	select {
	case m := <-got:
		return m
	case <-time.After(wait):
		t.Fatal("no message arrived")
		return ""
	}
}

// TestDocumentedACL starts a broker with docs/mosquitto's configuration
// and shows that a device can publish only as itself and read only its
// own topics. Mosquitto drops a refused publish silently (MQTT 3.1.1 has
// no way to say no), so each refused message is followed by an allowed one
// from the same sender: the broker delivers one sender's messages in
// order, so once the allowed one arrives, the refused one never will.
func TestDocumentedACL(t *testing.T) {
	b := mqtttest.Run(t, mqtttest.Options{Users: map[string]string{
		"d1": mqtttest.Password("d1"), "d2": mqtttest.Password("d2"),
	}})
	ferry := b.Connect(t, mqtttest.FerryUser)
	d1 := b.Connect(t, "d1")
	d2 := b.Connect(t, "d2")
	in := collector(t, ferry, "ferry/+/+/in/#")

	t.Run("device publishes only as itself", func(t *testing.T) {
		publish(t, d1, "ferry/sensor/d2/in/status", `{"u":1,"s":"failed"}`)
		publish(t, d1, "ferry/other/d1/in/status", `{"u":1,"s":"failed"}`)
		publish(t, d1, "ferry/sensor/d1/in/status", `{"u":1,"s":"downloading"}`)
		if got, want := next(t, in), `ferry/sensor/d1/in/status {"u":1,"s":"downloading"}`; got != want {
			t.Errorf("Ferry received %q, want only d1's own report %q", got, want)
		}
	})

	t.Run("device reads only its own topics", func(t *testing.T) {
		out1 := collector(t, d1, "ferry/sensor/+/out/#")
		publish(t, ferry, "ferry/sensor/d2/out/cmd", `{"c":7,"n":"reboot"}`)
		publish(t, ferry, "ferry/sensor/d1/out/cmd", `{"c":8,"n":"reboot"}`)
		if got, want := next(t, out1), `ferry/sensor/d1/out/cmd {"c":8,"n":"reboot"}`; got != want {
			t.Errorf("d1 received %q, want only its own command %q", got, want)
		}
	})

	t.Run("device cannot forge Ferry's messages", func(t *testing.T) {
		out2 := collector(t, d2, "ferry/sensor/d2/out/#")
		publish(t, d1, "ferry/sensor/d2/out/offer", `{"u":9,"v":"6.6.6"}`)
		publish(t, ferry, "ferry/sensor/d2/out/poll", "60")
		if got, want := next(t, out2), "ferry/sensor/d2/out/poll 60"; got != want {
			t.Errorf("d2 received %q, want only Ferry's %q", got, want)
		}
	})

	t.Run("logins", func(t *testing.T) {
		for _, tc := range []struct{ name, user, password string }{
			{"anonymous", "", ""},
			{"wrong password", "d1", "guess"},
			{"unknown device", "d3", mqtttest.Password("d3")},
		} {
			if c, err := b.Dial(tc.user, tc.password); err == nil {
				c.Disconnect(0)
				t.Errorf("%s: Dial(%q) succeeded, want the broker to refuse it", tc.name, tc.user)
			}
		}
	})
}
