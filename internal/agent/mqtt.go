package agent

import (
	"context"
	"crypto/tls"
	"sync"
	"time"

	"github.com/ferry-ota/ferry/client"
	"github.com/ferry-ota/ferry/internal/mqtt/devlink"
)

// MQTTConfig says how the agent keeps a session with Ferry's broker.
// Images are still downloaded over HTTP from Config.Server.
type MQTTConfig struct {
	// Broker is tcp://HOST:PORT or mqtts://HOST:PORT; user and password
	// in the URL are used when Username is empty.
	Broker string
	// Username defaults to the device id: the broker's ACL keys each
	// device's topics on it.
	Username string
	Password string
	// Prefix is the topics' first segment; default "ferry".
	Prefix string
	// KeepAlive is the MQTT keep-alive; default devlink.DefaultKeepAlive.
	KeepAlive time.Duration
	TLS       *tls.Config
}

// RunMQTT runs the agent over a broker session until ctx ends, then
// returns nil. It checks in when connected and when the poll hint says,
// applies the offers Ferry answers or pushes (downloading over HTTP),
// reports status and acknowledges commands over MQTT.
func (a *Agent) RunMQTT(ctx context.Context, m MQTTConfig) error {
	l, err := devlink.Dial(devlink.Config{
		Broker: m.Broker, Username: m.Username, Password: m.Password, Prefix: m.Prefix,
		Product: a.product, Device: a.device, KeepAlive: m.KeepAlive, TLS: m.TLS,
		RetryMin: a.backoffMin, RetryMax: backoffMax, Logger: a.log,
	})
	if err != nil {
		return err
	}
	defer l.Close()
	a.via = l

	// Commands are answered as they come, even while an update downloads.
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { a.mqttCommands(ctx, l) })

	var pushed *client.CheckInResponse
	var backoff time.Duration
	var wait <-chan time.Time // nil until the first connection
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-l.Connected():
		case r := <-l.Pushed():
			pushed = &r
		case <-a.cmds.checkNow:
		case <-wait:
		}

		poll, err := a.cycleWith(ctx, pushed)
		pushed = nil
		if ctx.Err() != nil {
			return nil
		}
		next := a.nextWait(poll)
		if err != nil {
			backoff = nextBackoff(backoff, a.backoffMin)
			next = backoff
			a.log.Warn("update cycle failed; will retry", keyError, err, "retry_in", next)
		} else {
			backoff = 0
		}
		wait = time.After(next)
	}
}

// mqttCommands runs the commands Ferry sends and acknowledges each over
// MQTT, until ctx ends. A lost acknowledgement is only logged: Ferry sends
// the command again at the next check-in, and it is answered again.
func (a *Agent) mqttCommands(ctx context.Context, l *devlink.Link) {
	for {
		select {
		case <-ctx.Done():
			return
		case c := <-l.Commands():
			ans := a.Execute(ctx, Command{ID: c.ID, Name: c.Name, Payload: c.Payload})
			if err := l.Ack(ctx, c.ID, ans.OK, ans.Result); err != nil && ctx.Err() == nil {
				a.log.Warn("command acknowledgement lost", "command_id", c.ID, keyError, err)
			}
		}
	}
}
