// Package httpkit holds what Ferry's HTTP adapters share: the one mapping
// from core errors to status codes, small fixed-length answers, reading
// credentials, and serving firmware to slow devices without cutting them
// off while they make progress.
package httpkit
