package mqtt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"net/url"
	"strconv"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/ferry-ota/ferry/internal/core"
	"github.com/ferry-ota/ferry/internal/mqtt/wire"
	"github.com/ferry-ota/ferry/internal/native"
)

// job is one device message, or a push to a device (msg nil).
type job struct {
	addr wire.Address
	msg  paho.Message
	push int64 // device ID to push to when msg is nil
}

// handleTimeout bounds the core's work on one message.
const handleTimeout = 30 * time.Second

// receive takes a message from the broker and queues it on its device's
// worker, so one device's messages are handled in the order sent.
func (a *Adapter) receive(_ paho.Client, m paho.Message) {
	addr, err := wire.Parse(a.cfg.Prefix, m.Topic())
	if err != nil || addr.Dir != wire.In {
		a.log.Debug("mqtt message dropped", "topic", m.Topic(), "reason", "not a device topic")
		m.Ack()
		return
	}
	k := key(addr.Product, addr.Device)
	if !a.limit.allow(k) {
		// Debug, not Warn: a flood must not flood the log too.
		a.log.Debug("mqtt message dropped", "product", clip(addr.Product), "device_id", clip(addr.Device),
			"reason", "over the device's rate limit")
		m.Ack()
		return
	}
	select {
	case a.queues[shard(k, len(a.queues))] <- job{addr: addr, msg: m}:
	case <-a.done:
		// Stopping: left unacknowledged, the broker delivers it again to
		// Ferry's session next time.
	}
}

// shard picks a worker for a device.
func shard(key string, n int) int {
	h := fnv.New32a()
	h.Write([]byte(key))
	return int(h.Sum32() % uint32(n))
}

// work handles one worker's jobs until ctx ends.
func (a *Adapter) work(ctx context.Context, q <-chan job) {
	for {
		select {
		case <-ctx.Done():
			return
		case j := <-q:
			if j.msg == nil {
				a.push(ctx, j.push)
				continue
			}
			a.handle(ctx, j.addr, j.msg.Payload())
			// Acknowledged once handled, whatever the outcome: a message
			// that was refused would be refused again.
			j.msg.Ack()
		}
	}
}

// errDrop marks a message dropped for its shape: logged, nothing stored.
var errDrop = errors.New("dropped")

// handle dispatches one device message and logs what became of it.
func (a *Adapter) handle(ctx context.Context, addr wire.Address, payload []byte) {
	ctx, cancel := context.WithTimeout(ctx, handleTimeout)
	defer cancel()
	log := a.log.With("product", addr.Product, "device_id", addr.Device, "kind", addr.Kind)
	err := a.dispatch(ctx, addr, payload)
	switch {
	case err == nil:
		log.Debug("mqtt message handled", "bytes", len(payload))
	case errors.Is(err, errDrop), errors.Is(err, core.ErrInvalid), errors.Is(err, core.ErrNotFound),
		errors.Is(err, core.ErrState), errors.Is(err, core.ErrConflict), errors.Is(err, core.ErrTooLarge):
		// A device's mistake, or a hostile payload: nothing was stored.
		log.Warn("mqtt message dropped", "reason", err.Error())
	case ctx.Err() != nil && errors.Is(err, context.Canceled):
		log.Debug("mqtt message abandoned at shutdown", "error", err)
	default:
		log.Error("mqtt message failed", "error", err)
	}
}

func (a *Adapter) dispatch(ctx context.Context, addr wire.Address, payload []byte) error {
	if err := core.ValidateDeviceID(addr.Device); err != nil {
		return fmt.Errorf("%w: %w", errDrop, err)
	}
	p, err := a.svc.Product(ctx, addr.Product)
	if err != nil {
		return err
	}
	if !a.trusted(p) {
		return fmt.Errorf("%w: product %s needs device credentials and is not trusted over MQTT (--mqtt-trust)",
			errDrop, p.Name)
	}

	switch addr.Kind {
	case wire.CheckIn:
		return a.checkIn(ctx, p, addr.Device, payload)
	case wire.Status:
		return a.status(ctx, p, addr.Device, payload)
	case wire.Ack:
		return a.ack(ctx, p, addr.Device, payload)
	case wire.Online:
		return a.presence(ctx, p, addr.Device, payload)
	}
	return fmt.Errorf("%w: unknown topic kind %q", errDrop, clip(addr.Kind))
}

// decode parses a payload, marking a malformed one as dropped.
func decode(payload []byte, v any) error {
	if err := wire.Decode(payload, v); err != nil {
		return fmt.Errorf("%w: %w", errDrop, err)
	}
	return nil
}

// checkIn records a check-in and answers it with an offer or a poll hint,
// then with the device's open commands.
func (a *Adapter) checkIn(ctx context.Context, p core.Product, device string, payload []byte) error {
	var in wire.CheckInMsg
	if len(payload) > 0 { // an empty check-in is allowed: "running what I said last"
		if err := decode(payload, &in); err != nil {
			return err
		}
	}
	dec, err := a.svc.CheckIn(ctx, p, core.CheckIn{
		Device: device, Version: in.Version, ImageSHA256: in.SHA256, Counter: in.Counter,
		Attributes: in.Attrs, Protocol: Protocol,
	})
	if err != nil {
		return err
	}
	s := a.seen(p, device, dec.Device.ID)
	a.answer(p, device, dec, s, true)
	return a.sendCommands(ctx, p, device, s, true)
}

// answer publishes a decision: the offer, or else the poll hint. A wake
// (always false) sends only an offer the session has not seen.
func (a *Adapter) answer(p core.Product, device string, dec core.Decision, s *session, always bool) {
	poll := int64(dec.Poll / time.Second)
	if dec.Update == nil {
		if always {
			a.publish(p.Name, device, wire.Poll, 0, []byte(strconv.FormatInt(poll, 10)))
		}
		return
	}
	if !always && s != nil && !s.newOffer(dec.Update.ID) {
		return
	}
	if always && s != nil {
		s.newOffer(dec.Update.ID)
	}
	rel := dec.Release
	msg := wire.OfferMsg{
		Update: dec.Update.ID, Version: rel.Version, Size: rel.Size, SHA256: rel.SHA256,
		CRC32: fmt.Sprintf("%08x", rel.CRC32), URL: a.imageURL(p.Name, rel.SHA256, device),
		Counter: rel.Counter, Manifest: rel.Manifest, Sig: rel.Signature, Poll: poll,
	}
	b, err := json.Marshal(msg)
	if err != nil {
		a.log.Error("encode offer", "error", err)
		return
	}
	a.publish(p.Name, device, wire.Offer, 1, b)
}

// imageURL is where the device downloads an image, with its id so the
// bytes are counted.
func (a *Adapter) imageURL(product, sha, device string) string {
	return a.cfg.ImageBase + native.ImageURL(product, sha) + "?id=" + url.QueryEscape(device)
}

// status records a status report under the native protocol's rules.
func (a *Adapter) status(ctx context.Context, p core.Product, device string, payload []byte) error {
	var in wire.StatusMsg
	if err := decode(payload, &in); err != nil {
		return err
	}
	if in.Update < 0 {
		return fmt.Errorf("%w: update id %d is negative", errDrop, in.Update)
	}
	_, err := a.svc.Report(ctx, p, core.Report{
		Device: device, UpdateID: in.Update, State: in.State, Progress: in.Progress, Detail: in.Detail,
		Protocol: Protocol,
	})
	return err
}

// clip keeps hostile input from bloating logs.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
