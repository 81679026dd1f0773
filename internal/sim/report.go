package sim

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dustin/go-humanize"

	"github.com/ferry-ota/ferry/client"
	"github.com/ferry-ota/ferry/internal/version"
)

// maxStatus bounds the HTTP statuses counted one by one; index 0 counts
// requests that got no answer at all.
const maxStatus = 600

// counters is what the fleet did so far.
type counters struct {
	checkIns   atomic.Int64
	offers     atomic.Int64
	succeeded  atomic.Int64
	failed     atomic.Int64
	rolledBack atomic.Int64
	silent     atomic.Int64
	corrupt    atomic.Int64
	cuts       atomic.Int64
	bytes      atomic.Int64
	sessions   atomic.Int64 // MQTT devices that connected
	acks       atomic.Int64 // commands answered over MQTT
	httpAcks   atomic.Int64 // commands answered over the native or plain protocol
	status     [maxStatus]atomic.Int64

	// The first message seen for each status, so a report can say why
	// (a wrong product, a missing token) and not just how often.
	mu    sync.Mutex
	first map[int]string
}

func (c *counters) countError(err error) {
	status := 0
	var ce *client.Error
	if errors.As(err, &ce) && ce.Status > 0 && ce.Status < maxStatus {
		status = ce.Status
	}
	c.status[status].Add(1)

	c.mu.Lock()
	defer c.mu.Unlock()
	if c.first == nil {
		c.first = make(map[int]string)
	}
	if _, ok := c.first[status]; !ok {
		c.first[status] = err.Error()
	}
}

func (c *counters) errors() int64 {
	var n int64
	for i := range c.status {
		n += c.status[i].Load()
	}
	return n
}

// changes sums the counters that move when the fleet makes progress.
func (c *counters) changes() int64 {
	return c.offers.Load() + c.succeeded.Load() + c.failed.Load() + c.rolledBack.Load() +
		c.silent.Load() + c.corrupt.Load()
}

// Report is what a run did. Counts of offers and outcomes are the sim's
// own; when no request failed they equal the server's records.
type Report struct {
	Devices int `json:"devices"`
	Plain   int `json:"plain_devices"`
	ESP     int `json:"esp_devices"`
	// MQTT counts the devices that kept a broker session; Acks the
	// commands they answered.
	MQTT int64 `json:"mqtt_devices"`
	Acks int64 `json:"mqtt_acks"`
	// HTTPAcks counts the commands devices answered over HTTP, native or
	// plain.
	HTTPAcks     int64   `json:"http_acks"`
	Ended        string  `json:"ended"` // settled, duration reached, or interrupted
	Seconds      float64 `json:"elapsed_seconds"`
	CheckIns     int64   `json:"check_ins"`
	CheckInsRate float64 `json:"check_ins_per_second"`
	Offers       int64   `json:"offers"`
	Succeeded    int64   `json:"succeeded"`
	// Failed counts install failures the devices reported; RolledBack the
	// check-ins on the old version after installing; Silent the devices
	// that went silent; Corrupt the downloads whose check failed.
	Failed     int64 `json:"failed"`
	RolledBack int64 `json:"rolled_back"`
	Silent     int64 `json:"silent"`
	Corrupt    int64 `json:"corrupt"`
	Cuts       int64 `json:"downloads_cut"`
	Bytes      int64 `json:"bytes_downloaded"`
	// BytesPerDevice is Bytes over all devices.
	BytesPerDevice float64 `json:"bytes_per_device"`
	// Errors counts failed requests by HTTP status; "none" are requests
	// that got no answer. ErrorSamples holds the first message of each.
	Errors       map[string]int64  `json:"http_errors"`
	ErrorSamples map[string]string `json:"http_error_samples,omitempty"`
	// Versions counts the devices by the version they run at the end.
	Versions map[string]int `json:"versions"`
}

func (s *Sim) finalReport(elapsed time.Duration, cause error) Report {
	r := Report{
		Devices:    len(s.devices),
		Ended:      "interrupted",
		Seconds:    elapsed.Seconds(),
		CheckIns:   s.c.checkIns.Load(),
		Offers:     s.c.offers.Load(),
		Succeeded:  s.c.succeeded.Load(),
		Failed:     s.c.failed.Load(),
		RolledBack: s.c.rolledBack.Load(),
		Silent:     s.c.silent.Load(),
		Corrupt:    s.c.corrupt.Load(),
		Cuts:       s.c.cuts.Load(),
		Bytes:      s.c.bytes.Load(),
		MQTT:       s.c.sessions.Load(),
		Acks:       s.c.acks.Load(),
		HTTPAcks:   s.c.httpAcks.Load(),
		Errors:     make(map[string]int64),
		Versions:   make(map[string]int),
	}
	if errors.Is(cause, errSettled) || errors.Is(cause, errDuration) {
		r.Ended = cause.Error()
	}
	if r.Seconds > 0 {
		r.CheckInsRate = float64(r.CheckIns) / r.Seconds
	}
	r.BytesPerDevice = float64(r.Bytes) / float64(r.Devices)

	for _, d := range s.devices {
		r.Versions[d.running()]++
		if d.plain {
			r.Plain++
		}
		if d.esp {
			r.ESP++
		}
	}
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	for i := range s.c.status {
		if n := s.c.status[i].Load(); n > 0 {
			if r.ErrorSamples == nil {
				r.ErrorSamples = make(map[string]string)
			}
			r.Errors[statusKey(i)] = n
			r.ErrorSamples[statusKey(i)] = s.c.first[i]
		}
	}
	return r
}

func statusKey(status int) string {
	if status == 0 {
		return "none"
	}
	return strconv.Itoa(status)
}

// WriteText writes r for people.
func (r Report) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "devices          %d (%d plain, %d esp, %d native)\n", r.Devices, r.Plain, r.ESP,
		r.Devices-r.Plain-r.ESP)
	if r.MQTT > 0 {
		fmt.Fprintf(&b, "mqtt sessions    %d, %d commands answered\n", r.MQTT, r.Acks)
	}
	if r.HTTPAcks > 0 {
		fmt.Fprintf(&b, "http commands    %d answered\n", r.HTTPAcks)
	}
	elapsed := time.Duration(r.Seconds * float64(time.Second)).Round(time.Millisecond)
	fmt.Fprintf(&b, "ended            %s after %s\n", r.Ended, elapsed)
	fmt.Fprintf(&b, "check-ins        %d (%.1f/s)\n", r.CheckIns, r.CheckInsRate)
	fmt.Fprintf(&b, "offers           %d\n", r.Offers)
	fmt.Fprintf(&b, "updates          %d succeeded, %d failed, %d rolled back, %d silent, %d corrupt\n",
		r.Succeeded, r.Failed, r.RolledBack, r.Silent, r.Corrupt)
	fmt.Fprintf(&b, "downloads cut    %d\n", r.Cuts)
	fmt.Fprintf(&b, "downloaded       %s (%d bytes), %s per device\n",
		humanize.IBytes(uint64(r.Bytes)), r.Bytes, humanize.IBytes(uint64(r.BytesPerDevice)))

	if len(r.Errors) == 0 {
		b.WriteString("http errors      none\n")
	} else {
		b.WriteString("http errors\n")
		for _, k := range slices.Sorted(maps.Keys(r.Errors)) {
			fmt.Fprintf(&b, "  %-6s %8d  first: %s\n", k, r.Errors[k], r.ErrorSamples[k])
		}
	}

	b.WriteString("versions\n")
	for _, v := range sortVersions(r.Versions) {
		n := r.Versions[v]
		bar := strings.Repeat("#", (n*40+r.Devices-1)/r.Devices)
		fmt.Fprintf(&b, "  %-12s %6d  %s\n", v, n, bar)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// sortVersions returns the keys of m, newest version first.
func sortVersions(m map[string]int) []string {
	keys := slices.Collect(maps.Keys(m))
	slices.SortFunc(keys, func(a, b string) int {
		va, errA := version.Parse(a)
		vb, errB := version.Parse(b)
		if errA != nil || errB != nil {
			return strings.Compare(a, b)
		}
		return version.Compare(vb, va)
	})
	return keys
}
