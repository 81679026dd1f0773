// Package esp adapts the HTTP updater of the ESP8266 and ESP32 Arduino
// cores (httpUpdate) to the update core, so that a sketch written for a
// hand-made PHP update script can point at Ferry unchanged but for its URL.
//
// The updater sends one GET to GET /esp/{product} with headers describing
// the board (x-ESP8266-* or x-ESP32-*: station MAC, free space, the MD5 of
// the running sketch, chip size, SDK version, and the version the sketch
// passes). The answer is 304 when the board runs the release meant for
// it, and 200 with the image, its Content-Length and its MD5 in x-MD5
// otherwise. Every request with an identity is a check-in; the core
// decides. See docs/esp.md.
package esp
