// Package mqtt serves devices that keep a session with an MQTT broker:
// Ferry connects to the broker as a client, reads what devices publish
// (check-ins, status reports, command acknowledgements, presence) and
// publishes offers, commands and poll hints to them. It is an adapter: it
// calls core.Service as the native HTTP adapter does and holds no update
// rules. Firmware itself is downloaded over HTTP with Range, never over
// MQTT; offers carry its URL.
//
// Topics and payloads are in package wire and docs/mqtt.md. The broker
// authenticates devices and its ACL keeps each to its own topics, so the
// device segment of a topic is trusted as the device's identity; products
// that require device credentials are served only when Config.Trust names
// them (the operator's statement that the broker is configured so).
//
// Devices announce presence with a retained "1" on their online topic and
// a last will of "0". A present device is registered with the core's hub,
// so nudges know it can be reached, and Ferry pushes to it when the core
// wakes it: open commands and the current decision for a device wake,
// the current decision for each present device of a product on a
// product-wide wake.
package mqtt
